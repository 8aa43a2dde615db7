/**
 * The operator's options of `riptide run` (logs, alerts) and the observer that runs beside the
 * coordinator, at snapshot rate:
 *
 *   every second: coordinator.progress() ──► dead letters/s over --alert-window ──┐
 *                 ConsumerLag (Kafka)     ──► records behind, owned partitions ───┴─► Alerts ──► webhook / command
 */
import type { Progress } from "../coordinator/coordinator.js";
import { Alerts, WindowedRate, type AlertRule } from "../alerts/alerts.js";
import { LOG_LEVELS, scrubString, type LogFn, type LogLevel } from "../log/logger.js";
import { ConsumerLag } from "../metrics/lag.js";
import type { KafkaRunSetup } from "./kafka.js";
import { numberOption, UsageError, type OptionSpec } from "./args.js";

export const OBSERVE_OPTIONS: OptionSpec = {
  "log-level": { type: "string" },
  "alert-webhook": { type: "string" },
  "alert-command": { type: "string" },
  "alert-dlq-rate": { type: "string" },
  "alert-lag": { type: "string" },
  "alert-window": { type: "string" },
  "alert-cooldown": { type: "string" },
};

export const OBSERVE_HELP = `Logs and alerts:
  --log-level L         fatal | error | warn | info | debug | trace | silent (default info): JSON
                        lines on stderr, one per lifecycle event (start, assign, revoke, restore,
                        worker restart, dead-letter burst, alert, stop)
  --alert-dlq-rate N    alert when dead letters (undecodable, or out of retries) exceed N
                        records/s over --alert-window
  --alert-lag N         alert when the consumer lag (records behind, summed over the owned
                        partitions) exceeds N (Kafka only)
  --alert-webhook URL   POST each alert (JSON: alert, status firing|resolved, value, threshold,
                        unit, time, summary) to URL
  --alert-command CMD   run CMD with sh -c for each alert, the JSON on stdin and RIPTIDE_ALERT,
                        RIPTIDE_ALERT_STATUS, _VALUE, _THRESHOLD, _TIME, _PAYLOAD in its environment
  --alert-window S      window of the dead-letter rate (default 10)
  --alert-cooldown S    least time between two firings of one alert (default 60); an alert fires
                        once per crossing and resolves at 90 % of its threshold or below
`;

export interface AlertSettings {
  webhook?: string;
  command?: string;
  dlqRate?: number;
  lag?: number;
  windowMs: number;
  cooldownMs: number;
}

export interface ObserveSettings {
  logLevel: LogLevel;
  alerts?: AlertSettings;
}

/** Validates the options of OBSERVE_OPTIONS; throws a UsageError naming the option. */
export function observeSettings(values: Record<string, unknown>, context: { kafka: boolean }): ObserveSettings {
  const level = (values["log-level"] as string | undefined) ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(level)}`);
  }
  const webhook = values["alert-webhook"] as string | undefined;
  const command = values["alert-command"] as string | undefined;
  const dlqRate = numberOption(values, "alert-dlq-rate", { min: 0 });
  const lag = numberOption(values, "alert-lag", { integer: true, min: 0 });
  const window = numberOption(values, "alert-window", { min: 0.1, max: 86_400 });
  const cooldown = numberOption(values, "alert-cooldown", { min: 0, max: 86_400 });
  if (webhook !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(webhook);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new UsageError(`--alert-webhook must be an http:// or https:// URL, got ${JSON.stringify(scrubString(webhook))}`);
    }
  }
  if (command !== undefined && command.trim() === "") throw new UsageError("--alert-command must not be empty");
  if (lag !== undefined && !context.kafka) throw new UsageError("--alert-lag needs --brokers (lag is measured on Kafka partitions)");
  const thresholds = dlqRate !== undefined || lag !== undefined;
  const targets = webhook !== undefined || command !== undefined;
  if (thresholds && !targets) throw new UsageError(`--${dlqRate !== undefined ? "alert-dlq-rate" : "alert-lag"} needs --alert-webhook or --alert-command`);
  if (targets && !thresholds) throw new UsageError(`--${webhook !== undefined ? "alert-webhook" : "alert-command"} needs --alert-dlq-rate or --alert-lag`);
  if (!thresholds) {
    for (const k of ["alert-window", "alert-cooldown"]) if (values[k] !== undefined) throw new UsageError(`--${k} needs --alert-dlq-rate or --alert-lag`);
    return { logLevel: level as LogLevel };
  }
  return {
    logLevel: level as LogLevel,
    alerts: {
      ...(webhook !== undefined && { webhook }), ...(command !== undefined && { command }),
      ...(dlqRate !== undefined && { dlqRate }), ...(lag !== undefined && { lag }),
      windowMs: (window ?? 10) * 1000, cooldownMs: (cooldown ?? 60) * 1000,
    },
  };
}

/** The alert settings as they may be logged: the webhook's origin only, the command's program only. */
export function describeAlerts(a: AlertSettings | undefined): Record<string, unknown> | undefined {
  if (!a) return undefined;
  return {
    ...(a.webhook !== undefined && { webhook: `${new URL(a.webhook).origin}/…` }),
    ...(a.command !== undefined && { command: `${a.command.trim().split(/\s+/)[0]} …` }),
    ...(a.dlqRate !== undefined && { dlqRate: a.dlqRate }), ...(a.lag !== undefined && { lag: a.lag }),
    windowSeconds: a.windowMs / 1000, cooldownSeconds: a.cooldownMs / 1000,
  };
}

export interface RunObserverOptions {
  settings: AlertSettings | undefined;
  pipeline: string;
  source: string;
  log: LogFn;
  /** The coordinator's snapshot; undefined before the run started. */
  snapshot: () => Progress | undefined;
  /** Consumer lag of a Kafka source. */
  lag?: ConsumerLag;
  /** @default 1000 */
  intervalMs?: number;
}

/** Feeds the alerts from snapshots (does nothing without alert settings). */
export class RunObserver {
  private readonly options: RunObserverOptions;
  private readonly alerts: Alerts | undefined;
  private readonly dlq: WindowedRate | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RunObserverOptions) {
    this.options = options;
    const a = options.settings;
    if (!a) return;
    const rules: AlertRule[] = [];
    if (a.dlqRate !== undefined) rules.push({ name: "dlq_rate", threshold: a.dlqRate, unit: "records/s" });
    if (a.lag !== undefined) rules.push({ name: "consumer_lag", threshold: a.lag, unit: "records" });
    this.alerts = new Alerts({
      rules, ...(a.webhook !== undefined && { webhook: a.webhook }), ...(a.command !== undefined && { command: a.command }),
      cooldownMs: a.cooldownMs, pipeline: options.pipeline, source: options.source, onLog: options.log,
    });
    if (a.dlqRate !== undefined) this.dlq = new WindowedRate(a.windowMs);
  }

  start(): void {
    if (!this.alerts || this.timer) return;
    this.dlq?.push(Date.now(), 0);
    this.timer = setInterval(() => this.evaluate(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** One evaluation (the timer calls it; exposed for the last one at the end of a run). */
  evaluate(now = Date.now()): void {
    const alerts = this.alerts;
    if (!alerts) return;
    const p = this.options.snapshot();
    if (p && this.dlq) {
      // Dead letters of the source (undecodable) and of the retry path (out of retries).
      const deadLetters = p.deadLetters + (p.retries?.deadLettered ?? 0);
      const rate = this.dlq.push(now, deadLetters);
      alerts.observe("dlq_rate", rate, now, { deadLetters, windowSeconds: this.options.settings!.windowMs / 1000 });
    }
    const lag = this.options.lag;
    if (lag && lag.rounds > 0 && this.options.settings!.lag !== undefined) {
      const parts = lag.snapshot();
      alerts.observe("consumer_lag", lag.total(), now, { topic: lag.topic, partitions: Object.fromEntries(parts.map((x) => [x.partition, x.lag])) });
    }
  }

  /** Stops evaluating and waits (bounded by the alerts' own timeouts) for notifications in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.alerts?.settle();
  }
}

/** Starts measuring the consumer lag of a Kafka run (undefined when its client cannot tell). */
export function startConsumerLag(kafka: Pick<KafkaRunSetup, "consumer" | "source">, topic: string, log: LogFn): ConsumerLag | undefined {
  if (!kafka.consumer.queryWatermarks) return undefined;
  const { source } = kafka;
  const lag = new ConsumerLag({
    consumer: kafka.consumer, topic, partitions: source.partitions,
    position: (p) => source.position(p), assigned: (p) => source.assigned(p),
    onError: (err) => log("lag-error", { error: err.message }),
  });
  lag.start();
  return lag;
}
