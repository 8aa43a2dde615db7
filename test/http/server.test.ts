/**
 * `riptide run --http`: a real child process of bin/riptide.js (built JS, `npx tsc -p tsconfig.json`
 * first) scraped by real clients: fetch, a WebSocket client and headless Chromium.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { parseHttpAddress } from "../../src/http/server.js";
import { BROKERS, ensureBroker, uniqueName } from "../support/kafka.js";
import { freePort } from "../support/net.js";

const ROOT = join(__dirname, "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");
const CHROMIUM = "/usr/bin/chromium";

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen in ${limitMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** Sample values by series (name plus labels, as written) from a Prometheus text exposition. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe("parseHttpAddress", () => {
  it.each([
    ["127.0.0.1:9464", { host: "127.0.0.1", port: 9464 }],
    ["0.0.0.0:80", { host: "0.0.0.0", port: 80 }],
    ["localhost:9464", { host: "localhost", port: 9464 }],
    [":9464", { host: "127.0.0.1", port: 9464 }],
    ["9464", { host: "127.0.0.1", port: 9464 }],
    ["[::1]:9464", { host: "::1", port: 9464 }],
  ])("%s", (value, expected) => {
    expect(parseHttpAddress(value)).toEqual(expected);
  });

  it.each([["nonsense", /--http must be HOST:PORT/], ["127.0.0.1:70000", /--http port must be from 0 to 65535, got 70000/], ["host:", /--http must be HOST:PORT/], ["a b:1", /--http must be HOST:PORT/]])(
    "rejects %s",
    (value, message) => {
      expect(() => parseHttpAddress(value)).toThrow(message);
    },
  );
});

describe("riptide run --http (bad values)", () => {
  it.each([
    [["--http", "nonsense"], /--http must be HOST:PORT/],
    [["--http", "127.0.0.1:65536"], /--http port must be from 0 to 65535, got 65536/],
    [["--http", "127.0.0.1:-1"], /--http must be HOST:PORT/],
    [["--http"], /option --http needs a value/],
  ])("%j exits 2 naming --http", (args, message) => {
    const r = spawnSync(process.execPath, [BIN, "run", ...args], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("--help documents --http", () => {
    const r = spawnSync(process.execPath, [BIN, "run", "--help"], { encoding: "utf8" });
    expect(r.stdout).toMatch(/--http HOST:PORT/);
  });
});

/**
 * One 8-second run serves every live check. The checks start together once records are being
 * processed (a loaded machine may be slow to start the workers), so they all see the run live.
 */
describe("riptide run --http (a live run)", () => {
  let child: ChildProcess;
  let base = "";
  let stderr = "";
  let exit: Promise<number | null>;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [BIN, "run", "--http", `127.0.0.1:${port}`, "--rate", "200000", "--duration", "300", "--quiet"], {
      cwd: ROOT, stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    await until("/healthz answering", 30_000, async () => ((await fetch(`${base}/healthz`)).status === 200 ? true : undefined));
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exit;
  });

  it("/healthz is 200 and /readyz becomes 200, then records are processed", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await until("/readyz 200", 20_000, async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
    await until("records processed", 20_000, async () => {
      const snap = (await (await fetch(`${base}/api/snapshot`)).json()) as { processed: number } | null;
      return snap && snap.processed > 0 ? true : undefined;
    });
  });

  it.concurrent("headless Chromium shows the dashboard, its throughput changes, and a screenshot is saved", async ({ expect }) => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (Debian) to run the dashboard test`);
    }
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const external: string[] = [];
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith(base.replace("http", "ws"))) external.push(r.url()); });
      await page.goto(`${base}/`);
      const figure = page.locator("#throughput");
      const first = await until("a throughput figure", 10_000, async () => {
        const t = (await figure.textContent())?.trim();
        return t && t !== "–" ? t : undefined;
      });
      // The throughput figure and, in the shards panel, worker 0's events/s both change.
      const shardRate = page.locator("#shardTable tbody tr:first-child td:nth-child(2)");
      const seen = new Set([first]);
      const rates = new Set<string>();
      await until("the throughput figure and worker 0's events/s to change", 10_000, async () => {
        seen.add((await figure.textContent())!.trim());
        if ((await shardRate.count()) > 0) rates.add((await shardRate.textContent())!.trim());
        return seen.size > 1 && rates.size > 1 ? true : undefined;
      });
      expect(await page.locator("#lagTable tbody").textContent()).toContain("not a Kafka source");
      // Latency over the last 5 s, the whole run's beside it, and by stage.
      await until("the processed stage's p99 on the page", 10_000, async () => {
        const t = (await page.locator("#stage-processed td:nth-child(3)").textContent())?.trim();
        return t && t !== "–" && Number.isFinite(Number.parseFloat(t)) ? true : undefined;
      });
      expect(await page.locator("#p99Unit").textContent()).toMatch(/^ms, last 5 s \(run [0-9.]+\)$/);
      expect(Number.parseFloat((await page.locator("#p99").textContent())!)).toBeGreaterThan(0);
      await page.waitForTimeout(600); // one more snapshot, while the run is still live
      mkdirSync(join(ROOT, ".riptide"), { recursive: true });
      await page.screenshot({ path: join(ROOT, ".riptide", "dashboard.png"), fullPage: true });
      expect(external).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it.concurrent("/metrics has the named series and the processed counter grows between scrapes", async ({ expect }) => {
    const scrape = async (): Promise<Map<string, number>> => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      return parseMetrics(await res.text());
    };
    const processed = 'stream_messages_processed_total{topic="generator"}';
    const first = await until("a first processed count", 5_000, async () => {
      const m = await scrape();
      return (m.get(processed) ?? 0) > 0 ? m : undefined;
    });
    for (const series of [
      processed,
      'stream_processing_errors_total{processor="driver-tracking",error_type="invalid"}',
      'stream_processing_errors_total{processor="driver-tracking",error_type="anomaly"}',
      'stream_processing_errors_total{processor="driver-tracking",error_type="late"}',
      'stream_processing_errors_total{processor="driver-tracking",error_type="dlq"}',
      'stream_processing_latency_seconds_bucket{processor="driver-tracking",le="+Inf"}',
      'stream_processing_latency_seconds_count{processor="driver-tracking"}',
      'stream_processing_latency_seconds_sum{processor="driver-tracking"}',
      'stream_ring_fill_ratio{processor="driver-tracking",worker="0"}',
      'stream_events_per_second{processor="driver-tracking"}',
      'stream_watermark_delay_seconds{processor="driver-tracking"}',
      'stream_late_records_total{processor="driver-tracking"}',
      'stream_dlq_records_total{topic="generator"}',
      'stream_worker_restarts_total{processor="driver-tracking"}',
      'stream_event_loop_delay_seconds{quantile="0.99"}',
      'stream_shard_events_per_second{processor="driver-tracking",worker="0"}',
      'stream_state_store_entries{processor="driver-tracking",worker="0"}',
      'stream_state_store_bytes{processor="driver-tracking",worker="0"}',
      'stream_processing_stage_latency_seconds_count{processor="driver-tracking",stage="source"}',
      'stream_processing_stage_latency_seconds_count{processor="driver-tracking",stage="processed"}',
      'stream_processing_stage_latency_seconds_count{processor="driver-tracking",stage="acknowledged"}',
      'stream_processing_stage_latency_seconds_bucket{processor="driver-tracking",stage="processed",le="+Inf"}',
    ]) {
      expect(first.has(series), series).toBe(true);
    }
    // Histogram buckets are cumulative and end at the count.
    const buckets = [...first].filter(([k]) => k.startsWith("stream_processing_latency_seconds_bucket")).map(([, v]) => v);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!);
    expect(buckets.at(-1)).toBe(first.get('stream_processing_latency_seconds_count{processor="driver-tracking"}'));
    // Both ring stages are recorded for every acknowledged batch (read together in one collection).
    const stageCount = (stage: string) => first.get(`stream_processing_stage_latency_seconds_count{processor="driver-tracking",stage="${stage}"}`)!;
    expect(stageCount("processed")).toBeGreaterThan(0);
    expect(stageCount("acknowledged")).toBe(stageCount("processed"));
    // "source" is recorded at publication: every batch acknowledged was published before.
    expect(stageCount("source")).toBeGreaterThanOrEqual(stageCount("processed"));
    const second = await until("the processed counter to grow", 5_000, async () => {
      const m = await scrape();
      return m.get(processed)! > first.get(processed)! ? m : undefined;
    });
    expect(second.get(processed)!).toBeGreaterThan(first.get(processed)!);
    // Per-shard rates and state sizes are live figures: seen above 0 while the run goes on.
    await until("a shard's events/s and state entries above 0", 5_000, async () => {
      const m = await scrape();
      const rate = m.get('stream_shard_events_per_second{processor="driver-tracking",worker="0"}') ?? 0;
      const entries = m.get('stream_state_store_entries{processor="driver-tracking",worker="0"}') ?? 0;
      return rate > 0 && entries > 0 ? true : undefined;
    });
    // Not a Kafka source: no lag series.
    expect([...second.keys()].some((k) => k.startsWith("stream_consumer_lag_records"))).toBe(false);
  });

  it.concurrent("a WebSocket client on /live receives a hello and then snapshots", async ({ expect }) => {
    const messages: { type: string; processed?: number; ringFill?: number[] }[] = [];
    const errors: Error[] = [];
    const ws = new WebSocket(`${base.replace("http", "ws")}/live`);
    ws.on("message", (d) => messages.push(JSON.parse(String(d))));
    ws.on("error", (e) => errors.push(e));
    try {
      await until("three /live messages", 10_000, async () => {
        if (errors.length > 0) throw errors[0];
        return messages.length >= 3 ? true : undefined;
      });
    } finally {
      ws.close();
    }
    expect(messages[0]!.type).toBe("hello");
    const snaps = messages.filter((m) => m.type === "snapshot");
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    expect(snaps.at(-1)!.processed!).toBeGreaterThan(snaps[0]!.processed!);
    expect(Array.isArray(snaps[0]!.ringFill)).toBe(true);
    // The latest snapshot's windowed latency: end to end and by stage, numbers while records flow.
    const last = snaps.at(-1) as unknown as {
      recentLatencyMs: { p50: number | null; p99: number | null; seconds: number };
      stagesMs: Record<string, { p50: number | null; p99: number | null }>;
    };
    expect(last.recentLatencyMs.seconds).toBe(5);
    expect(last.recentLatencyMs.p99).toBeGreaterThanOrEqual(last.recentLatencyMs.p50!);
    expect(Object.keys(last.stagesMs).sort()).toEqual(["acknowledged", "processed", "source"]);
    expect(last.stagesMs["processed"]!.p99).toBeGreaterThan(0);
  });

  // The run lasts until stopped here (a run that ended on its own would make the tests above
  // depend on how fast the machine reaches them): SIGTERM stops, flushes and summarises it.
  it("SIGTERM ends the run with exit code 0 and the server stops", async () => {
    child.kill("SIGTERM");
    expect(await exit, stderr).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

describe("riptide run --http on Kafka", () => {
  it("/readyz is 503 while the source is set up and 200 once partitions are assigned", async () => {
    ensureBroker();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const topic = uniqueName("riptide-http-ready");
    const child = spawn(process.execPath, [
      BIN, "run", "--http", `127.0.0.1:${port}`, "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}-out`,
      "--partitions", "2", "--stop-when-idle", "3", "--quiet",
    ], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const statuses: number[] = [];
      await until("/readyz 200", 30_000, async () => {
        const status = (await fetch(`${base}/readyz`)).status;
        if (statuses.at(-1) !== status) statuses.push(status);
        return status === 200 ? true : undefined;
      });
      // Topic creation and the group join take a while: the first answers are 503.
      expect(statuses, stderr).toEqual([503, 200]);
      expect(stderr).toMatch(/"event":"assign"/);
      expect(await exit, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exit;
    }
  });
});
