/**
 * Latency by stage, from the timestamps each batch carries through the rings (never sampled per
 * record): its entry time in the input ring header, the time the shard finished it in its ACK,
 * and the time the ACK reached the coordinator.
 *
 *   entered ──(topic, client, main thread)──► published ──(input ring, shard)──► processed ──(output ring, drain)──► acknowledged
 *   └──────── stage "source" ─────────────────┘
 *   └──────── stage "processed" ──────────────────────────────────────────────────┘└──── stage "acknowledged" ────┘
 *
 * For Kafka, "entered" is the record's Kafka timestamp (per run of timestamps, see EntryRuns), so
 * "source" and "processed" include the time the record spent in the topic. "source" is Kafka
 * Streams' record-e2e-latency at the source node: entry → handed to the engine (the batch
 * published into a shard's ring), recorded at publication — for a batch spread over the shards
 * by key each shard's share with its records' entry times, for a global table's batch copied to
 * every shard its first copy.
 * Its difference from "processed" is what the rings and the shards add. All weighted by records;
 * recorded on the main thread, read at snapshot rate.
 */
import { LatencyHistogram } from "./histogram.js";

export const STAGES = ["source", "processed", "acknowledged"] as const;
export type Stage = (typeof STAGES)[number];

export class StageLatency {
  /** Entry → published into a shard's input ring, ms. */
  readonly source = new LatencyHistogram();
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

  /** `count` records that entered at `enteredAt` published into a shard's ring at `publishedAt`. */
  recordSource(enteredAt: number, publishedAt: number, count: number): void {
    this.source.record(Math.max(0, publishedAt - enteredAt), count);
  }
}
