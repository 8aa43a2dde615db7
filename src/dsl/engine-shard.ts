/**
 * A DSL topology inside a shard worker (the worker half of engine.ts): the TopologyExecutor — the
 * code the TopologyTestDriver runs — fed from the input ring's typed columns, its outputs written
 * to the output ring.
 *
 *   ring slot columns ─► record i: invalid? → invalid output
 *                                 value: the schema's fields as a plain object (strings from the
 *                                 shared table); with no user function before the aggregate one
 *                                 reused object, so nothing is allocated per record
 *                      ─► executor.process(topic, key, value, t, watermark)
 *                      ─► emit: window results → out.window, late → out.side(LATE), errors → out.side(INVALID)
 *
 * A topology the batch compiler recognises (filters, groupByKey/groupBy, one built-in aggregate on
 * time windows: batch-plan.ts) runs instead as a columnar pass per batch (BatchShardProcessor), with
 * the same outputs; config `batch: false` keeps this record-at-a-time processor.
 */
import type { ShardProcessor, ProcessorConfig } from "../pipelines/processor.js";
import { OUT_INVALID, OUT_LATE, type OutputWriter } from "../ring/output.js";
import type { ColumnArray, FieldSpec } from "../schema/schema.js";
import { DSL_NOT_A_NUMBER, DSL_UNKNOWN_GROUP_KEY, DSL_USER_ERROR, loadTopology, NUMERIC_KEY, storeKeyCodec, writeObjectOutput } from "./engine-common.js";
import { TopologyError } from "./errors.js";
import { ERROR_TOPIC, TopologyExecutor, type LateRecord } from "./executor.js";
import type { PlanNode, Topology } from "./plan.js";
import { SharedStrings } from "./shared-strings.js";
import { Windowed } from "./windows.js";
import { DslObjectProcessor } from "./engine-objects-shard.js";
import { TaskedProcessor, taskedConfig, taskedSharedFrom } from "../pipelines/tasked-processor.js";
import { BatchShardProcessor, compileBatchPlan } from "./batch-plan.js";

export async function createDslProcessor(config: ProcessorConfig): Promise<ShardProcessor> {
  const topology = await loadTopology(config["module"] as string);
  if (topology.nodes.length !== config["nodes"]) {
    throw new TopologyError(`${String(config["module"])} built ${topology.nodes.length} nodes in the worker but ${String(config["nodes"])} on the main thread: a topology module must build the same topology every time`);
  }
  if (config["mode"] === "objects") {
    // State per input partition (exactly-once across processes): one executor per partition (per co-partition index).
    const copartitions = taskedConfig(config);
    // Global tables: one store per shard, owned by the TaskedProcessor's shared part (built first), looked up by every task.
    if (copartitions !== undefined) {
      const globals = new Map<number, unknown>();
      return new TaskedProcessor(() => new DslObjectProcessor(topology, config, globals), copartitions, taskedSharedFrom(config));
    }
    return new DslObjectProcessor(topology, config);
  }
  // A recognisable typed topology runs as a columnar plan per batch (batch-plan.ts), unless config `batch` is false.
  const plan = config["batch"] === false ? undefined : compileBatchPlan(topology);
  if (plan !== undefined && typeof plan !== "string") return new BatchShardProcessor(plan, topology, config);
  return new DslShardProcessor(topology, config);
}

export class DslShardProcessor implements ShardProcessor {
  private readonly executor: TopologyExecutor;
  /** Key codes of the typed stores in checkpoints. */
  private readonly keys: ReturnType<typeof storeKeyCodec>;
  private readonly strings: SharedStrings | undefined;
  private readonly fields: readonly FieldSpec[];
  private readonly topic: string;
  private readonly keyField: string;
  private readonly timestampField: string;
  private readonly sinkTopic: string;
  private readonly lateTopic: string;
  /** processValues' flagged topics → their output codes (OUT_OBJECT). */
  private readonly sideCodes = new Map<string, number>();
  private readonly keyIsString: boolean;
  private readonly typedOnly: boolean;
  /** No user function sees a key: keys stay u32 ids inside the executor (no string per record). */
  private readonly idKeys: boolean;
  private readonly rowUnused: boolean;
  private readonly row: Record<string, unknown> = {};
  // The record being processed (outputs of process() belong to it) and the output ring.
  private out: OutputWriter | undefined;
  private partition = 0;
  private off = 0;
  private keyId = 0;

  constructor(topology: Topology, config: ProcessorConfig) {
    const src = topology.nodes.find((n) => n.kind === "source") as Extract<PlanNode, { kind: "source" }>;
    this.fields = src.schema!.fields;
    this.topic = config["topic"] as string;
    this.keyField = config["keyField"] as string;
    this.timestampField = config["timestampField"] as string;
    this.sinkTopic = config["sinkTopic"] as string;
    this.lateTopic = config["lateTopic"] as string;
    (JSON.parse((config["sideTopics"] as string | undefined) ?? "[]") as string[]).forEach((t, j) => this.sideCodes.set(t, j + 1));
    this.keyIsString = config["keyIsString"] === true;
    this.typedOnly = config["typedOnly"] === true;
    this.idKeys = this.typedOnly && topology.nodes.every((n) => n.kind === "source" || n.kind === "aggregate" || n.kind === "toStream" || n.kind === "sink");
    // count() without a field never reads the value: the row need not be filled.
    this.rowUnused = this.idKeys && topology.nodes.some((n) => n.kind === "aggregate" && n.builtin?.op === "count" && n.builtin.field === undefined);
    const table = config["strings"];
    this.strings = table instanceof SharedArrayBuffer ? new SharedStrings(table) : undefined;
    this.keys = storeKeyCodec(this.strings);
    for (const f of this.fields) this.row[f.name] = f.type === "string" ? "" : 0;
    const op = config["partials"];
    this.executor = new TopologyExecutor(topology, (topic, key, value, ts) => this.emit(topic, key, value, ts),
      typeof op === "string" && op !== "" ? { partials: (k, start, count, sum, n, min, max, ts) => this.partialOut(op, k, start, count, sum, n, min, max, ts) } : {});
  }

  /**
   * A closed window's partial of this shard, encoded so that the coordinator's WindowMerger (sums
   * count, sum and n; min of min; max of max) also merges the latest timestamp: as −ts in `min`,
   * or in `max` for min(), whose `min` carries the values.
   */
  private partialOut(op: string, key: unknown, start: number, count: number, sum: number, n: number, min: number, max: number, ts: number): void {
    const out = this.out!;
    // String keys travel as their id in the shared table, integer keys (e.g. Geo.geohashCode) as
    // themselves with the top bit set (engine.ts NUMERIC_KEY).
    const id = typeof key === "string" ? (this.strings?.ids.get(key) ?? -1)
      : typeof key === "number" && Number.isInteger(key) && key >= 0 && key < NUMERIC_KEY ? key + NUMERIC_KEY : -1;
    if (id < 0) {
      out.side(OUT_INVALID, DSL_UNKNOWN_GROUP_KEY, 0, 0, 0, ts, NaN, NaN, NaN, 0, 0);
      return;
    }
    if (op === "min") out.window(id, start, count, sum, n, min, ts);
    else out.window(id, start, count, sum, n, -ts, max);
  }

  private str(id: number): string {
    return this.strings ? this.strings.name(id) : String(id);
  }

  /** The batch's column of each schema field (resolved once per batch, not per record). */
  private readonly cols: ColumnArray[] = [];

  private valueOf(i: number): Record<string, unknown> {
    const obj = this.typedOnly ? this.row : {} as Record<string, unknown>;
    const fields = this.fields;
    const cols = this.cols;
    for (let f = 0; f < fields.length; f++) {
      const spec = fields[f]!;
      const x = cols[f]![i]!;
      obj[spec.name] = spec.type === "string" ? this.str(x) : x;
    }
    return obj;
  }

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    this.out = out;
    this.partition = partition;
    const key = columns[this.keyField]!;
    const ts = columns[this.timestampField]!;
    const wm = columns["_wm"]!;
    const off = columns["_off"]!;
    const reason = columns["_reason"]!;
    const ex = this.executor;
    for (let f = 0; f < this.fields.length; f++) this.cols[f] = columns[this.fields[f]!.name]!;
    for (let i = 0; i < n; i++) {
      this.off = off[i]!;
      this.keyId = key[i]!;
      if (reason[i] !== 0) {
        out.side(OUT_INVALID, reason[i]!, key[i]!, partition, off[i]!, ts[i]!, NaN, NaN, NaN, 0, 0);
        continue;
      }
      const k = this.keyIsString && !this.idKeys ? this.str(key[i]!) : key[i]!;
      ex.process(this.topic, k, this.rowUnused ? this.row : this.valueOf(i), ts[i]!, wm[i]!, true);
    }
  }

  private emit(topic: string, key: unknown, value: unknown, ts: number): void {
    const out = this.out!;
    if (topic === this.lateTopic && value !== null && typeof value === "object" && "latenessMs" in value) {
      const l = value as LateRecord;
      out.side(OUT_LATE, 1, this.keyId, this.partition, this.off, l.timestamp, l.watermark, l.latenessMs, NaN, 0, 0);
    } else if (topic === ERROR_TOPIC) {
      out.side(OUT_INVALID, DSL_USER_ERROR, this.keyId, this.partition, this.off, ts, NaN, NaN, NaN, 0, 0);
    } else if (this.sideCodes.has(topic)) {
      // A record processValues flagged: { k, v: { reason, event } } as JSON (engine.ts renders it).
      writeObjectOutput(out, this.sideCodes.get(topic)!, key, value, ts, NaN, NaN, this.keyId, this.partition, this.off);
    } else if (topic === this.sinkTopic && key instanceof Windowed) {
      const id = this.keyIsString && !this.idKeys ? (this.strings?.ids.get(key.key as string) ?? 0) : (key.key as number);
      if (value === null || typeof value === "number") out.window(id, key.window.start, 1, value ?? NaN, key.window.end, ts, 0);
      else out.side(OUT_INVALID, DSL_NOT_A_NUMBER, id, this.partition, this.off, ts, NaN, NaN, NaN, 0, 0);
    }
  }

  advance(watermark: number, out: OutputWriter): void {
    this.out = out;
    this.executor.advance(watermark);
  }

  stateBytes(): number {
    let b = 0;
    for (const s of this.executor.stores()) b += s.bytes;
    return b;
  }

  /**
   * Checkpoints for worker recovery (workers/shard.ts): the executor writes every store (typed
   * stores with keys as u32 ids ≥ 0, strings as −(their id in the shared table); object stores as
   * JSON); -1 only when the state does not fit or holds a value JSON cannot carry.
   */
  snapshot(into: Float64Array): number {
    return this.executor.snapshot(into, this.keys.encode);
  }

  restore(from: Float64Array): void {
    this.executor.restore(from, this.keys.decode);
  }
}
