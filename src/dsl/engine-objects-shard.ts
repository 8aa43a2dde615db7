/**
 * A DSL topology in its general form inside a shard worker (the worker half of engine-objects.ts):
 * records of every input, tagged with their input in `_src`, become plain objects for the
 * TopologyExecutor (the code the TopologyTestDriver runs); what it emits goes back as JSON text in
 * the output ring's byte area, one output code per topic.
 *
 * User functions see objects and their joins keep them, so a record costs an object here (the
 * typed path without one is engine-shard.ts, for a single windowed numeric aggregate).
 *
 * Repartitioning (repartition.ts): a record crossing an edge leaves as an internal output (JSON of
 * key and value, the key's hash for the coordinator to route by) and comes back, on the shard of
 * its key, in a batch tagged with the edge, to be injected into the edge's operator. Such a
 * topology's operators run at the watermark in the batch header's H_AUX0 (`auxWatermark`), the
 * one every shard has passed, so that no record still crossing is behind it.
 */
import type { ShardProcessor, ProcessorConfig } from "../pipelines/processor.js";
import { OUT_INVALID, type OutputWriter } from "../ring/output.js";
import { blobBuffer, TEXT_STRIDE, type ColumnArray, type FieldSpec } from "../schema/schema.js";
import { DSL_NOT_SERIALISABLE, DSL_OUTPUT_TOO_LARGE, storeKeyCodec, writeObjectOutput } from "./engine-common.js";
import { ERROR_TOPIC, TopologyExecutor } from "./executor.js";
import { keyHash } from "./repartition.js";
import type { Topology } from "./plan.js";
import { SharedStrings } from "./shared-strings.js";
import { Windowed } from "./windows.js";
import { OBJECT_INVALID } from "./engine-objects.js";
import { taskedConfig } from "../pipelines/tasked-processor.js";

interface Input {
  topic: string;
  fields: FieldSpec[];
  cols: ColumnArray[];
  /** Per field, its place among the layout's text fields (-1 for other types). */
  textOrdinal: number[];
}

export class DslObjectProcessor implements ShardProcessor {
  private readonly executor: TopologyExecutor;
  /** Key codes of the typed stores in checkpoints. */
  private readonly keys: ReturnType<typeof storeKeyCodec>;
  private readonly strings: SharedStrings;
  private readonly inputs: Input[];
  private readonly codes = new Map<string, number>();
  private readonly keyIsString: boolean;
  private readonly nText: number;
  private out: OutputWriter | undefined;
  private partition = 0;
  private off = 0;
  private keyId = 0;
  /** Repartition edges: their output codes start here, their input tags after the inputs'. */
  private readonly edgeCodeBase: number;
  /** True when the topology repartitions: operators then run at the header's H_AUX0 watermark (workers/shard.ts). */
  readonly auxWatermark: boolean;

  /** @param globalTables shared by the tasks of one shard (ExecutorOptions.globalTables) */
  constructor(topology: Topology, config: ProcessorConfig, globalTables?: Map<number, unknown>) {
    this.strings = new SharedStrings(config["strings"] as SharedArrayBuffer);
    // State per partition moves between processes, whose string tables differ: keys go as JSON.
    this.keys = taskedConfig(config) !== undefined ? { encode: () => NaN, decode: () => undefined } : storeKeyCodec(this.strings);
    this.keyIsString = config["keyIsString"] === true;
    const inputs = JSON.parse(config["inputs"] as string) as { topic: string; fields: FieldSpec[] }[];
    const texts = JSON.parse((config["textFields"] as string | undefined) ?? "[]") as string[];
    this.nText = texts.length;
    this.inputs = inputs.map((i) => ({ ...i, cols: [], textOrdinal: i.fields.map((f) => texts.indexOf(f.name)) }));
    const outputs = JSON.parse(config["outputs"] as string) as string[];
    outputs.forEach((name, code) => { if (code > 0) this.codes.set(name, code); });
    const edges = JSON.parse((config["repartitions"] as string | undefined) ?? "[]") as string[];
    this.edgeCodeBase = outputs.length;
    edges.forEach((name, i) => this.codes.set(name, outputs.length + i));
    this.auxWatermark = edges.length > 0;
    this.executor = new TopologyExecutor(topology, (topic, key, value, ts) => this.emit(topic, key, value, ts), { repartition: true, ...(globalTables && { globalTables }) });
    if (this.executor.repartitionEdges.length !== edges.length) {
      throw new Error(`the worker found ${this.executor.repartitionEdges.length} repartition edges where the coordinator planned ${edges.length}`);
    }
  }

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    if (n === 0) return;
    this.out = out;
    this.partition = partition;
    const tag = (columns["_src"] as Uint8Array)[0]!;
    if (tag >= this.inputs.length) {
      this.injectBatch(columns, n);
      return;
    }
    const input = this.inputs[tag]!;
    const fields = input.fields;
    const cols = input.cols;
    for (let f = 0; f < fields.length; f++) cols[f] = columns[fields[f]!.name]!;
    const key = columns["_key"] as Uint32Array;
    const ts = columns["_ts"] as Float64Array;
    const wm = columns["_wm"] as Float64Array;
    const off = columns["_off"] as Float64Array;
    const reason = columns["_reason"] as Uint8Array;
    const ex = this.executor;
    const nText = this.nText;
    const blob = nText > 0 ? blobBuffer(columns) : undefined;
    for (let i = 0; i < n; i++) {
      this.off = off[i]!;
      this.keyId = key[i]!;
      if (reason[i] !== 0) {
        out.side(OUT_INVALID, reason[i]!, key[i]!, partition, off[i]!, ts[i]!, NaN, NaN, NaN, 0, 0);
        continue;
      }
      const value: Record<string, unknown> = {};
      for (let f = 0; f < fields.length; f++) {
        const x = cols[f]![i]!;
        const type = fields[f]!.type;
        if (type === "text") {
          const at = (i * nText + input.textOrdinal[f]!) * TEXT_STRIDE;
          value[fields[f]!.name] = x === 0 ? "" : blob!.toString("utf8", at, at + x - 1);
        } else value[fields[f]!.name] = type === "string" ? this.strings.name(x) : x;
      }
      // With repartitions the batch's H_AUX0 watermark (already applied) is the one operators use.
      ex.process(input.topic, this.keyIsString ? this.strings.name(key[i]!) : key[i]!, value, ts[i]!, this.auxWatermark ? -Infinity : wm[i]!, true);
    }
  }

  /** A batch of records that crossed repartition edges to this shard: each enters its edge's operator. */
  private injectBatch(columns: Record<string, ColumnArray>, n: number): void {
    const src = columns["_src"] as Uint8Array;
    const ts = columns["_ts"] as Float64Array;
    const off = columns["_off"] as Float64Array;
    const at = columns["_rpo"] as Uint32Array;
    const len = columns["_rpl"] as Uint32Array;
    const blob = blobBuffer(columns);
    const base = this.nText * TEXT_STRIDE * ts.length;
    const tagBase = this.inputs.length;
    for (let i = 0; i < n; i++) {
      this.off = off[i]!;
      this.keyId = 0;
      const from = base + at[i]!;
      const kv = JSON.parse(blob.toString("utf8", from, from + len[i]!)) as [unknown, unknown];
      this.executor.inject(src[i]! - tagBase, kv[0], kv[1], ts[i]!);
    }
  }

  private emit(topic: string, key: unknown, value: unknown, ts: number): void {
    const out = this.out!;
    const code = topic === ERROR_TOPIC ? OBJECT_INVALID : this.codes.get(topic);
    if (code === undefined) return; // the executor's own invalid topic: the edge already checked event time
    if (code >= this.edgeCodeBase) {
      this.emitMoving(code, key, value, ts);
      return;
    }
    let k = key;
    let start = NaN;
    let end = NaN;
    if (key instanceof Windowed) {
      k = key.key;
      start = key.window.start;
      end = key.window.end;
    }
    writeObjectOutput(out, code, k, value, ts, start, end, this.keyId, this.partition, this.off);
  }

  /**
   * A record leaving through a repartition edge: `[k, v]` as JSON, in `d` the hash of the key (of
   * a string key itself, else of its JSON: equal keys, equal hashes).
   */
  private emitMoving(code: number, key: unknown, value: unknown, ts: number): void {
    const out = this.out!;
    let text: string;
    let hash: number;
    try {
      if (!jsonable(key) || !jsonable(value)) throw new TypeError("not JSON");
      text = JSON.stringify([key ?? null, value ?? null]);
      hash = keyHash(typeof key === "string" ? key : JSON.stringify(key ?? null));
    } catch {
      out.side(OUT_INVALID, DSL_NOT_SERIALISABLE, this.keyId, this.partition, this.off, ts, NaN, NaN, NaN, 0, 0);
      return;
    }
    if (!out.object(code, this.partition, this.off, ts, hash, NaN, text)) {
      out.side(OUT_INVALID, DSL_OUTPUT_TOO_LARGE, this.keyId, this.partition, this.off, ts, NaN, NaN, NaN, 0, 0);
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

  stateEntries(): number {
    let e = 0;
    for (const s of this.executor.stores()) e += s.entries;
    return e;
  }

  /**
   * Checkpoints for worker recovery (workers/shard.ts): the executor writes every store (object
   * stores as JSON, typed window stores with these key codes); -1 only when the state does not fit
   * the area or holds a value JSON cannot carry (the executor's snapshotError says which).
   */
  snapshot(into: Float64Array): number {
    return this.executor.snapshot(into, this.keys.encode);
  }

  restore(from: Float64Array): void {
    this.executor.restore(from, this.keys.decode);
  }
}

/** False for what JSON would silently turn into null (a function, a symbol). */
function jsonable(x: unknown): boolean {
  return typeof x !== "function" && typeof x !== "symbol";
}
