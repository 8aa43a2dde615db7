/**
 * Alerts (the seed's §8): a webhook and/or a command told when a watched figure crosses its
 * threshold, and again when it has recovered.
 *
 *   observe(name, value) ──► per-alert state ──firing / resolved──► POST webhook (JSON body)
 *                              (hysteresis,                      └─► sh -c command (JSON on stdin,
 *                               cooldown)                                RIPTIDE_ALERT_* in the env)
 *
 * States, per alert:
 *
 *   ok ──value > threshold, cooldown over──► firing ──value ≤ threshold × (1 − hysteresis)──► ok
 *
 * so an alert fires once per crossing, however long the value stays above, and fires again only
 * after it recovered below the lower mark and crossed again. `cooldownMs` bounds how often one
 * alert can fire (a value flapping around the threshold): a crossing inside the cooldown fires when
 * the cooldown ends, if the value is still above. Notifications of one alert are delivered in order
 * (firing before its resolved); a failing target is logged and never stops the run.
 */
import { spawn } from "node:child_process";
import type { LogFn } from "../log/logger.js";

/** What the webhook receives (POST, `application/json`) and the command reads on stdin. */
export interface AlertPayload {
  /** The alert's name: `dlq_rate` or `consumer_lag`. */
  alert: string;
  status: "firing" | "resolved";
  /** The value observed when the alert changed state. */
  value: number;
  threshold: number;
  /** Unit of value and threshold, e.g. `records/s`. */
  unit: string;
  /** When the alert changed state, ISO 8601. */
  time: string;
  /** Human text, e.g. `dlq_rate 12.5 records/s > 5 records/s`. */
  summary: string;
  pipeline: string;
  /** The input: a Kafka topic, "generator" or "file". */
  source: string;
  /** Extra figures (e.g. the lag per partition). */
  details?: Record<string, unknown>;
}

export interface AlertRule {
  /** Stable name, used in payloads and logs. */
  name: string;
  /** The alert fires when the value goes above this. */
  threshold: number;
  /** Unit of the value, for the payload. */
  unit: string;
}

export interface AlertOptions {
  rules: AlertRule[];
  /** POST each notification here (credentials in the URL are sent as HTTP basic auth). */
  webhook?: string;
  /** Run this through `sh -c` for each notification. */
  command?: string;
  /** Least time between two firings of one alert, ms. @default 60000 */
  cooldownMs?: number;
  /** An alert resolves at or below threshold × (1 − hysteresis). @default 0.1 */
  hysteresis?: number;
  /** Bound on each webhook request and command, ms. @default 10000 */
  timeoutMs?: number;
  pipeline: string;
  source: string;
  onLog?: LogFn;
}

interface AlertState {
  rule: AlertRule;
  firing: boolean;
  lastFiredAt: number;
}

export class Alerts {
  private readonly options: AlertOptions;
  private readonly states = new Map<string, AlertState>();
  /** Notifications in flight, chained so that each target gets them in order. */
  private chain: Promise<void> = Promise.resolve();
  /** Notifications sent (or attempted), for tests and the summary. */
  sent = 0;

  constructor(options: AlertOptions) {
    if (!options.webhook && !options.command) throw new TypeError("alerts need a webhook or a command");
    this.options = options;
    for (const rule of options.rules) this.states.set(rule.name, { rule, firing: false, lastFiredAt: -Infinity });
  }

  /** Whether the alert is firing now. */
  firing(name: string): boolean {
    return this.states.get(name)?.firing === true;
  }

  /** One observation of a watched figure (call at snapshot rate, e.g. every second). */
  observe(name: string, value: number, now = Date.now(), details?: Record<string, unknown>): void {
    const s = this.states.get(name);
    if (!s || !Number.isFinite(value)) return;
    const { threshold } = s.rule;
    if (!s.firing) {
      if (value > threshold && now - s.lastFiredAt >= (this.options.cooldownMs ?? 60_000)) {
        s.firing = true;
        s.lastFiredAt = now;
        this.notify(s, "firing", value, now, details);
      }
    } else if (value <= threshold * (1 - (this.options.hysteresis ?? 0.1))) {
      s.firing = false;
      this.notify(s, "resolved", value, now, details);
    }
  }

  /** Resolves once every notification started so far is delivered or has failed. */
  settle(): Promise<void> {
    return this.chain;
  }

  private notify(s: AlertState, status: AlertPayload["status"], value: number, now: number, details?: Record<string, unknown>): void {
    const { rule } = s;
    const v = Math.round(value * 1000) / 1000;
    const payload: AlertPayload = {
      alert: rule.name, status, value: v, threshold: rule.threshold, unit: rule.unit, time: new Date(now).toISOString(),
      summary: `${rule.name} ${v} ${rule.unit} ${status === "firing" ? ">" : "≤"} ${status === "firing" ? rule.threshold : rule.threshold * (1 - (this.options.hysteresis ?? 0.1))} ${rule.unit}`,
      pipeline: this.options.pipeline, source: this.options.source,
      ...(details && { details }),
    };
    this.options.onLog?.("alert", { alert: payload.alert, status, value: payload.value, threshold: payload.threshold, unit: payload.unit });
    this.sent++;
    this.chain = this.chain.then(() => this.deliver(payload));
  }

  private async deliver(payload: AlertPayload): Promise<void> {
    const jobs: Promise<void>[] = [];
    if (this.options.webhook) jobs.push(this.post(this.options.webhook, payload));
    if (this.options.command) jobs.push(this.run(this.options.command, payload));
    await Promise.all(jobs);
  }

  private async post(webhook: string, payload: AlertPayload): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const url = new URL(webhook);
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "riptide-alerts" };
    if (url.username || url.password) {
      headers["authorization"] = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    try {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(payload), signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) this.failed("webhook", payload, `HTTP ${res.status}`);
    } catch (err) {
      const e = err as Error;
      this.failed("webhook", payload, e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause ? ` (${String((e.cause as Error).message ?? e.cause)})` : ""}`);
    }
  }

  private run(command: string, payload: AlertPayload): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const json = JSON.stringify(payload);
    return new Promise<void>((resolve) => {
      const child = spawn("/bin/sh", ["-c", command], {
        stdio: ["pipe", "ignore", "pipe"],
        env: {
          ...process.env,
          RIPTIDE_ALERT: payload.alert, RIPTIDE_ALERT_STATUS: payload.status, RIPTIDE_ALERT_VALUE: String(payload.value),
          RIPTIDE_ALERT_THRESHOLD: String(payload.threshold), RIPTIDE_ALERT_TIME: payload.time, RIPTIDE_ALERT_PAYLOAD: json,
        },
      });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => { if (stderr.length < 2000) stderr += d.toString(); });
      child.stdin!.on("error", () => undefined); // a command that does not read its stdin
      child.stdin!.end(`${json}\n`);
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        this.failed("command", payload, `did not finish within ${timeoutMs} ms`);
      }, timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        this.failed("command", payload, err.message);
        resolve();
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (code !== 0 && signal !== "SIGKILL") this.failed("command", payload, `exited with ${code ?? signal}${stderr ? `: ${stderr.trim().slice(-500)}` : ""}`);
        resolve();
      });
    });
  }

  private failed(target: "webhook" | "command", payload: AlertPayload, error: string): void {
    this.options.onLog?.("alert-failed", { target, alert: payload.alert, status: payload.status, error });
  }
}

/**
 * Records per second over a sliding window, from a monotone total sampled now and then: (total now
 * − total at the window's start) / window. Before a window has passed, the start is the first
 * sample (the run's start, total 0).
 */
export class WindowedRate {
  private readonly t: number[] = [];
  private readonly v: number[] = [];

  constructor(private readonly windowMs: number) {}

  /** Adds a sample and returns the rate over the window ending at it. */
  push(now: number, total: number): number {
    this.t.push(now);
    this.v.push(total);
    // Keep one sample at or before the window's start as the baseline.
    while (this.t.length > 2 && this.t[1]! <= now - this.windowMs) {
      this.t.shift();
      this.v.shift();
    }
    return Math.max(0, total - this.v[0]!) / (this.windowMs / 1000);
  }
}
