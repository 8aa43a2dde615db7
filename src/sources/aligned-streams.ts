/**
 * Time-aligned reading of two Kafka topics (as Kafka Streams picks, among a task's partitions, the
 * record with the smallest timestamp): each partition of each side is read into a staging buffer,
 * and a side hands the coordinator only its staged records with ts up to its partners' next staged
 * ts (side 0 wins ties), so that the two streams enter in event-time order however the consumers
 * fetch. Without that, a batch of the sparser stream covers far more event time than one of the
 * other, and what a record meets on the other side depends on fetch timing: a user's session would
 * see an interaction from an hour ahead close it early, and the ride requests a driver's location
 * is matched against would depend on which consumer joined its group first.
 *
 * Partners of side s, partition q: partition q of the other side (`copartitioned`: the topics are
 * keyed alike, the state of a key lives with its partition), or every partition of the other side
 * (`all`: one state for the whole stream, e.g. driver-eta's matching).
 *
 * A partner with nothing staged is refilled from its consumer's queue. If that is empty too, the
 * side waits for it only while the partner has records still on their way or does not know yet
 * (KafkaSource.fetchState(), as Kafka Streams' max.task.idle.ms = 0 waits for a partition with
 * lag, or whose lag is not known yet): a partner caught up, not assigned or finished never holds a
 * side. The wait is bounded: UNKNOWN_END_WAIT_MS while the partner's consumer has had no fetch
 * response for it (a consumer still starting, under load, must not let the other topic run
 * ahead), FIRST_RECORDS_WAIT_MS before its first records, CATCH_UP_WAIT_MS after (a fetch gap
 * under load, or a transaction marker at the end of a partner read read_committed, which counts
 * as to come and never arrives); once it ran out the side goes on until the partner has records
 * again.
 * Staged records are not yet given out: position() stops at the first of them.
 *
 * Exactly-once: the snapshot names, per side and partition, the frame read in part at the position
 * (partial(): its offset and the records of it already handed out, which a restart skips). Staged
 * records are not handed out, so this is counted here, not by the KafkaSource (which read them):
 * `startWithin` records of the first staged message were handed out before the stage was filled,
 * and `carryOff`/`carryWithin` name the message the KafkaSource had read in part at the last fill.
 */
import type { KafkaTransactions } from "../io/kafka/transactions.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import { ENTRY_RUNS, EntryRuns } from "../metrics/entry-runs.js";
import { transientState } from "../schema/interner.js";
import type { KafkaSource } from "./kafka-source.js";
import { MultiSource } from "./multi-source.js";
import type { Source, SourceHooks } from "./source.js";

const STAGE = 4096;
/** How long a side waits for a partner partition its consumer has had no fetch response for yet. */
const UNKNOWN_END_WAIT_MS = 30_000;
/** How long a side waits at the start for a partner partition's first records. */
const FIRST_RECORDS_WAIT_MS = 3000;
/** How long one side waits for a partner's next records once the partner has delivered some (a fetch gap). */
const CATCH_UP_WAIT_MS = 2_000;

export type Partners = "copartitioned" | "all";

export class AlignedStreams {
  readonly stage: Array<Array<Record<string, ColumnArray>>>;
  readonly head: Int32Array[];
  readonly count: Int32Array[];
  readonly delivered: Uint8Array[];
  readonly waitingSince: Float64Array[];
  readonly names: string[];
  /** Records of the first staged message handed out before the stage was filled (a frame read on). */
  readonly startWithin: Int32Array[];
  /** The message the KafkaSource had read in part at its last fill (-1: none), and how far. */
  readonly carryOff: Float64Array[];
  readonly carryWithin: Int32Array[];
  /** When each staged record entered (its Kafka timestamp, from the side's entry runs), for latency. */
  readonly entered: Float64Array[][];
  /** The entry times of the records the last take() of side s, partition q handed out, and the oldest. */
  readonly takenRuns: EntryRuns[][];
  readonly takenOldest: Float64Array[];
  private readonly runTs = new Float64Array(ENTRY_RUNS);
  private readonly runCount = new Float64Array(ENTRY_RUNS);

  constructor(readonly sides: readonly [KafkaSource, KafkaSource], pipeline: PipelineDefinition, readonly partners: Partners) {
    if (partners === "copartitioned" && sides[0].partitions !== sides[1].partitions) {
      throw new Error(`co-partitioned topics need the same partition count (${sides[0].partitions} and ${sides[1].partitions})`);
    }
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
    const P = sides.map((s) => s.partitions);
    this.stage = P.map((n) => Array.from({ length: n }, make));
    this.head = P.map((n) => new Int32Array(n));
    this.count = P.map((n) => new Int32Array(n));
    this.delivered = P.map((n) => new Uint8Array(n));
    this.waitingSince = P.map((n) => new Float64Array(n));
    this.startWithin = P.map((n) => new Int32Array(n));
    this.carryOff = P.map((n) => new Float64Array(n).fill(-1));
    this.carryWithin = P.map((n) => new Int32Array(n));
    this.entered = P.map((n) => Array.from({ length: n }, () => new Float64Array(STAGE)));
    this.takenRuns = P.map((n) => Array.from({ length: n }, () => new EntryRuns()));
    this.takenOldest = P.map((n) => new Float64Array(n));
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
      this.noteEntered(s, q, n);
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

  /** Each record just staged on side s, partition q: when it entered (its run's time; else the fill's oldest). */
  private noteEntered(s: number, q: number, n: number): void {
    const inner = this.sides[s]!;
    const entered = this.entered[s]![q]!;
    const k = typeof inner.enteredRuns === "function" ? inner.enteredRuns(q, this.runTs, this.runCount, 0, ENTRY_RUNS) : 0;
    let i = 0;
    for (let r = 0; r < k && i < n; r++) for (let c = 0; c < this.runCount[r]! && i < n; c++) entered[i++] = this.runTs[r]!;
    const oldest = typeof inner.enteredAt === "function" ? inner.enteredAt(q) : 0;
    while (i < n) entered[i++] = oldest;
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

  /** Side s, partition q may hand out records with ts up to (side 0) / below (side 1) this; NaN: wait. */
  bound(s: number, q: number): number {
    const o = 1 - s;
    const other = this.sides[o]!;
    const from = this.partners === "all" ? 0 : q;
    const to = this.partners === "all" ? other.partitions : q + 1;
    let min = Infinity;
    // Partner partitions with nothing staged and records on their way (or not known yet): the
    // longest wait they call for (1 after their first records, 2 before, 3 no fetch response yet).
    let waitFor = 0;
    for (let r = from; r < to; r++) {
      if (this.staged(o, r) > 0) {
        // A record without a time (NaN: invalid, it goes to a side output) at a partner's head
        // holds this side until the partner has handed it out, as any record older than ours.
        const t = (this.stage[o]![r]!["ts"] as Float64Array)[this.head[o]![r]!]!;
        if (!(t >= min)) min = t !== t ? -Infinity : t;
        continue;
      }
      if (other.exhausted() || !other.assigned(r)) continue;
      const state = other.fetchState(r);
      if (state === "caught-up") continue;
      waitFor = Math.max(waitFor, this.delivered[o]![r] === 1 ? 1 : state === "unknown" ? 3 : 2);
    }
    const since = this.waitingSince[s]!;
    if (waitFor === 0) {
      since[q] = 0;
      return min;
    }
    // Bounded (as Kafka Streams' max.task.idle.ms), so that a fetch gap under load does not let
    // this side run ahead; once the wait ran out this side goes on (bounded by the partners that
    // have records staged) until every partner has records again.
    const now = Date.now();
    if (since[q] === 0) since[q] = now;
    const limit = waitFor === 1 ? CATCH_UP_WAIT_MS : waitFor === 2 ? FIRST_RECORDS_WAIT_MS : UNKNOWN_END_WAIT_MS;
    return now - since[q]! >= limit ? min : NaN;
  }

  /** Hands out up to `max` staged records of side s, partition q into `columns`, tagged `kind` in `_src` (if given). */
  take(s: number, q: number, columns: Record<string, ColumnArray>, max: number, kind: number | undefined): number {
    if (this.staged(s, q) === 0) return 0;
    const bound = this.bound(s, q);
    if (bound !== bound) return 0;
    const from = this.stage[s]![q]!;
    const ts = from["ts"] as Float64Array;
    const head = this.head[s]![q]!;
    const end = Math.min(this.count[s]![q]!, head + max);
    let k = head;
    // Side 0: ts ≤ bound; side 1: ts < bound (a NaN ts never waits).
    if (s === 0) while (k < end && !(ts[k]! > bound)) k++;
    else while (k < end && !(ts[k]! >= bound)) k++;
    const n = k - head;
    if (n === 0) return 0;
    for (const name of this.names) {
      const src = from[name]!, dst = columns[name]!;
      for (let i = 0; i < n; i++) dst[i] = src[head + i]!;
    }
    if (kind !== undefined) (columns["_src"] as Uint8Array).fill(kind, 0, n);
    const entered = this.entered[s]![q]!;
    const runs = this.takenRuns[s]![q]!;
    runs.reset();
    let oldest = Infinity;
    for (let i = head; i < k; i++) {
      const t = entered[i]!;
      runs.add(t, 1);
      if (t < oldest) oldest = t;
    }
    this.takenOldest[s]![q] = oldest;
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

/** One side of AlignedStreams as a source; its records tagged with `kind` in `_src` when given. */
export class StreamSource implements Source {
  readonly partitions: number;
  /** The inner source's bound (it may change: KafkaSource) less what this side stages. */
  get maxInFlight(): number {
    return this.inner.maxInFlight - STAGE;
  }
  position?: (p: number) => number;
  commit?: (positions: ReadonlyArray<readonly [number, number]>) => Promise<void>;
  enteredAt?: (p: number) => number;
  enteredRuns?: Source["enteredRuns"];
  assigned?: (p: number) => boolean;

  constructor(private readonly aligned: AlignedStreams, private readonly side: number, private readonly kind?: number) {
    const inner = aligned.sides[side]!;
    this.partitions = inner.partitions;
    this.position = (p) => aligned.position(side, p);
    this.commit = (ps) => inner.commit(ps);
    // The records of the last take, not of the side's last staging read (which may be older).
    this.enteredAt = (p) => aligned.takenOldest[side]![p]!;
    this.enteredRuns = (p, ts, count, at, max) => aligned.takenRuns[side]![p]!.copyTo(ts, count, at, max);
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

/**
 * Waits (bounded) until the source has a partition assigned, so that no topic's partitions are
 * left out of the watermark (and of time alignment) at the start while another topic's run ahead.
 */
export async function assignedOrTimeout(source: { partitions: number; assigned?(p: number): boolean }, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    for (let p = 0; p < source.partitions; p++) if (source.assigned?.(p) !== false) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Two topics' sources as one, read aligned (side 0's partitions first; `kinds`: each side's tag in
 * `_src`). Waits (bounded) until both consumers have partitions. Exactly-once: what each side has
 * handed out (not what its KafkaSource read) is in the snapshot.
 */
export async function alignedTopics(
  sides: readonly [KafkaSource, KafkaSource], pipeline: PipelineDefinition, partners: Partners,
  transactions: KafkaTransactions | undefined, kinds?: readonly [number, number],
): Promise<MultiSource> {
  await assignedOrTimeout(sides[0]);
  await assignedOrTimeout(sides[1]);
  const aligned = new AlignedStreams(sides, pipeline, partners);
  for (const [s, source] of sides.entries()) {
    transactions?.replaceSource(source, {
      interner: source.interner,
      exportState: () => ({ names: source.interner.exportNames(), ...transientState(source.interner, pipeline.schema), partial: aligned.partial(s) }),
      importState: (state) => aligned.resume(s, (state as { partial?: unknown } | null)?.partial),
    });
  }
  return new MultiSource([new StreamSource(aligned, 0, kinds?.[0]), new StreamSource(aligned, 1, kinds?.[1])]);
}
