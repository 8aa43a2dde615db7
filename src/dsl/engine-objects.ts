/**
 * The general form of a DSL topology on the worker engine (main-thread half): several input
 * topics (streams and tables), joins, any number of outputs, values of any JSON shape.
 *
 *   topic k ─► its decoder ─► tag (k into `_src`, its key field into `_key`, its time field into `_ts`)
 *           ─► edge kernel (event time, watermark; table records do not move event time)
 *           ─► input rings: records of every topic with the same key on the same shard
 *               (files and generators: spread by `_key`; Kafka: partition q of every topic on one
 *               shard, so topics must be co-partitioned, as in Kafka Streams)
 *           ─► worker: the TopologyExecutor per shard (engine-objects-shard.ts)
 *           ─► outputs as JSON text in the output ring's byte area (OUT_OBJECT), one code per topic
 *
 * Operators that change the key (map, flatMap, selectKey, groupBy) before an aggregation or a
 * stream-stream join move their records to the shard of the new key first (repartition.ts): the
 * shard emits them as internal outputs, the coordinator feeds them into the input ring of shard
 * hash(key) mod W, tagged with the edge, and the executor there injects them into the operator.
 *
 * With state per partition (exactly-once across processes, `--instance-id`) the shard of the new
 * key may be in another process, so each edge is a Kafka topic instead, as in Kafka Streams:
 *
 *   task q: source partition q ─► … groupBy ─► edge output {key, value: [k, v], timestamp}
 *           ─► sink ─► <group>-<node>-<port>-repartition, partitioned by the key (same count as the inputs)
 *   task r: partition r of that topic (one more co-partitioned input of task r) ─► repartitionDecoder
 *           ─► input ring, tagged with the edge ─► the executor injects it into the operator
 *
 * The records written to it are outputs of the transaction that commits their input's offsets;
 * they are read read_committed, and the topic's partitions count for their task's watermark as
 * every input partition does (objectPipeline's `edgeTopics`). A chain (an edge downstream of
 * another, as Kafka Streams' sub-topologies) needs nothing more: a record read from one edge's
 * topic that reaches the next edge is written to that one's topic in the same transaction. The
 * topics are internal: purged up to the committed offsets (transactions.ts TransactionalInput.purge),
 * no dead letters (a foreign record fails the run: repartition.ts RepartitionRecordError).
 *
 * What it refuses (with the node's name): a sink whose topic is a function; sources without a
 * schema and a key field; the repartitions repartition.ts refuses.
 */
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { OUT_INVALID, OUT_LATE, type OutputColumns } from "../ring/output.js";
import { blobBuffer, compileLayout, TEXT_STRIDE, TEXT_TOO_LONG, type ColumnArray, type FieldSpec, type Schema } from "../schema/schema.js";
import type { Output } from "../sinks/sink.js";
import type { MessageDecoder } from "../sources/kafka-source.js";
import type { Source, SourceHooks } from "../sources/source.js";
import { DSL_BAD_TIMESTAMP, DSL_NO_KEY, DSL_TEXT_TOO_LONG, REASONS } from "./engine-common.js";
import { TopologyError } from "./errors.js";
import type { Topology } from "./plan.js";
import { chainedEdges, RepartitionRecordError, repartitionEdges } from "./repartition.js";
import { SlidingWindows, TimeWindows } from "./windows.js";
import type { SharedInterner } from "./shared-strings.js";

/** One input topic of the topology as the engine reads it. */
export interface EngineInput {
  topic: string;
  schema: Schema;
  keyField: string;
  /** The event-time field (streams); tables may have none. */
  timestampField: string | undefined;
  table: boolean;
  /** A GlobalKTable: every shard reads all of it (broadcast). */
  global: boolean;
  /**
   * Never committed, read whole on every start (at-least-once): a table's topic (its changelog), and
   * every stream of a topology holding a KTable aggregate (its state has no changelog there).
   */
  reread: boolean;
}

export interface ObjectShape {
  mode: "objects";
  /** The text fields of the inputs' layout, in layout order (for the decoders). */
  textFields: string[];
  inputs: EngineInput[];
  /** Every field of every input schema, side by side (a name shared by two schemas must have one type). */
  fields: FieldSpec[];
  keyIsString: boolean;
  /** Output names in code order: "invalid" (user functions that threw), then the topics written to. */
  outputs: string[];
  nodes: number;
  /** Internal outputs of the repartition edges (repartition.ts), after `outputs` in code order. */
  repartitions: string[];
  /** Some edge is downstream of another (repartition.ts chainedEdges): records move through the coordinator. */
  repartitionsChained?: boolean;
  /**
   * How far past a record's time its state may stay open (window size + grace, session: Infinity,
   * join: window + grace; -Infinity without windowed state): at-least-once commits its offset once
   * every shard's watermark passed the record's stream time plus this, so a crash loses no window.
   */
  stateSpanMs: number;
}

/** Output code of records whose user function threw (reported as invalid, with the reason). */
export const OBJECT_INVALID = 0;
/** Bytes of each output slot's byte area (output objects as JSON). */
const OBJECT_BYTES = 256 << 10;
/** Bytes of each input ring slot's area for repartitioned records (at least one output slot's worth). */
const REPARTITION_BYTES = 512 << 10;

const ALLOWED = new Set(["source", "table-source", "filter", "peek", "mapValues", "flatMapValues", "toStream", "split", "branch", "merge",
  "sink", "aggregate", "stream-table-join", "stream-stream-join", "map", "flatMap", "selectKey", "processValues"]);

/** Checks that a topology can run on the engine in its general form; the error names the node that cannot. */
export function objectShape(topology: Topology): ObjectShape {
  const refuse = (why: string): never => {
    throw new TopologyError(`this topology cannot run on the worker engine yet: ${why} (it runs in the TopologyTestDriver)`);
  };
  const inputs: EngineInput[] = [];
  const outputs: string[] = ["invalid"];
  const nodes = topology.nodes;
  for (const n of nodes) {
    if (!ALLOWED.has(n.kind)) refuse(`${n.kind} (${n.name}) is not supported on the engine`);
    if (n.kind === "aggregate" && n.windows !== undefined && !outputs.includes(n.late)) outputs.push(n.late);
    if (n.kind === "stream-stream-join" && !outputs.includes(n.late)) outputs.push(n.late);
    if (n.kind === "processValues" && !outputs.includes(n.flagged)) outputs.push(n.flagged);
    if (n.kind === "sink") {
      if (typeof n.topic !== "string") refuse(`${n.name} chooses its topic with a function; the engine needs fixed topics`);
      if (!outputs.includes(n.topic as string)) outputs.push(n.topic as string);
    }
    if (n.kind === "source" || n.kind === "table-source") {
      const what = n.kind === "source" ? `builder.stream(${JSON.stringify(n.topics.join(","))})` : `builder.table(${JSON.stringify(n.topic)})`;
      if (!n.schema) refuse(`${what} needs { schema } (defineSchema) for the record layout`);
      // The workers name strings from a table shared with the main thread (shared-strings.ts); transient ids are not in it.
      if (n.schema!.transient) refuse(`transient fields (${n.schema!.transient.join(", ")}) are for the built-in pipelines; in a topology give a field with a value per event the type text`);
      if (!n.keyField) refuse(`${what} needs { key: "<field>" }: records are sharded by that field`);
      if (n.kind === "source" && !n.timestampField) refuse(`${what} needs { timestamp: "<field>" }: event time is read where records enter`);
      const field = (name: string) => n.schema!.fields.find((f) => f.name === name);
      const k = field(n.keyField!);
      if (!k || (k.type !== "string" && k.type !== "u32")) refuse(`the key field ${n.keyField} of ${what} must be a string or u32 field of its schema`);
      if (n.timestampField !== undefined) {
        const ts = field(n.timestampField);
        if (!ts || ts.type === "string") refuse(`the timestamp field ${n.timestampField} of ${what} must be a numeric field of its schema`);
      }
      const topics = n.kind === "source" ? n.topics : [n.topic];
      for (const topic of topics) {
        if (inputs.some((i) => i.topic === topic)) refuse(`topic ${topic} is read twice`);
        inputs.push({ topic, schema: n.schema!, keyField: n.keyField!, timestampField: n.timestampField, table: n.kind === "table-source", global: n.kind === "table-source" && n.global === true, reread: n.kind === "table-source" });
      }
    }
  }
  if (!inputs.some((i) => !i.table)) refuse("it needs at least one stream source");
  // Global tables after the co-partitioned inputs (stable), wherever the topology declares them:
  // the combined source numbers partition q of co-partitioned topic k as k * P + q, and state per
  // partition takes the partitions from the first global one on as no task's (TaskedProcessor).
  inputs.sort((a, b) => Number(a.global) - Number(b.global));
  if (outputs.length === 1) refuse("it writes nothing: add to(topic)");
  let repartitions: string[] = [];
  let repartitionsChained = false;
  try {
    const edges = repartitionEdges(topology);
    repartitions = edges.map((e) => e.name);
    repartitionsChained = chainedEdges(topology, edges);
  } catch (err) {
    if (!(err instanceof TopologyError)) throw err;
    refuse(err.message);
  }
  // A global table's keys are looked up by a selector: only the co-partitioned inputs must agree.
  const keyTypes = new Set(inputs.filter((i) => !i.global).map((i) => i.schema.fields.find((f) => f.name === i.keyField)!.type));
  if (keyTypes.size > 1) refuse("the key fields of the inputs have different types (string and u32): keys of joined topics must compare equal");
  const fields: FieldSpec[] = [];
  for (const i of inputs) {
    for (const f of i.schema.fields) {
      const seen = fields.find((x) => x.name === f.name);
      if (!seen) fields.push(f);
      else if (seen.type !== f.type) refuse(`field ${f.name} is ${seen.type} in one input and ${f.type} in ${i.topic}: the engine lays every input's fields side by side; rename one`);
    }
  }
  return { mode: "objects", inputs, fields, textFields: fields.filter((f) => f.type === "text").map((f) => f.name), keyIsString: keyTypes.has("string"), outputs, nodes: nodes.length, repartitions, repartitionsChained, stateSpanMs: stateSpan(topology, inputs) };
}

/**
 * ObjectShape.stateSpanMs of a topology; marks every input `reread` when it holds a KTable
 * aggregate or a processValues store (open forever: only re-reading its inputs rebuilds it after a
 * crash).
 */
function stateSpan(topology: Topology, inputs: EngineInput[]): number {
  let span = -Infinity;
  for (const n of topology.nodes) {
    if (n.kind === "aggregate") {
      const w = n.windows;
      if (w === undefined) for (const i of inputs) i.reread = true;
      else if (w instanceof TimeWindows) span = Math.max(span, w.sizeMs + w.graceMs);
      else if (w instanceof SlidingWindows) span = Math.max(span, w.timeDifferenceMs + w.graceMs + 1);
      else span = Infinity; // a session stays open while its key keeps coming: committed at the end of input
    } else if (n.kind === "stream-stream-join") {
      span = Math.max(span, Math.max(n.windows.beforeMs, n.windows.afterMs) + n.windows.graceMs + 1);
    } else if (n.kind === "processValues" && n.store !== undefined) {
      // A per-key store (a driver's last fix) is kept forever, as a KTable aggregate is.
      for (const i of inputs) i.reread = true;
    }
  }
  return span;
}

/** Columns of every input record besides the schemas' fields. */
const SYSTEM_FIELDS: FieldSpec[] = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_ts", type: "f64" },
  { name: "_key", type: "u32" },
  { name: "_src", type: "u8" },
  { name: "_reason", type: "u8" },
];
/** Columns of a repartitioned record: where its JSON is in the slot's byte area, and its length. */
const REPARTITION_FIELDS: FieldSpec[] = [
  { name: "_rpo", type: "u32" },
  { name: "_rpl", type: "u32" },
];

export interface ObjectPipeline extends PipelineDefinition {
  /**
   * Called once the source is built: which of its partitions belong to tables (they never hold the
   * watermark, and are read first) and which to global tables (every shard gets all their records).
   */
  setTablePartitions(isTable: (p: number) => boolean, isGlobal: (p: number) => boolean): void;
}

/**
 * The PipelineDefinition the Coordinator runs for a topology in its general form. `edgeTopics`
 * (state per partition): the Kafka topic of each repartition edge; records crossing an edge are
 * then outputs to it (and come back as an input: repartitionDecoder), not moved by the coordinator.
 */
export function objectPipeline(modulePath: string, shape: ObjectShape, interner: SharedInterner, edgeTopics?: readonly string[]): ObjectPipeline {
  const tables = shape.inputs.map((i) => i.table);
  // Per input, its text fields: a value longer than TEXT_BYTES makes the record invalid.
  const texts = shape.inputs.map((i) => i.schema.fields.filter((f) => f.type === "text").map((f) => f.name));
  const keyIsString = shape.keyIsString;
  let tablePartition: (p: number) => boolean = () => false;
  let globalPartition: (p: number) => boolean = () => false;
  const names = shape.outputs;
  const identity: Record<string, string> = {};
  for (const o of names.slice(1)) identity[o] = o;
  const edges = shape.repartitions.length;
  if (edgeTopics !== undefined && edgeTopics.length !== edges) throw new TopologyError(`${edges} repartition edges, ${edgeTopics.length} topics for them`);
  const viaKafka = edgeTopics !== undefined && edges > 0;
  for (const t of edgeTopics ?? []) identity[t] = t;
  const nText = shape.textFields.length;
  return {
    name: `dsl:${modulePath}`,
    description: `DSL topology ${modulePath}`,
    schema: { name: "dsl-inputs", fields: shape.fields },
    window: { sizeMs: 0, graceMs: 0 },
    outputs: names,
    processorConfig: {
      module: modulePath, mode: "objects", nodes: shape.nodes, keyIsString, strings: interner.table,
      inputs: JSON.stringify(shape.inputs.map((i) => ({ topic: i.topic, fields: i.schema.fields }))),
      outputs: JSON.stringify(names), textFields: JSON.stringify(shape.textFields), repartitions: JSON.stringify(shape.repartitions),
    },
    shardKey: "_key",
    keyRouted: true,
    textFields: shape.textFields,
    objectBytes: OBJECT_BYTES,
    inputLayout: (capacity) => edges === 0 ? compileLayout([...shape.fields, ...SYSTEM_FIELDS], capacity)
      : compileLayout([...shape.fields, ...SYSTEM_FIELDS, ...REPARTITION_FIELDS], capacity, REPARTITION_BYTES),
    ...(edges > 0 && !viaKafka && {
      repartition: {
        codeBase: names.length, edges, tagBase: shape.inputs.length, byteBase: (capacity: number) => capacity * nText * TEXT_STRIDE, bytes: REPARTITION_BYTES,
        chained: shape.repartitionsChained === true,
      },
    }),

    setTablePartitions(isTable, isGlobal) {
      tablePartition = isTable;
      globalPartition = isGlobal;
    },
    eventTimePartition: (p) => !tablePartition(p),
    closeAt: (st) => (shape.stateSpanMs === -Infinity ? -Infinity : st + shape.stateSpanMs),
    bootstrapPartition: (p) => tablePartition(p),
    broadcastPartition: (p) => globalPartition(p),

    // Edge kernel: a batch holds records of one partition, so of one input (tagged in `_src`).
    prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
      const ts = columns["_ts"] as Float64Array;
      const key = columns["_key"] as Uint32Array;
      const wmOut = columns["_wm"] as Float64Array;
      const reason = columns["_reason"] as Uint8Array;
      const src = (columns["_src"] as Uint8Array)[0]!;
      const table = tables[src] === true;
      // A repartition topic's records (tags after the inputs') have no key or text columns to check.
      const myTexts = texts[src] ?? [];
      const moved = src >= tables.length;
      let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
      const other = +otherMin;
      // A table's records see the streams' watermark (they never hold it back).
      const tableWm = otherMin === Infinity ? -Infinity : otherMin;
      for (let i = 0; i < n; i++) {
        const t = ts[i]!;
        let r = !table && !(t >= 0 && t - t === 0) ? DSL_BAD_TIMESTAMP : keyIsString && key[i] === 0 && !moved ? DSL_NO_KEY : 0;
        for (let f = 0; r === 0 && f < myTexts.length; f++) if (columns[myTexts[f]!]![i] === TEXT_TOO_LONG) r = DSL_TEXT_TOO_LONG;
        reason[i] = r;
        if (table) {
          wmOut[i] = tableWm;
          continue;
        }
        if (r === 0 && t > st) st = t;
        wmOut[i] = st < other ? st : other;
      }
      return st;
    },

    renderWindow(): Output {
      throw new TopologyError("a topology in its general form sends no merged window results");
    },

    renderObject(code: number, text: string, out: OutputColumns, i: number): Output {
      if (viaKafka && code >= names.length) {
        // A record crossing an edge: keyed by its new key (the partitioner puts every record of a
        // key in one partition of the topic, in order), its event time with it.
        const kv = JSON.parse(text) as [unknown, unknown];
        return { type: edgeTopics[code - names.length]!, key: typeof kv[0] === "string" ? kv[0] : JSON.stringify(kv[0]), value: kv, timestamp: out.c[i]! };
      }
      const { k, v } = JSON.parse(text) as { k: unknown; v: unknown };
      if (code === OBJECT_INVALID) {
        const err = v as { error?: string; topic?: string };
        return { type: "invalid", reason: `${REASONS[3]}: ${err.error ?? "?"}`, event: err };
      }
      const o: Output = { type: names[code] ?? `output-${code}`, key: k, value: v, timestamp: out.c[i]! };
      if (!Number.isNaN(out.d[i]!)) {
        o["windowStart"] = out.d[i]!;
        o["windowEnd"] = out.e[i]!;
      }
      return o;
    },

    objectName: (code) => names[code] ?? edgeTopics?.[code - names.length] ?? `output-${code}`,

    renderSide(out: OutputColumns, i: number, event: unknown): Output {
      if (out.kind[i] === OUT_LATE) return { type: "late", event };
      return { type: "invalid", reason: REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
    },

    eventFromRecord(out: OutputColumns, i: number, str: (id: number) => string): unknown {
      return { key: keyIsString ? str(out.key[i]!) : out.key[i]!, timestamp: out.a[i]! };
    },

    outputKey(output: Output): string | null {
      const k = output["key"];
      return typeof k === "string" ? k : typeof k === "number" ? String(k) : null;
    },

    outputTopics: () => identity,

    sideName: (kind) => (kind === OUT_INVALID ? "invalid" : kind === OUT_LATE ? "late" : "unknown"),
  };
}

/**
 * Reads the messages of repartition edge `edge`'s topic (objectPipeline's `edgeTopics`: `{ key,
 * value: [k, v], timestamp }`) into input records tagged with the edge, as the coordinator writes
 * records it moves (repartition-router.ts fill): `[k, v]` as JSON in the slot's byte area (`_rpo`,
 * `_rpl`), the event time in `_ts`. False when the batch's byte area is full. A message of another
 * shape fails the run (RepartitionRecordError: the topic is internal).
 */
export function repartitionDecoder(shape: ObjectShape, edge: number, topic: string): MessageDecoder {
  const tag = shape.inputs.length + edge;
  const nText = shape.textFields.length;
  let used = 0;
  return (value, raw, columns, n) => {
    if (n === 0) used = 0;
    const m = value as { value?: unknown; timestamp?: unknown } | null;
    // (A timestamp JSON could not carry, null, is the engine's: the edge kernel makes that record invalid, as before it crossed.)
    if (!Array.isArray(m?.value) || m.value.length !== 2 || (typeof m.timestamp !== "number" && m.timestamp !== null)) {
      throw new RepartitionRecordError(topic, `not { value: [key, value], timestamp }: ${raw.toString("utf8", 0, Math.min(raw.length, 120))}`);
    }
    const text = JSON.stringify(m.value);
    const ts = columns["_ts"] as Float64Array;
    const base = ts.length * nText * TEXT_STRIDE;
    const blob = blobBuffer(columns);
    const bytes = Buffer.byteLength(text);
    if (base + used + bytes > blob.length) return false;
    blob.write(text, base + used);
    (columns["_rpo"] as Uint32Array)[n] = used;
    (columns["_rpl"] as Uint32Array)[n] = bytes;
    used += bytes;
    (columns["_src"] as Uint8Array)[n] = tag;
    (columns["_key"] as Uint32Array)[n] = 0;
    ts[n] = m.timestamp ?? NaN;
    return true;
  };
}

/**
 * Input k of the topology: tags each record it writes with k (`_src`) and copies its key and time
 * fields to `_key` and `_ts` (once per batch, no allocation), so one layout serves every input.
 */
export class TaggedSource implements Source {
  readonly partitions: number;
  /** The inner source's bound (it may change: KafkaSource). */
  get maxInFlight(): number {
    return this.inner.maxInFlight;
  }
  position?: (p: number) => number;
  commit?: (positions: ReadonlyArray<readonly [number, number]>) => Promise<void>;
  enteredAt?: (p: number) => number;
  enteredRuns?: Source["enteredRuns"];
  whenData?: Source["whenData"];
  assigned?: (p: number) => boolean;
  caughtUp?: (p: number) => boolean | undefined;

  constructor(readonly inner: Source, private readonly index: number, private readonly input: EngineInput) {
    this.partitions = inner.partitions;
    if (inner.position) this.position = (p) => inner.position!(p);
    // A table's offsets are never committed: it is read from the beginning on every start (its
    // topic is its changelog, as Kafka Streams restores a source table), so a restart has it whole.
    // So are the streams feeding a KTable aggregate (EngineInput.reread).
    if (inner.commit) this.commit = input.reread ? async () => {} : (ps) => inner.commit!(ps);
    if (inner.enteredAt) this.enteredAt = (p) => inner.enteredAt!(p);
    if (inner.enteredRuns) this.enteredRuns = (p, ts, count, at, max) => inner.enteredRuns!(p, ts, count, at, max);
    if (inner.whenData) this.whenData = (ms) => inner.whenData!(ms);
    if (inner.assigned) this.assigned = (p) => inner.assigned!(p);
    if (inner.caughtUp) this.caughtUp = (p) => inner.caughtUp!(p);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = this.inner.fill(p, columns, max);
    if (n === 0) return 0;
    (columns["_src"] as Uint8Array).fill(this.index, 0, n);
    const key = columns[this.input.keyField]!;
    const k = columns["_key"] as Uint32Array;
    for (let i = 0; i < n; i++) k[i] = key[i]!;
    const ts = columns["_ts"] as Float64Array;
    if (this.input.timestampField === undefined) ts.fill(0, 0, n);
    else {
      const t = columns[this.input.timestampField]!;
      for (let i = 0; i < n; i++) ts[i] = t[i]!;
    }
    return n;
  }

  exhausted(): boolean {
    return this.inner.exhausted();
  }

  event(out: OutputColumns, i: number): unknown {
    return this.inner.event(out, i);
  }

  attach(hooks: SourceHooks): void {
    this.inner.attach?.(hooks);
  }

  idName(field: string, id: number): string {
    return this.inner.idName ? this.inner.idName(field, id) : String(id);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Which input a topology reads from a topic, or a TopologyError naming the topics it reads. */
export function inputIndex(shape: ObjectShape, topic: string): number {
  const k = shape.inputs.findIndex((i) => i.topic === topic);
  if (k < 0) throw new TopologyError(`the topology reads no topic ${JSON.stringify(topic)} (it reads ${shape.inputs.map((i) => i.topic).join(", ")})`);
  return k;
}
