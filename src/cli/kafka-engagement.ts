/**
 * engagement-analytics on Kafka: `--input-topic VIEWS,METADATA[,INTERACTIONS]`.
 *
 * The interactions topic (optional third) is read like the second topic of the ride pipelines
 * (kafka-rides.ts): its own consumer (group `<group>.interactions`) interning into the views
 * source's string table (the same ids for the same users and contents), and one MultiSource over
 * both, each side tagging its records with its stream (`_src`, spec.ts) so a record's kind is its
 * topic's. The two topics must be co-partitioned (same partition count, keyed by userId): partition
 * q of both goes to one shard, and the two are read aligned on event time (AlignedStreams below).
 * Before the run, both consumers wait (bounded) for their assignment, so neither topic is left out
 * of the watermark while the other runs ahead.
 *
 * The content-metadata topic is read as a table, the way a Kafka
 * Streams GlobalKTable is read: a consumer of its own (group `<group>.content-metadata`, never
 * committing, so every start reads the compacted topic from its beginning) fills the ContentTable
 * up to the topic's end before the run starts, then keeps applying updates and tombstones while
 * the run goes on. Messages that are not {contentId, title, genre} JSON or a keyed tombstone are
 * logged (`content-metadata-invalid`) and change nothing.
 */
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { ContentTable } from "../pipelines/engagement/content-table.js";
import { KIND_INTERACTION, KIND_VIEW } from "../pipelines/engagement/spec.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { KafkaSource } from "../sources/kafka-source.js";
import { MultiSource } from "../sources/multi-source.js";
import type { Source, SourceHooks } from "../sources/source.js";
import { addInputTopic } from "./kafka-rides.js";
import { ensureTopic, type KafkaRunSetup } from "./kafka.js";

export interface ContentTableReader {
  readonly table: ContentTable;
  /** Messages applied and refused so far. */
  readonly counts: { applied: number; invalid: number };
  close(): Promise<void>;
}

export async function startContentTable(opts: {
  brokers: string; topic: string; group: string; partitions: number | undefined;
  onLog: (event: string, detail: Record<string, unknown>) => void;
  /** How long the initial read to the topic's end may take. @default 60000 */
  bootstrapTimeoutMs?: number;
}): Promise<ContentTableReader> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: opts.brokers });
  await admin.connect();
  let partitions: number;
  try {
    partitions = await ensureTopic(admin, opts.topic, opts.partitions ?? 1, { "cleanup.policy": "compact" });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const consumer = rdkafkaClientFactory.createConsumer({
    brokers: opts.brokers, groupId: `${opts.group}.content-metadata`, autoOffsetReset: "earliest",
    onError: (err) => opts.onLog("kafka-error", { error: err.message, consumer: "content-metadata" }),
  });
  await consumer.connect();
  consumer.subscribe([opts.topic]);
  const table = new ContentTable();
  const counts = { applied: 0, invalid: 0 };
  const next = new Float64Array(partitions);
  const apply = (msgs: Awaited<ReturnType<typeof consumer.consume>>): void => {
    for (const m of msgs) {
      next[m.partition] = m.offset + 1;
      const err = table.apply(m.key ? m.key.toString() : null, m.value === null ? null : m.value.toString());
      if (err === undefined) counts.applied++;
      else {
        counts.invalid++;
        opts.onLog("content-metadata-invalid", { topic: m.topic, partition: m.partition, offset: m.offset, error: err });
      }
    }
  };
  // A topic just created may still answer "unknown topic or partition" for a moment: read again.
  const read = async (max: number): Promise<void> => {
    try {
      apply(await consumer.consume(max, 200));
    } catch (err) {
      if ((err as { kafkaCode?: number }).kafkaCode !== 3) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  // Bootstrap: read to the end offsets as they were when the run started.
  const limit = opts.bootstrapTimeoutMs ?? 60_000;
  const deadline = Date.now() + limit;
  const high: number[] = [];
  for (let p = 0; p < partitions; p++) high.push((await consumer.queryWatermarks!(opts.topic, p)).high);
  while (high.some((h, p) => next[p]! < h)) {
    if (Date.now() > deadline) {
      await consumer.disconnect().catch(() => undefined);
      throw new Error(`the content-metadata table ${opts.topic} was not read to its end within ${limit} ms`);
    }
    await read(1000);
  }
  opts.onLog("content-metadata-loaded", { topic: opts.topic, contents: table.size, messages: counts.applied + counts.invalid });
  let closed = false;
  // Following the table: an error is logged and reading goes on (the table only lags meanwhile).
  const loop = (async () => {
    while (!closed) {
      try {
        await read(500);
      } catch (err) {
        if (closed) break;
        opts.onLog("kafka-error", { error: String((err as Error)?.message ?? err), consumer: "content-metadata" });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  return {
    table, counts,
    async close() {
      closed = true;
      await loop;
      await consumer.disconnect().catch(() => undefined);
    },
  };
}

const STAGE = 4096;
/** How long a side waits at the start for the other side's first records of a partition. */
/** How long one side waits for the other's next records once the other has delivered some (a fetch gap). */
const CATCH_UP_WAIT_MS = 2_000;
const FIRST_RECORDS_WAIT_MS = 3000;

/**
 * Time-aligned reading of the views and interactions topics (as Kafka Streams picks the record with
 * the smallest timestamp among a task's partitions): partition q of each side is read into a
 * staging buffer, and a side hands the coordinator only its staged records with ts up to the other
 * side's next staged ts (views win ties), so that a user's views and interactions enter in event
 * time order however the consumers fetch. Without that, a batch of the sparser stream covers far
 * more event time than one of the other, and a user's session would see an interaction from an
 * hour ahead close it early. A side whose partner has nothing staged refills the partner from its
 * consumer's queue; if that is empty too it goes on, except before the partner's first records of
 * that partition (then it waits up to FIRST_RECORDS_WAIT_MS, so that a consumer still starting
 * does not let the other topic run ahead). A partner not assigned or finished never holds a side.
 * Staged records are not yet given out: position() stops at the first of them.
 *
 * Exactly-once: the snapshot names, per side and partition, the frame read in part at the position
 * (partial(): its offset and the records of it already handed out, which a restart skips). Staged
 * records are not handed out, so this is counted here, not by the KafkaSource (which read them):
 * `startWithin` records of the first staged message were handed out before the stage was filled,
 * and `carryOff`/`carryWithin` name the message the KafkaSource had read in part at the last fill.
 */
class AlignedStreams {
  readonly stage: Array<Array<Record<string, ColumnArray>>>;
  readonly head: Int32Array[];
  readonly count: Int32Array[];
  readonly delivered: Uint8Array[];
  readonly waitingSince: Float64Array[];
  readonly names: string[];
  readonly sides: KafkaSource[];
  /** Records of the first staged message handed out before the stage was filled (a frame read on). */
  readonly startWithin: Int32Array[];
  /** The message the KafkaSource had read in part at its last fill (-1: none), and how far. */
  readonly carryOff: Float64Array[];
  readonly carryWithin: Int32Array[];

  constructor(views: KafkaSource, interactions: KafkaSource, pipeline: PipelineDefinition) {
    const layout = pipeline.inputLayout(STAGE);
    this.names = layout.columns.map((c) => c.name);
    const make = (): Record<string, ColumnArray> => {
      const cols: Record<string, ColumnArray> = {};
      for (const c of layout.columns) {
        cols[c.name] = c.type === "f64" ? new Float64Array(STAGE) : c.type === "f32" ? new Float32Array(STAGE)
          : c.type === "i32" ? new Int32Array(STAGE) : c.type === "u8" ? new Uint8Array(STAGE) : new Uint32Array(STAGE);
      }
      return cols;
    };
    const P = views.partitions;
    this.sides = [views, interactions];
    this.stage = [0, 1].map(() => Array.from({ length: P }, make));
    this.head = [new Int32Array(P), new Int32Array(P)];
    this.count = [new Int32Array(P), new Int32Array(P)];
    this.delivered = [new Uint8Array(P), new Uint8Array(P)];
    this.waitingSince = [new Float64Array(P), new Float64Array(P)];
    this.startWithin = [new Int32Array(P), new Int32Array(P)];
    this.carryOff = [new Float64Array(P).fill(-1), new Float64Array(P).fill(-1)];
    this.carryWithin = [new Int32Array(P), new Int32Array(P)];
  }

  /** Records staged on side s, partition q, refilled from the consumer's queue when none are. */
  staged(s: number, q: number): number {
    const head = this.head[s]!, count = this.count[s]!;
    if (head[q]! < count[q]!) return count[q]! - head[q]!;
    const inner = this.sides[s]!;
    if (!inner.assigned(q)) {
      head[q] = count[q] = 0;
      this.carryOff[s]![q] = -1; // revoked: the KafkaSource dropped what it had read
      return 0;
    }
    const n = inner.fill(q, this.stage[s]![q]!, STAGE);
    head[q] = 0;
    count[q] = n;
    if (n > 0) {
      this.delivered[s]![q] = 1;
      const off = this.stage[s]![q]!["_off"] as Float64Array;
      const carryOff = this.carryOff[s]!, carryWithin = this.carryWithin[s]!;
      const start = off[0] === carryOff[q] ? carryWithin[q]! : 0;
      this.startWithin[s]![q] = start;
      // The last message read in part (the source's position is still its offset): how far.
      const last = off[n - 1]!;
      if (inner.position(q) === last) {
        let k = n - 1;
        while (k > 0 && off[k - 1] === last) k--;
        carryOff[q] = last;
        carryWithin[q] = n - k + (k === 0 ? start : 0);
      } else {
        carryOff[q] = -1;
      }
    }
    return n;
  }

  /** Side s's frames read in part at its positions, [partition, offset, records handed out] (exactly-once snapshot). */
  partial(s: number): number[][] {
    const out: number[][] = [];
    const P = this.head[s]!.length;
    for (let q = 0; q < P; q++) {
      if (!this.sides[s]!.assigned(q)) continue;
      const head = this.head[s]![q]!;
      if (head < this.count[s]![q]!) {
        const off = this.stage[s]![q]!["_off"] as Float64Array;
        const at = off[head]!;
        let k = head;
        while (k > 0 && off[k - 1] === at) k--;
        const within = head - k + (k === 0 ? this.startWithin[s]![q]! : 0);
        if (within > 0) out.push([q, at, within]);
      } else if (this.carryOff[s]![q]! >= 0) {
        out.push([q, this.carryOff[s]![q]!, this.carryWithin[s]![q]!]);
      }
    }
    return out;
  }

  /** Restored state: side s's frames read in part (the KafkaSource resumes inside them). */
  resume(s: number, partial: unknown): void {
    if (!Array.isArray(partial)) return;
    for (const [q, offset, within] of partial as number[][]) {
      if (q! >= 0 && q! < this.carryOff[s]!.length) { this.carryOff[s]![q!] = offset!; this.carryWithin[s]![q!] = within!; }
    }
  }

  /** Side s, partition q may hand out records with ts up to (views) / below (interactions) this; NaN: wait. */
  bound(s: number, q: number): number {
    const o = 1 - s;
    const since = this.waitingSince[s]!;
    if (this.staged(o, q) > 0) {
      since[q] = 0;
      return (this.stage[o]![q]!["ts"] as Float64Array)[this.head[o]![q]!]!;
    }
    const other = this.sides[o]!;
    if (other.exhausted() || !other.assigned(q)) return Infinity;
    // The other side has nothing fetched right now: wait for it, bounded (as Kafka Streams'
    // max.task.idle.ms), so that a fetch gap under load does not let this side run ahead and split
    // sessions; once the wait ran out this side goes on until the other has records again.
    const now = Date.now();
    if (since[q] === 0) since[q] = now;
    const limit = this.delivered[o]![q] === 1 ? CATCH_UP_WAIT_MS : FIRST_RECORDS_WAIT_MS;
    return now - since[q]! >= limit ? Infinity : NaN;
  }

  /** Hands out up to `max` staged records of side s, partition q into `columns`, tagged `kind`. */
  take(s: number, q: number, columns: Record<string, ColumnArray>, max: number, kind: number): number {
    if (this.staged(s, q) === 0) return 0;
    const bound = this.bound(s, q);
    if (bound !== bound) return 0;
    const from = this.stage[s]![q]!;
    const ts = from["ts"] as Float64Array;
    const head = this.head[s]![q]!;
    const end = Math.min(this.count[s]![q]!, head + max);
    let k = head;
    // Views: ts ≤ bound; interactions: ts < bound (a NaN ts never waits).
    if (s === 0) while (k < end && !(ts[k]! > bound)) k++;
    else while (k < end && !(ts[k]! >= bound)) k++;
    const n = k - head;
    if (n === 0) return 0;
    for (const name of this.names) {
      const src = from[name]!, dst = columns[name]!;
      for (let i = 0; i < n; i++) dst[i] = src[head + i]!;
    }
    (columns["_src"] as Uint8Array).fill(kind, 0, n);
    this.head[s]![q] = k;
    return n;
  }

  /** The offset to commit for side s, partition q: the first record still staged, else the consumer's. */
  position(s: number, q: number): number {
    const head = this.head[s]![q]!;
    if (head < this.count[s]![q]!) return (this.stage[s]![q]!["_off"] as Float64Array)[head]!;
    return this.sides[s]!.position(q);
  }

  exhausted(s: number): boolean {
    for (let q = 0; q < this.head[s]!.length; q++) if (this.head[s]![q]! < this.count[s]![q]!) return false;
    return this.sides[s]!.exhausted();
  }
}

/** One side (views 0, interactions 1) of AlignedStreams as a source; its records tagged with their stream (`_src`). */
class StreamSource implements Source {
  readonly partitions: number;
  readonly maxInFlight: number;
  position?: (p: number) => number;
  commit?: (positions: ReadonlyArray<readonly [number, number]>) => Promise<void>;
  enteredAt?: (p: number) => number;
  assigned?: (p: number) => boolean;

  constructor(private readonly aligned: AlignedStreams, private readonly side: number, private readonly kind: number) {
    const inner = aligned.sides[side]!;
    this.partitions = inner.partitions;
    this.maxInFlight = inner.maxInFlight - STAGE;
    this.position = (p) => aligned.position(side, p);
    this.commit = (ps) => inner.commit(ps);
    this.enteredAt = (p) => inner.enteredAt(p);
    this.assigned = (p) => inner.assigned(p);
  }

  private get inner(): KafkaSource {
    return this.aligned.sides[this.side]!;
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    return this.aligned.take(this.side, p, columns, max, this.kind);
  }

  exhausted(): boolean {
    return this.aligned.exhausted(this.side);
  }

  event(out: OutputColumns, i: number): unknown {
    return this.inner.event(out, i);
  }

  idName(_field: string, id: number): string {
    return this.inner.interner.name(id);
  }

  attach(hooks: SourceHooks): void {
    this.inner.attach(hooks);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
/** Waits (bounded) until the source has a partition assigned. */
async function assignedOrTimeout(source: { partitions: number; assigned(p: number): boolean }, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    for (let p = 0; p < source.partitions; p++) if (source.assigned(p)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The interactions topic beside the views of `kafka` (the ordinary run setup): returns the source
 * over both (views partitions first). Refuses an interactions topic that is not co-partitioned.
 */
export async function addInteractionsTopic(kafka: KafkaRunSetup, opts: {
  brokers: string; topic: string; group: string; stopWhenIdleMs: number | undefined;
  pipeline: PipelineDefinition; onLog: (event: string, detail: Record<string, unknown>) => void;
}): Promise<{ source: MultiSource; close(): Promise<void> }> {
  const views = kafka.source;
  const second = await addInputTopic(kafka.sink, {
    ...opts, partitions: views.partitions, interner: views.interner, groupSuffix: "interactions", transactions: kafka.transactions,
  });
  if (second.source.partitions !== views.partitions) {
    await second.close();
    throw new Error(`the interactions topic ${opts.topic} has ${second.source.partitions} partitions and the views topic ${views.partitions}: `
      + "engagement-analytics joins them by user on one shard, they must be co-partitioned (the same partition count, keyed by userId)");
  }
  await assignedOrTimeout(views);
  await assignedOrTimeout(second.source);
  const aligned = new AlignedStreams(views, second.source, opts.pipeline);
  // Exactly-once: what each side has handed out (not what its KafkaSource read) is in the snapshot.
  for (const [s, source] of [views, second.source].entries()) {
    kafka.transactions?.replaceSource(source, {
      interner: views.interner,
      exportState: () => ({ names: views.interner.exportNames(), partial: aligned.partial(s) }),
      importState: (state) => aligned.resume(s, (state as { partial?: unknown } | null)?.partial),
    });
  }
  return { source: new MultiSource([new StreamSource(aligned, 0, KIND_VIEW), new StreamSource(aligned, 1, KIND_INTERACTION)]), close: second.close };
}
