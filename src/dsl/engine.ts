/**
 * A DSL topology on the worker engine (main-thread half). The topology is a module that every
 * thread imports (functions cannot cross threads): this thread reads its shape and turns it into a
 * PipelineDefinition for the existing Coordinator; each shard worker imports the same module and
 * runs it with the TopologyExecutor (engine-shard.ts), the executor the TopologyTestDriver runs.
 *
 *   source ─► edge kernel (event time from the schema's timestamp field, stream time, watermark,
 *             invalid records) ─► input rings, sharded by the key field ─► worker: executor per shard
 *             ─► window results / late / invalid through the output rings ─► sink
 *
 * Two forms. This file's typed form: one stream source with a schema, its key and timestamp given
 * as field names; stateless operators that keep the key (filter, filterNot, peek, mapValues,
 * flatMapValues); groupByKey(); one windowed aggregation (time, sliding or session windows) whose
 * values are numbers; toStream(); to(topic) — window results through the typed output records, and
 * groupBy(new key) into count/sum/min/max/mean as per-worker partials merged at close. Of these, a
 * straight chain of filters, groupByKey/groupBy and one built-in aggregate on time windows runs in
 * the shards as a columnar plan per batch (batch-plan.ts), with the record-at-a-time outputs. Every other
 * topology that keeps its keys (several topics, tables, stream-table and stream-stream joins,
 * several outputs, values of any shape) runs in the general form (engine-objects.ts). Re-keying
 * (map, flatMap, selectKey, groupBy into anything else) before an aggregation or a join runs there
 * too, its records moved to the shard of their new key (repartition.ts); with state per partition
 * (`taskState`, `repartitionTopic`) they go through a Kafka topic per edge, as they may cross
 * processes.
 */
import { resolve } from "node:path";
import { Coordinator, type CoordinatorOptions, type RunSummary } from "../coordinator/coordinator.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { OUT_INVALID, OUT_LATE, type OutputColumns } from "../ring/output.js";
import { compileLayout, type ColumnArray, type Schema } from "../schema/schema.js";
import { NullSink, type Output, type Sink } from "../sinks/sink.js";
import { JsonLinesFileSource } from "../sources/file-source.js";
import { compileJsonDecoder, type JsonDecoder } from "../sources/json.js";
import type { Source } from "../sources/source.js";
import { TopologyError } from "./errors.js";
import type { PlanNode, Topology } from "./plan.js";
import { createStringTable, mirrorStrings, SharedInterner } from "./shared-strings.js";
import { Interner } from "../schema/interner.js";
import { DSL_BAD_TIMESTAMP, DSL_NO_KEY, loadTopology, NUMERIC_KEY, REASONS } from "./engine-common.js";
import { inputIndex, objectPipeline, objectShape, repartitionDecoder, TaggedSource, type ObjectShape } from "./engine-objects.js";
import type { MessageDecoder } from "../sources/kafka-source.js";
import { MultiSource } from "../sources/multi-source.js";

export { DSL_BAD_TIMESTAMP, DSL_NO_KEY, DSL_NOT_A_NUMBER, DSL_USER_ERROR, loadTopology } from "./engine-common.js";

/** What the engine needs to know of a topology. */
export interface EngineShape {
  topic: string;
  schema: Schema;
  keyField: string;
  timestampField: string;
  sinkTopic: string;
  lateTopic: string;
  /** Window size and grace used to merge shard results (time windows; 0 otherwise). */
  sizeMs: number;
  graceMs: number;
  /** True when no user function runs before the aggregate: records are read without an object per record. */
  typedOnly: boolean;
  nodes: number;
  /**
   * groupBy(new key) into a built-in aggregate on time windows: each shard aggregates the records it
   * holds by the new key and sends its partial at window close; the coordinator merges the partials
   * of all shards (count, sum, min, max and mean merge exactly) instead of repartitioning records.
   */
  partialsOf: "count" | "sum" | "min" | "max" | "mean" | undefined;
  /** The flagged topics of processValues steps (before the aggregate, on the source key): output codes 1… of OUT_OBJECT records. */
  sideTopics: string[];
}

const ENGINE_STATELESS = new Set(["filter", "peek", "mapValues", "flatMapValues", "toStream"]);

/** Checks that a topology can run on the worker engine; the error names the node that cannot. */
export function engineShape(topology: Topology): EngineShape {
  const nodes = topology.nodes;
  const sources = nodes.filter((n) => n.kind === "source") as Extract<PlanNode, { kind: "source" }>[];
  const refuse = (why: string): never => {
    throw new TopologyError(`this topology cannot run on the worker engine yet: ${why} (it runs in the TopologyTestDriver)`);
  };
  if (sources.length !== 1 || sources[0]!.topics.length !== 1) refuse("it needs exactly one stream source of one topic");
  const src = sources[0]!;
  if (!src.schema) refuse(`builder.stream(${JSON.stringify(src.topics[0])}) needs { schema } (defineSchema) for the record layout`);
  if (!src.keyField) refuse("the source needs { key: \"<field>\" }: records are sharded by that field");
  if (!src.timestampField) refuse("the source needs { timestamp: \"<field>\" }: event time is read where records enter");
  const field = (name: string) => src.schema!.fields.find((f) => f.name === name);
  const k = field(src.keyField!);
  if (!k || (k.type !== "string" && k.type !== "u32")) refuse(`the key field ${src.keyField} must be a string or u32 field of the schema`);
  const ts = field(src.timestampField!);
  if (!ts || ts.type === "string" || ts.type === "text") refuse(`the timestamp field ${src.timestampField} must be a numeric field of the schema`);
  if (src.schema!.fields.some((f) => f.type === "text")) refuse("text fields are read in the general form");
  if (src.schema!.transient) refuse(`transient fields (${src.schema!.transient.join(", ")}) are for the built-in pipelines; in a topology give a field with a value per event the type text`);
  const aggs = nodes.filter((n) => n.kind === "aggregate") as Extract<PlanNode, { kind: "aggregate" }>[];
  const sinks = nodes.filter((n) => n.kind === "sink") as Extract<PlanNode, { kind: "sink" }>[];
  if (aggs.length !== 1 || aggs[0]!.windows === undefined) refuse("it needs exactly one windowed aggregation");
  if (sinks.length !== 1 || typeof sinks[0]!.topic !== "string") refuse("it needs exactly one to(topic) with a fixed topic");
  const agg = aggs[0]!;
  const w = agg.windows as unknown as Record<string, number>;
  const isTime = typeof w["sizeMs"] === "number" && typeof w["advanceMs"] === "number";
  let typedOnly = true;
  let partialsOf: EngineShape["partialsOf"];
  const sideTopics: string[] = [];
  for (const n of nodes) {
    if (n.kind === "source" || n.kind === "aggregate" || n.kind === "sink") continue;
    if (n.kind === "processValues") {
      // Its store is per source key: it must run before any groupBy (nothing re-keys before the aggregate here).
      if (n.id > agg.id || nodes.some((m) => m.kind === "selectKey" && m.id < n.id)) refuse(`processValues (${n.name}) must come before groupBy and the aggregation`);
      if (!sideTopics.includes(n.flagged)) sideTopics.push(n.flagged);
      typedOnly = false;
      continue;
    }
    if (n.kind === "selectKey" && n.repartition && agg.parents[0] === n.id) {
      if (!agg.builtin || !isTime || agg.emit !== "close" || agg.retentionMs > 0) {
        refuse(`groupBy (${n.name}) re-keys: on the engine only count/sum/min/max/mean on time windows, emitted at close, merge per-worker partials (repartitioning between workers is not there yet)`);
      }
      partialsOf = agg.builtin!.op;
      typedOnly = false;
      continue;
    }
    if (!ENGINE_STATELESS.has(n.kind)) refuse(`${n.kind} (${n.name}) ${n.kind === "selectKey" || n.kind === "map" ? "changes the key, which needs repartitioning between workers" : "is not supported there"}`);
    if (n.id < agg.id) typedOnly = false;
  }
  return {
    topic: src.topics[0]!, schema: src.schema!, keyField: src.keyField!, timestampField: src.timestampField!,
    sinkTopic: sinks[0]!.topic as string, lateTopic: agg.late,
    sizeMs: isTime ? w["sizeMs"]! : 0, graceMs: isTime ? w["graceMs"]! : 0,
    typedOnly, nodes: nodes.length, partialsOf, sideTopics,
  };
}

/** Columns every DSL input record carries besides its fields. */
const SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
] as const;

/** The PipelineDefinition the Coordinator runs for a topology module. */
export function dslPipeline(modulePath: string, shape: EngineShape, interner: SharedInterner): PipelineDefinition {
  const { schema, keyField, timestampField } = shape;
  const keyIsString = schema.fields.find((f) => f.name === keyField)!.type === "string";
  const name = (id: number): string => (keyIsString ? interner.name(id) : String(id));
  const sides: Record<number, string> = { [OUT_INVALID]: "invalid", [OUT_LATE]: "late" };
  return {
    name: `dsl:${modulePath}`,
    description: `DSL topology ${modulePath}`,
    schema,
    window: { sizeMs: shape.sizeMs, graceMs: shape.graceMs },
    outputs: ["window", "invalid", "late", ...shape.sideTopics],
    // Records processValues flags: `{ k, v: { reason, event } }` as JSON, code = 1 + index in sideTopics.
    ...(shape.sideTopics.length > 0 && {
      objectBytes: 64 * 1024,
      renderObject(code: number, text: string, out: OutputColumns, i: number): Output {
        const { k, v } = JSON.parse(text) as { k: unknown; v: { reason: string; event: unknown } };
        return { type: shape.sideTopics[code - 1] ?? `output-${code}`, key: k, reason: v.reason, event: v.event, timestamp: out.c[i]! };
      },
      objectName: (code: number) => shape.sideTopics[code - 1] ?? `output-${code}`,
    }),
    processorConfig: {
      module: modulePath, nodes: shape.nodes, typedOnly: shape.typedOnly, topic: shape.topic, keyField, timestampField,
      sinkTopic: shape.sinkTopic, lateTopic: shape.lateTopic, keyIsString, strings: interner.table, partials: shape.partialsOf ?? "",
      sideTopics: JSON.stringify(shape.sideTopics),
    },
    shardKey: keyField,
    inputLayout: (capacity) => compileLayout([...schema.fields, ...SYSTEM_FIELDS], capacity),

    // Edge kernel: event time from the timestamp field, a key, stream time and the watermark per record.
    prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
      const ts = columns[timestampField]!;
      const key = columns[keyField]!;
      const wmOut = columns["_wm"] as Float64Array;
      const reason = columns["_reason"] as Uint8Array;
      let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
      const other = +otherMin;
      for (let i = 0; i < n; i++) {
        const t = ts[i]!;
        const r = !(t >= 0 && t - t === 0) ? DSL_BAD_TIMESTAMP : keyIsString && key[i] === 0 ? DSL_NO_KEY : 0;
        reason[i] = r;
        if (r === 0 && t > st) st = t;
        wmOut[i] = st < other ? st : other;
      }
      return st;
    },

    // Without groupBy a shard sends each window's final result as (key, start, 1, value, end, timestamp, 0):
    // keys stay on one shard. With groupBy, each shard's partial (partialOut in engine-shard.ts), merged.
    renderWindow(key: number, start: number, count: number, sum: number, n: number, min: number, max: number): Output {
      const op = shape.partialsOf;
      if (op !== undefined) {
        const value = op === "count" ? count : op === "sum" ? sum : n === 0 ? null : op === "mean" ? sum / n : op === "min" ? min : max;
        const out: Output = { type: "window", topic: shape.sinkTopic, key: key >= NUMERIC_KEY ? key - NUMERIC_KEY : interner.name(key), windowStart: start, windowEnd: start + shape.sizeMs, value, timestamp: op === "min" ? max : -min };
        // A mean also says how many records its window holds (driver-tracking's count beside its mean speed).
        if (op === "mean") out["count"] = count;
        return out;
      }
      const out: Output = { type: "window", topic: shape.sinkTopic, key: name(key), windowStart: start, windowEnd: n, value: Number.isNaN(sum) ? null : sum, timestamp: min };
      if (count !== 1) out["error"] = `${count} shards sent this window: its key was not on one shard`;
      return out;
    },

    renderSide(out: OutputColumns, i: number, event: unknown): Output {
      const kind = out.kind[i]!;
      if (kind === OUT_LATE) {
        return { type: "late", topic: shape.lateTopic, key: name(out.key[i]!), timestamp: out.a[i]!, watermark: out.b[i]!, latenessMs: out.c[i]!,
          reason: `late: every window of the record closed (watermark ${out.b[i]})`, event };
      }
      return { type: "invalid", reason: REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
    },

    eventFromRecord(out: OutputColumns, i: number, str: (id: number) => string): unknown {
      return { [keyField]: keyIsString ? str(out.key[i]!) : out.key[i]!, [timestampField]: out.a[i]! };
    },

    outputKey(output: Output): string | null {
      return typeof output["key"] === "string" ? output["key"] : typeof output["key"] === "number" ? String(output["key"]) : null;
    },

    sideName(kind: number): string {
      return sides[kind] ?? "unknown";
    },
  };
}

export interface RunTopologyOptions extends Omit<CoordinatorOptions, "pipeline" | "source" | "sink"> {
  /**
   * A JSON-lines file to read (one event per line, fields as in the source's schema); for a
   * topology that reads several topics, a file per topic: `{ "ride-requests": "r.jsonl", … }`.
   */
  input?: string | Readonly<Record<string, string>>;
  /**
   * Or any source, built from the decoder of the topology's schema (strings interned into the shared
   * table) or from the pipeline (a source with its own `interner`, like the Kafka source, is
   * mirrored into the shared table). A topology that reads several topics (joins, tables) calls it
   * once per topic, with that topic's decoder and a pipeline whose `schema` is the topic's; such a
   * source must intern into the given shared `interner` (KafkaSource: its `interner` option).
   */
  source?: (decoder: JsonDecoder, interner: SharedInterner, reject: (p: number, offset: number, raw: string, reason: string) => void,
    pipeline: PipelineDefinition, topic: string, decode?: MessageDecoder) => Source | Promise<Source>;
  /**
   * State per partition (`taskState`) for a topology that groups by a new key: the Kafka topic of
   * each repartition edge (repartition.ts repartitionTopicFor), as Kafka Streams' `-repartition`
   * topics. Records crossing the edge are written to it and read back from it (`source` is then
   * called for it too, after the co-partitioned topics, with the `decode` its messages need), so
   * that they may cross processes.
   */
  repartitionTopic?: (edge: string) => string;
  /** A sink, or a function giving it once the source is built (the Kafka sink comes with the Kafka source). @default NullSink */
  sink?: Sink | (() => Sink);
  /**
   * Typed topologies of a recognisable shape (filters, groupByKey or groupBy, one built-in aggregate
   * on time windows) run as a columnar plan over each batch (batch-plan.ts); false keeps the
   * record-at-a-time executor (the same outputs; for comparison). @default true
   */
  batch?: boolean;
  /** Called with the Coordinator before it runs (tests: fault injection with crashWorker). */
  onCoordinator?: (c: Coordinator) => void;
}

/** How a topology runs on the engine: the typed single-aggregate form, else the general one (engine-objects.ts). */
export function topologyShape(topology: Topology): EngineShape | ObjectShape {
  try {
    return engineShape(topology);
  } catch (err) {
    if (!(err instanceof TopologyError)) throw err;
    return objectShape(topology);
  }
}

/**
 * Runs a topology module on the worker engine: `await runTopology("./topology.js", { input: "events.jsonl", sink })`.
 * The module is imported here and in every worker; workers run the built JavaScript (`npm run build`).
 */
export async function runTopology(modulePath: string, options: RunTopologyOptions): Promise<RunSummary> {
  const abs = modulePath.startsWith("file:") ? modulePath : resolve(modulePath);
  const topology = await loadTopology(abs);
  // State per partition (taskState) runs in the general form: one executor per partition, its
  // keys saved as JSON (another process's string table differs).
  const shape = options.taskState === true ? objectShape(topology) : topologyShape(topology);
  const interner = new SharedInterner(createStringTable());
  if ((options.input === undefined) === (options.source === undefined)) {
    throw new TopologyError("runTopology() needs exactly one of input (a JSON-lines file) or source");
  }
  let coordinator: Coordinator | undefined;
  let pipeline: PipelineDefinition;
  let source: Source;
  if ("mode" in shape) {
    // State per partition: records crossing an edge may cross processes, through a Kafka topic.
    let edgeTopics: string[] | undefined;
    if (options.taskState === true && shape.repartitions.length > 0) {
      const topicOf = options.repartitionTopic;
      if (topicOf === undefined || options.source === undefined) throw new TopologyError("state per partition for a topology that groups by a new key needs a source and repartitionTopic (a Kafka topic per repartition edge)");
      edgeTopics = shape.repartitions.map(topicOf);
    }
    const objects = objectPipeline(abs, shape, interner, edgeTopics);
    pipeline = objects;
    const files = options.input;
    if (typeof files === "string" && shape.inputs.length > 1) {
      throw new TopologyError(`the topology reads ${shape.inputs.length} topics (${shape.inputs.map((i) => i.topic).join(", ")}): give a file per topic`);
    }
    if (files !== undefined && typeof files !== "string") {
      for (const t of Object.keys(files)) inputIndex(shape, t);
      const missing = shape.inputs.filter((i) => files[i.topic] === undefined).map((i) => i.topic);
      if (missing.length > 0) throw new TopologyError(`no input file for topic ${missing.join(", ")}`);
    }
    const bases: number[] = [];
    const parts: Source[] = [];
    // The repartition topics' sources, after the co-partitioned inputs and before the global tables
    // (the combined source's order, in which the Kafka inputs are added to the transactions).
    const edgeParts: Source[] = [];
    const ordered: Source[] = [];
    const readEdges = async (): Promise<void> => {
      for (const [e, topic] of (edgeTopics ?? []).entries()) {
        const decoder = compileJsonDecoder(shape.inputs[0]!.schema, interner, shape.textFields);
        const base = ordered.reduce((a, s) => a + s.partitions, 0);
        const reject = (p: number, off: number, raw: string, reason: string) => coordinator!.reject(p + base, off, raw, reason);
        const s = await options.source!(decoder, interner, reject, { ...objects, schema: shape.inputs[0]!.schema } as PipelineDefinition, topic, repartitionDecoder(shape, e, topic));
        edgeParts.push(s);
        ordered.push(s);
      }
    };
    try {
      for (const [k, input] of shape.inputs.entries()) {
        if (input.global && edgeParts.length < (edgeTopics?.length ?? 0)) await readEdges();
        const decoder = compileJsonDecoder(input.schema, interner, shape.textFields);
        const reject = (p: number, off: number, raw: string, reason: string) => coordinator!.reject(p + bases[k]!, off, raw, reason);
        const own = { ...objects, schema: input.schema } as PipelineDefinition;
        const file = typeof files === "string" ? files : files?.[input.topic];
        const inner = file !== undefined ? new JsonLinesFileSource(file, decoder, reject) : await options.source!(decoder, interner, reject, own, input.topic);
        bases.push(ordered.reduce((a, s) => a + s.partitions, 0));
        parts.push(new TaggedSource(inner, k, input));
        ordered.push(parts[k]!);
      }
      if (edgeParts.length < (edgeTopics?.length ?? 0)) await readEdges();
      const local = [...parts.filter((_s, k) => !shape.inputs[k]!.global), ...edgeParts];
      if (local.some((s) => s.position) && new Set(local.map((s) => s.partitions)).size > 1) {
        // Records of one key must meet on one shard: partition q of every topic goes to the same one.
        throw new TopologyError(`the topics of a join must be co-partitioned (the same number of partitions, keyed alike): ${parts.filter((_s, k) => !shape.inputs[k]!.global).map((s) => `${shape.inputs[parts.indexOf(s)]!.topic} has ${s.partitions}`).join(", ")}`);
      }
    } catch (err) {
      // Nothing runs: let go of the sources built so far (their consumers would keep the process alive).
      await Promise.all(ordered.map((s) => s.close().catch(() => undefined)));
      throw err;
    }
    source = ordered.length === 1 ? ordered[0]! : new MultiSource(ordered);
    // State per partition: one task per co-partition index (partition q of every topic); the global
    // tables' partitions (after the others: objectShape) belong to no task.
    if (options.taskState === true) {
      const shared = shape.inputs.findIndex((i) => i.global);
      pipeline = { ...objects, processorConfig: { ...objects.processorConfig, tasked: parts[0]!.partitions, ...(shared >= 0 && { taskedShared: bases[shared]! }) } };
    }
    const tableOf = new Uint8Array(source.partitions);
    parts.forEach((s, k) => tableOf.fill(shape.inputs[k]!.global ? 2 : shape.inputs[k]!.table ? 1 : 0, bases[k]!, bases[k]! + s.partitions));
    objects.setTablePartitions((p) => tableOf[p]! > 0, (p) => tableOf[p] === 2);
  } else {
    pipeline = dslPipeline(abs, shape, interner);
    const decoder = compileJsonDecoder(shape.schema, interner);
    const reject = (p: number, off: number, raw: string, reason: string) => coordinator!.reject(p, off, raw, reason);
    if (typeof options.input === "object") throw new TopologyError("the topology reads one topic: give its file as input");
    source = options.input !== undefined ? new JsonLinesFileSource(options.input, decoder, reject) : await options.source!(decoder, interner, reject, pipeline, shape.topic);
    const own = (source as { interner?: unknown }).interner;
    if (own instanceof Interner && own !== interner) source = mirrorStrings(source, own, interner);
  }
  if (options.batch === false && !("mode" in shape)) pipeline = { ...pipeline, processorConfig: { ...pipeline.processorConfig, batch: false } };
  const { input: _i, source: _s, sink, onCoordinator, batch: _b, ...rest } = options;
  coordinator = new Coordinator({ ...rest, pipeline, source, sink: (typeof sink === "function" ? sink() : sink) ?? new NullSink() });
  onCoordinator?.(coordinator);
  return coordinator.run();
}
