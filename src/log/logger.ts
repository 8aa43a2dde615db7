/**
 * Structured logs of a run: pino, one JSON line per lifecycle event, on stderr (stdout stays free
 * for `--json`'s one summary line and for `--sink console`).
 *
 *   engine / source / CLI ──log(event, detail)──► scrub secrets ──► pino (level filter) ──► write(line)
 *                                 ├── "dlq" (one call per dead letter) ──► DlqBurst ──► start, a summary
 *                                 │                                          every intervalMs, end
 *                                 └── a repeating error (same message) ──► once per repeatMs, with
 *                                                                          `suppressed`: the count dropped
 *
 * Every line has `level` (a label), `time` (ISO 8601), `pid`, `event` and `msg`, plus the event's
 * fields. Nothing is logged per record: dead letters are summarised per burst.
 */
import { pino, stdTimeFunctions, type Level, type Logger } from "pino";

/** Accepted by `--log-level`, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One lifecycle event: a stable name and its fields. */
export type LogFn = (event: string, detail: Record<string, unknown>) => void;

/** The level and message of each known event; anything else is logged at info with its name. */
const EVENTS: Record<string, [Level, string]> = {
  start: ["info", "run starting"],
  "http-listening": ["info", "HTTP server listening"],
  assign: ["info", "partitions assigned"],
  revoke: ["info", "partitions revoked"],
  pause: ["debug", "partition paused (backpressure)"],
  resume: ["debug", "partition resumed"],
  "worker-restart": ["warn", "shard worker failed; restarting it"],
  restore: ["warn", "replacement worker restored its shard; replaying unreleased batches"],
  "dlq-burst": ["warn", "records sent to the dead-letter topic"],
  "alo-state": ["warn", "at-least-once: this pipeline keeps state that a crash loses (no changelog); a restarted run's outputs may differ beyond duplicates"],
  "transient-miss": ["warn", "outputs named per-event ids whose strings were no longer kept (they carry \"\"); raise --transient-ids"],
  alert: ["warn", "alert"],
  "alert-failed": ["error", "alert notification failed"],
  "lag-error": ["warn", "consumer lag measurement failed"],
  commit: ["debug", "offsets committed"],
  barrier: ["debug", "exactly-once barrier committed"],
  "commit-error": ["error", "offset commit failed"],
  "consume-error": ["error", "consume failed"],
  "kafka-error": ["error", "Kafka client error"],
  stop: ["info", "run stopped"],
};

export interface RunLoggerOptions {
  /** @default "info" */
  level?: LogLevel;
  /** Where each line goes (ends with "\n"). @default process.stderr.write */
  write?: (line: string) => void;
  /** Dead-letter bursts: one summary line per this many ms at most. @default 5000 */
  dlqSummaryMs?: number;
  /** The same error (event and message) is logged at most once per this many ms. @default 5000 */
  repeatMs?: number;
}

export interface RunLogger {
  readonly logger: Logger;
  readonly level: LogLevel;
  /** Logs one lifecycle event (pass it as the engine's `onLog`). */
  readonly log: LogFn;
  /** Ends an open dead-letter burst (its last summary and end line) and stops its timer. */
  close(): void;
}

export function createRunLogger(options: RunLoggerOptions = {}): RunLogger {
  const level = options.level ?? "info";
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write },
  );
  const emit = (event: string, detail: Record<string, unknown>, override?: Level): void => {
    const [lvl, msg] = EVENTS[event] ?? ["info", event];
    const l = override ?? lvl;
    if (!logger.isLevelEnabled(l)) return;
    logger[l]({ event, ...(scrub(detail) as Record<string, unknown>) }, msg);
  };
  const dlq = new DlqBurst(emit, options.dlqSummaryMs ?? 5000);
  const repeats = new RepeatFilter(options.repeatMs ?? 5000);
  const log: LogFn = (event, detail) => {
    if (event === "dlq") return dlq.record(detail);
    if (REPEATING.has(event)) {
      const suppressed = repeats.admit(`${event}\u0000${String(detail["error"])}`);
      if (suppressed < 0) return;
      if (suppressed > 0) detail = { ...detail, suppressed };
    }
    emit(event, detail, event === "alert" && detail["status"] === "resolved" ? "info" : event === "stop" && detail["status"] === "failed" ? "error" : undefined);
  };
  return { logger, level, log, close: () => dlq.close() };
}

/** Errors that can repeat while a condition lasts (a broker down): logged once per interval. */
const REPEATING = new Set(["consume-error", "kafka-error", "commit-error", "lag-error"]);

/**
 * Lets one occurrence of a key through per interval; the next one let through carries how many
 * were dropped in between.
 */
class RepeatFilter {
  private readonly last = new Map<string, { at: number; dropped: number }>();

  constructor(private readonly intervalMs: number) {}

  /** -1: drop it; otherwise log it, with this many dropped since the last one logged. */
  admit(key: string, now = Date.now()): number {
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.dropped++;
      return -1;
    }
    if (this.last.size > 1000) this.last.clear();
    this.last.set(key, { at: now, dropped: 0 });
    return seen?.dropped ?? 0;
  }
}

/**
 * Dead letters come one call per record; they are logged per burst: the first record of a burst
 * at once (with its error), then at most one summary per `intervalMs` (records since the last
 * line, partitions, the last error), and an end line once an interval passes without any.
 */
class DlqBurst {
  private open = false;
  private startedAt = 0;
  private total = 0;
  private since = 0;
  private readonly partitions = new Set<number>();
  private lastError: unknown;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly emit: (event: string, detail: Record<string, unknown>) => void, private readonly intervalMs: number) {}

  record(detail: Record<string, unknown>): void {
    this.total++;
    if (!this.open) {
      this.open = true;
      this.startedAt = Date.now();
      this.emit("dlq-burst", { phase: "start", ...detail });
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
      return;
    }
    this.since++;
    if (typeof detail["partition"] === "number" && this.partitions.size < 1024) this.partitions.add(detail["partition"]);
    this.lastError = detail["error"];
  }

  private summary(): void {
    if (this.since === 0) return;
    this.emit("dlq-burst", {
      phase: "ongoing", records: this.since, total: this.total, partitions: [...this.partitions].sort((a, b) => a - b),
      lastError: this.lastError, seconds: (Date.now() - this.startedAt) / 1000,
    });
    this.since = 0;
    this.partitions.clear();
  }

  private tick(): void {
    if (this.since > 0) return this.summary();
    this.end();
  }

  private end(): void {
    if (!this.open) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.open = false;
    this.emit("dlq-burst", { phase: "end", total: this.total, seconds: (Date.now() - this.startedAt) / 1000 });
    this.total = 0;
  }

  close(): void {
    this.summary();
    this.end();
  }
}

const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|encryption[-_]?key|authorization|credential|sasl/i;
const SECRET_PARAM = /^(pass(word)?|secret|token|access[-_]?token|api[-_]?key|key|sig|signature|auth)$/i;

/**
 * A copy of a log detail without secrets: fields named like a secret are replaced, URLs lose their
 * user information and secret-looking query parameters. Applied to every logged value.
 */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubString(value);
  if (depth > 6 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== "" ? "[redacted]" : scrub(v, depth + 1);
  return out;
}

/** `scheme://user:pass@host/…?token=…` → `scheme://***@host/…?token=***`, anywhere in a string. */
export function scrubString(s: string): string {
  if (!s.includes("://")) return s;
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/\s?#@]*@)?([^\s]*)/gi, (_m, scheme: string, userinfo: string | undefined, rest: string) => {
    const q = rest.indexOf("?");
    let tail = rest;
    if (q >= 0) {
      const query = rest.slice(q + 1).replace(/([^&=#]+)=([^&#]*)/g, (all, name: string) => (SECRET_PARAM.test(decodeURIComponentSafe(name)) ? `${name}=***` : all));
      tail = `${rest.slice(0, q)}?${query}`;
    }
    return `${scheme}${userinfo ? "***@" : ""}${tail}`;
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
