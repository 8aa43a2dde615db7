/**
 * Latency by stage, from the timestamps each batch carries through the rings (never sampled per
 * record): its entry time in the input ring header, the time the shard finished it in its ACK,
 * and the time the ACK reached the coordinator.
 *
 *   entered ──(input ring, shard processing)──► processed ──(output ring, coordinator drain)──► acknowledged
 *            └──────── stage "processed" ──────┘          └──────── stage "acknowledged" ──────┘
 *
 * For Kafka, "entered" is the record's Kafka timestamp (per run of timestamps, see EntryRuns), so
 * the first stage includes the time the record spent in the topic. Both are weighted by records.
 * Recorded once per run of an acknowledged batch on the main thread; read at snapshot rate.
 */
import { LatencyHistogram } from "./histogram.js";

export const STAGES = ["processed", "acknowledged"] as const;
export type Stage = (typeof STAGES)[number];

export class StageLatency {
  /** Entry → processed by the shard, ms. */
  readonly processed = new LatencyHistogram();
  /** Processed by the shard → its ACK drained by the coordinator, ms. */
  readonly acknowledged = new LatencyHistogram();

  /** One acknowledged batch of `count` records (epoch ms timestamps). */
  record(enteredAt: number, processedAt: number, ackedAt: number, count: number): void {
    // Threads read the clock through their own performance.timeOrigin, which can differ by a
    // fraction of a millisecond: a stage can come out slightly negative, counted as 0.
    this.processed.record(Math.max(0, processedAt - enteredAt), count);
    this.acknowledged.record(Math.max(0, ackedAt - processedAt), count);
  }
}
