/**
 * Prometheus metrics of a run, fed from periodic coordinator snapshots (never per event):
 *
 *   coordinator.progress() ──every 500 ms──► RunMetrics.update() ──► prom-client registry ──► GET /metrics
 *
 * Counters advance by the difference between two snapshots; gauges are set; the latency histogram
 * is derived from the coordinator's LatencyHistogram at Prometheus bucket bounds when scraped.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, Registry, type Metric } from "prom-client";
import type { Progress } from "../coordinator/coordinator.js";
import type { LatencyHistogram } from "./histogram.js";
import type { PartitionLag } from "./lag.js";
import { STAGES, type StageLatency } from "./stages.js";

/** Prometheus bucket bounds of `stream_processing_latency_seconds`, in seconds. */
export const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Outcomes of `stream_retries_total` (the fields of the coordinator's `retries` counts). */
const RETRY_OUTCOMES = ["scheduled", "succeeded", "failed", "deadLettered"] as const;

/** Side outputs counted as `stream_processing_errors_total{error_type}` (plus `dlq`). */
const ERROR_OUTPUTS = ["invalid", "anomaly", "late"] as const;

export interface RunMetricsOptions {
  /** The pipeline name: the `processor` label. */
  processor: string;
  /** The input: its Kafka topic, or "generator" / "file": the `topic` label. */
  topic: string;
  /** The run's latency histogram (ms), read at scrape time. */
  latency?: () => LatencyHistogram | undefined;
  /** Consumer lag of the owned partitions of a Kafka source (src/metrics/lag.ts), read at snapshot rate. */
  lag?: () => PartitionLag[];
  /** The run's latency by stage (src/metrics/stages.ts), read at scrape time. */
  stages?: () => StageLatency | undefined;
}

/** Everything a /metrics scrape shows, and the last derived figures for the dashboard. */
export class RunMetrics {
  readonly registry = new Registry();
  private readonly processor: string;
  private readonly topic: string;
  private readonly loopDelay: IntervalHistogram;
  private readonly processedTotal: Counter<"topic">;
  private readonly errorsTotal: Counter<"processor" | "error_type">;
  private readonly restartsTotal: Counter<"processor">;
  private readonly lateTotal: Counter<"processor">;
  private readonly dlqTotal: Counter<"topic">;
  private readonly retriesTotal: Counter<"topic" | "outcome">;
  private readonly eventsPerSec: Gauge<"processor">;
  private readonly ringFill: Gauge<"processor" | "worker">;
  private readonly watermarkDelay: Gauge<"processor">;
  private readonly loopDelayGauge: Gauge<"quantile">;
  private readonly shardRate: Gauge<"processor" | "worker">;
  private readonly stateEntries: Gauge<"processor" | "worker">;
  private readonly stateBytes: Gauge<"processor" | "worker">;
  private readonly consumerLag: Gauge<"topic" | "partition">;
  private readonly lagSource: (() => PartitionLag[]) | undefined;
  private lagPartitions = new Set<number>();
  private last: Progress | undefined;
  /** Events per second between the last two snapshots. */
  rate = 0;
  /** Wall clock − watermark at the last snapshot, ms (NaN before there is a watermark). */
  watermarkDelayMs = NaN;
  /** Event-loop delay p99 over the last snapshot interval, ms. */
  loopDelayP99Ms = 0;
  /** Events per second of each shard worker between the last two snapshots. */
  rateByWorker: number[] = [];
  /** Consumer lag of the owned partitions at the last snapshot (empty without a Kafka source). */
  lag: PartitionLag[] = [];

  constructor(options: RunMetricsOptions) {
    this.processor = options.processor;
    this.topic = options.topic;
    const registers = [this.registry];
    this.processedTotal = new Counter({ name: "stream_messages_processed_total", help: "Records processed by the shard workers.", labelNames: ["topic"], registers });
    this.errorsTotal = new Counter({
      name: "stream_processing_errors_total", help: "Records sent to a side output (invalid, anomaly, late) or the dead-letter topic (dlq).",
      labelNames: ["processor", "error_type"], registers,
    });
    this.restartsTotal = new Counter({ name: "stream_worker_restarts_total", help: "Shard worker threads restarted after a failure.", labelNames: ["processor"], registers });
    this.lateTotal = new Counter({ name: "stream_late_records_total", help: "Records that arrived after their window closed.", labelNames: ["processor"], registers });
    this.dlqTotal = new Counter({ name: "stream_dlq_records_total", help: "Undecodable records sent to the dead-letter topic.", labelNames: ["topic"], registers });
    this.eventsPerSec = new Gauge({ name: "stream_events_per_second", help: "Records processed per second over the last snapshot interval.", labelNames: ["processor"], registers });
    this.ringFill = new Gauge({ name: "stream_ring_fill_ratio", help: "Fill of each worker's input ring, 0..1.", labelNames: ["processor", "worker"], registers });
    this.watermarkDelay = new Gauge({ name: "stream_watermark_delay_seconds", help: "Wall clock minus the global watermark.", labelNames: ["processor"], registers });
    this.loopDelayGauge = new Gauge({
      name: "stream_event_loop_delay_seconds", help: "Main-thread event-loop delay over the last snapshot interval (perf_hooks monitorEventLoopDelay).",
      labelNames: ["quantile"], registers,
    });
    this.shardRate = new Gauge({ name: "stream_shard_events_per_second", help: "Records acknowledged per second by each shard worker over the last snapshot interval.", labelNames: ["processor", "worker"], registers });
    this.stateEntries = new Gauge({ name: "stream_state_store_entries", help: "Entries in each shard worker's state stores (open window-table entries).", labelNames: ["processor", "worker"], registers });
    this.stateBytes = new Gauge({ name: "stream_state_store_bytes", help: "Bytes held by each shard worker's state stores (window tables and per-key state), to the KiB.", labelNames: ["processor", "worker"], registers });
    this.consumerLag = new Gauge({
      name: "stream_consumer_lag_records", help: "Records behind the end of each owned input partition: high watermark minus the next offset taken into the engine.",
      labelNames: ["topic", "partition"], registers,
    });
    this.lagSource = options.lag;
    for (const t of [...ERROR_OUTPUTS, "dlq"]) this.errorsTotal.inc({ processor: this.processor, error_type: t }, 0);
    this.processedTotal.inc({ topic: this.topic }, 0);
    this.restartsTotal.inc({ processor: this.processor }, 0);
    this.lateTotal.inc({ processor: this.processor }, 0);
    this.dlqTotal.inc({ topic: this.topic }, 0);
    this.retriesTotal = new Counter({
      name: "stream_retries_total", help: "Retry topic: retries scheduled, attempts that succeeded or failed, records dead-lettered by the retry path.",
      labelNames: ["topic", "outcome"], registers,
    });
    for (const o of RETRY_OUTCOMES) this.retriesTotal.inc({ topic: this.topic, outcome: o }, 0);
    this.registry.registerMetric(new SnapshotHistogram(
      "stream_processing_latency_seconds",
      "Latency per record from its entry (for Kafka its timestamp) to its batch's acknowledgement by the shard.",
      [{ labels: { processor: this.processor }, source: options.latency ?? (() => undefined) }],
    ) as unknown as Metric);
    const stages = options.stages ?? (() => undefined);
    this.registry.registerMetric(new SnapshotHistogram(
      "stream_processing_stage_latency_seconds",
      "The same latency by stage, from the timestamps batches carry in the rings: entry → published into a shard's ring (stage source, as Kafka Streams' record-e2e-latency at the source node; batches published whole), entry → processed by the shard (stage processed), processed → acknowledged to the coordinator (stage acknowledged).",
      STAGES.map((stage) => ({ labels: { processor: this.processor, stage }, source: () => stages()?.[stage] })),
    ) as unknown as Metric);
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  /** Takes one coordinator snapshot (call every few hundred ms). */
  update(p: Progress, now = Date.now()): void {
    const prev = this.last;
    this.last = p;
    const proc = { processor: this.processor };
    this.processedTotal.inc({ topic: this.topic }, Math.max(0, p.processed - (prev?.processed ?? 0)));
    for (const t of ERROR_OUTPUTS) {
      const d = (p.outputs[t] ?? 0) - (prev?.outputs[t] ?? 0);
      if (d > 0) this.errorsTotal.inc({ ...proc, error_type: t }, d);
      if (d > 0 && t === "late") this.lateTotal.inc(proc, d);
    }
    if (p.retries) {
      for (const o of RETRY_OUTCOMES) {
        const d = p.retries[o] - (prev?.retries?.[o] ?? 0);
        if (d > 0) this.retriesTotal.inc({ topic: this.topic, outcome: o }, d);
      }
    }
    const dlq = p.deadLetters - (prev?.deadLetters ?? 0);
    if (dlq > 0) {
      this.errorsTotal.inc({ ...proc, error_type: "dlq" }, dlq);
      this.dlqTotal.inc({ topic: this.topic }, dlq);
    }
    const restarts = p.workerRestarts - (prev?.workerRestarts ?? 0);
    if (restarts > 0) this.restartsTotal.inc(proc, restarts);
    const dt = prev ? p.elapsedSeconds - prev.elapsedSeconds : p.elapsedSeconds;
    this.rate = dt > 0 ? Math.max(0, p.processed - (prev?.processed ?? 0)) / dt : 0;
    this.eventsPerSec.set(proc, this.rate);
    p.ringFillByWorker.forEach((f, w) => this.ringFill.set({ ...proc, worker: String(w) }, f));
    this.rateByWorker = p.processedByWorker.map((n, w) => (dt > 0 ? Math.max(0, n - (prev?.processedByWorker[w] ?? 0)) / dt : 0));
    this.rateByWorker.forEach((r, w) => this.shardRate.set({ ...proc, worker: String(w) }, r));
    p.stateEntriesByWorker?.forEach((n, w) => this.stateEntries.set({ ...proc, worker: String(w) }, n));
    p.stateBytesByWorker?.forEach((n, w) => this.stateBytes.set({ ...proc, worker: String(w) }, n));
    if (this.lagSource) this.updateLag(this.lagSource());
    this.watermarkDelayMs = Number.isFinite(p.watermark) ? now - p.watermark : NaN;
    if (Number.isFinite(this.watermarkDelayMs)) this.watermarkDelay.set(proc, this.watermarkDelayMs / 1000);
    const ld = this.loopDelay;
    if (ld.count > 0) {
      this.loopDelayP99Ms = ld.percentile(99) / 1e6;
      this.loopDelayGauge.set({ quantile: "0.5" }, ld.percentile(50) / 1e9);
      this.loopDelayGauge.set({ quantile: "0.99" }, ld.percentile(99) / 1e9);
      this.loopDelayGauge.set({ quantile: "1" }, ld.max / 1e9);
    }
    ld.reset();
  }

  /** Sets the lag gauges; partitions this process no longer owns lose their series. */
  private updateLag(lag: PartitionLag[]): void {
    this.lag = lag;
    const now = new Set<number>();
    for (const { partition, lag: records } of lag) {
      now.add(partition);
      this.consumerLag.set({ topic: this.topic, partition: String(partition) }, records);
    }
    for (const p of this.lagPartitions) if (!now.has(p)) this.consumerLag.remove({ topic: this.topic, partition: String(p) });
    this.lagPartitions = now;
  }

  /** The Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.loopDelay.disable();
  }
}

/**
 * A Prometheus histogram read from a LatencyHistogram (ms) at scrape time instead of observed per
 * record. Its public API answers quantiles only, so the count at or below each bound is found by
 * bisection on the quantile (monotone in q), and the sum by integrating the quantile function:
 * both exact to the source's ~2.3 % bucket width.
 */
class SnapshotHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly series: { labels: Record<string, string>; source: () => LatencyHistogram | undefined }[],
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, source } of this.series) {
      const h = source();
      const total = h?.total ?? 0;
      for (const le of LATENCY_BUCKETS_SECONDS) {
        values.push({ labels: { ...labels, le }, value: h ? countAtMost(h, le * 1000) : 0, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...labels, le: "+Inf" }, value: total, metricName: `${this.name}_bucket` });
      values.push({ labels, value: h ? sumMs(h) / 1000 : 0, metricName: `${this.name}_sum` });
      values.push({ labels, value: total, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Weight recorded at or below `ms` (to the histogram's bucket width). */
function countAtMost(h: LatencyHistogram, ms: number): number {
  if (h.total === 0) return 0;
  if (h.quantile(1) <= ms) return h.total;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40 && (hi - lo) * h.total > 0.5; i++) {
    const mid = (lo + hi) / 2;
    if (h.quantile(mid) <= ms) lo = mid;
    else hi = mid;
  }
  return Math.round(lo * h.total);
}

/** Sum of the recorded values (ms), integrating the quantile function over 200 steps. */
function sumMs(h: LatencyHistogram): number {
  if (h.total === 0) return 0;
  const steps = 200;
  let s = 0;
  for (let k = 0; k < steps; k++) s += h.quantile((k + 0.5) / steps);
  return (s / steps) * h.total;
}
