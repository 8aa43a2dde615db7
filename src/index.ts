/**
 * Riptide's public API: the topology DSL (Kafka Streams' names), its test driver, and the engine's
 * schemas. `import { StreamsBuilder, TimeWindows, TopologyTestDriver } from "riptide"`.
 */
export {
  StreamsBuilder, KStream, KTable, GlobalKTable, KGroupedStream, TimeWindowedKStream, SessionWindowedKStream, BranchedKStream, Branched,
  DEFAULT_LATE_TOPIC, DEFAULT_FLAGGED_TOPIC, INVALID_TOPIC, type StreamOptions,
} from "./dsl/builder.js";
export { TimeWindows, SlidingWindows, SessionWindows, JoinWindows, EmitStrategy, Suppressed, Windowed, type Window } from "./dsl/windows.js";
export { Topology, type PlanNode, type KeyValue, type AggregateOptions, type BuiltinOp } from "./dsl/plan.js";
export { TopologyExecutor, ERROR_TOPIC, type Emit, type ExecutorOptions, type StoreReport, type LateRecord } from "./dsl/executor.js";
export { StateStoreFullError, TopologyError } from "./dsl/errors.js";
export { StreamTimeTracker, type TimeOptions } from "./dsl/time.js";
export { TopologyTestDriver, TestInputTopic, TestOutputTopic, type TestRecord, type TestDriverOptions } from "./dsl/test-driver.js";
export { Geo } from "./dsl/geo.js";
export { Fields } from "./dsl/columns.js";
export {
  Stores, PerKeyStoreSpec, type KeyState, type ProcessorContext, type ValueProcessor, type FlaggedRecord, type ProcessValuesOptions, type PerKeyFieldType,
} from "./dsl/per-key-store.js";
export { defineSchema, type Schema, type FieldType } from "./schema/schema.js";
export { RiptideError } from "./errors.js";
