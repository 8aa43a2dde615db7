/**
 * Consumer lag per partition of a Kafka source, measured on the main thread (where the Kafka
 * client lives), through the client interface only:
 *
 *   every intervalMs, for each assigned partition:
 *     high  ◄── consumer.queryWatermarks(topic, p)      (asked of the partition leader)
 *     from  ◄── position(p): the next offset not yet handed to the workers (the source's position),
 *               else the group's committed offset, else the partition's low watermark
 *     lag[p] = max(0, high − from)
 *
 * This is Kafka's `records-lag` seen from the engine: records written to the partition that this
 * process has not yet taken into its rings (records prefetched by librdkafka or queued in the
 * source still count as lag). One query is in flight at a time (node-rdkafka serves it on a libuv
 * thread-pool thread, which consume() needs too); a round that fails
 * leaves the previous figures and is reported once per failure streak.
 */
import type { KafkaConsumerClient, WatermarkOffsets } from "../io/kafka/client.js";

export interface ConsumerLagOptions {
  consumer: KafkaConsumerClient;
  topic: string;
  /** Partitions of the topic. */
  partitions: number;
  /** Next offset to take into the engine for partition p; negative when not known yet. */
  position: (p: number) => number;
  /** Whether this process owns partition p now. */
  assigned: (p: number) => boolean;
  /** Period of the measurement, ms. @default 1000 */
  intervalMs?: number;
  /** Bound on each broker query, ms. @default 3000 */
  timeoutMs?: number;
  /** A failing measurement (once per failure streak). */
  onError?: (err: Error) => void;
}

/** One measurement of one partition. */
export interface PartitionLag {
  partition: number;
  /** Records behind the end of the partition. */
  lag: number;
  /** The partition's high watermark (next offset to be written). */
  high: number;
}

export class ConsumerLag {
  readonly topic: string;
  private readonly options: ConsumerLagOptions;
  /** Lag per partition; NaN where this process does not own the partition or has no figure yet. */
  private readonly lag: Float64Array;
  private readonly high: Float64Array;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private failing = false;
  /** Completed measurement rounds (tests and the status line wait on it). */
  rounds = 0;

  constructor(options: ConsumerLagOptions) {
    if (!options.consumer.queryWatermarks) throw new TypeError("consumer lag needs a Kafka client with queryWatermarks()");
    this.options = options;
    this.topic = options.topic;
    this.lag = new Float64Array(options.partitions).fill(NaN);
    this.high = new Float64Array(options.partitions).fill(NaN);
  }

  /** Measures now and then every `intervalMs` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    void this.measure();
    this.timer = setInterval(() => void this.measure(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** The last figures of the partitions this process owns, by partition. */
  snapshot(): PartitionLag[] {
    const out: PartitionLag[] = [];
    for (let p = 0; p < this.lag.length; p++) {
      if (!Number.isNaN(this.lag[p]!) && this.options.assigned(p)) out.push({ partition: p, lag: this.lag[p]!, high: this.high[p]! });
    }
    return out;
  }

  /** Sum of the lag over the owned partitions (0 when none has a figure). */
  total(): number {
    let s = 0;
    for (const x of this.snapshot()) s += x.lag;
    return s;
  }

  /** Largest lag of one owned partition (0 when none has a figure). */
  max(): number {
    let m = 0;
    for (const x of this.snapshot()) if (x.lag > m) m = x.lag;
    return m;
  }

  /** One round of measurement; skipped when the previous one has not finished. */
  measure(): Promise<void> {
    if (this.round) return this.round;
    this.round = this.measureRound()
      .then(() => {
        this.failing = false;
        this.rounds++;
      })
      .catch((err: unknown) => {
        if (!this.failing) this.options.onError?.(err as Error);
        this.failing = true;
      })
      .finally(() => { this.round = undefined; });
    return this.round;
  }

  private async measureRound(): Promise<void> {
    const { consumer, topic, position, assigned } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 3000;
    const owned: number[] = [];
    for (let p = 0; p < this.lag.length; p++) {
      if (assigned(p)) owned.push(p);
      else { this.lag[p] = NaN; this.high[p] = NaN; }
    }
    if (owned.length === 0) return;
    // One query at a time: each holds a libuv thread-pool thread (shared with consume()) while it waits.
    const marks: WatermarkOffsets[] = [];
    for (const p of owned) marks.push(await consumer.queryWatermarks!(topic, p, timeoutMs));
    const unknown = owned.filter((p) => !(position(p) >= 0));
    const committed = new Map<number, number | null>();
    if (unknown.length > 0) {
      for (const c of await consumer.committed(unknown.map((partition) => ({ topic, partition })), timeoutMs)) committed.set(c.partition, c.offset);
    }
    owned.forEach((p, i) => {
      const { low, high } = marks[i]!;
      const pos = position(p);
      const from = pos >= 0 ? pos : (committed.get(p) ?? low);
      this.high[p] = high;
      this.lag[p] = Math.max(0, high - Math.max(from, low));
    });
  }
}
