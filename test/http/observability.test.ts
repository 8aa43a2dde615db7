/**
 * The operator's view of a Kafka run, end to end with real parts: the broker, `riptide run` as a
 * child process, a local HTTP server receiving the alert webhook, a real command appending the
 * alerts to a file, fetch scraping /metrics, and headless Chromium on the dashboard.
 *
 *   backlog of 300 k records ──► lag per partition > 0 ──► consumer_lag fires ──► caught up: resolves
 *   200 undecodable records  ──► dlq rate > 20/s     ──► dlq_rate fires     ──► window passes: resolves
 *   200 more                 ──► fires again (recovered and re-crossed)     ──► resolves
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlertPayload } from "../../src/alerts/alerts.js";
import { BIN, BROKERS, createTopic, ensureBroker, produceAll, ROOT, uniqueName } from "../support/kafka.js";
import { freePort } from "../support/net.js";

const CHROMIUM = "/usr/bin/chromium";

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what} did not happen in ${limitMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe("riptide run on Kafka: lag, dead letters, alerts, logs and the dashboard", () => {
  const topic = uniqueName("riptide-obs");
  const dir = mkdtempSync(join(tmpdir(), "riptide-obs-"));
  const commandFile = join(dir, "alerts.jsonl");
  const hooks: AlertPayload[] = [];
  let hookServer: Server;
  let child: ChildProcess;
  let exit: Promise<number | null>;
  let stderr = "";
  let stdout = "";
  let base = "";

  const scrape = async (): Promise<Map<string, number>> => parseMetrics(await (await fetch(`${base}/metrics`)).text());
  const lagOf = (m: Map<string, number>, p: number): number | undefined => m.get(`stream_consumer_lag_records{topic="${topic}",partition="${p}"}`);
  const hooksOf = (alert: string): string[] => hooks.filter((h) => h.alert === alert).map((h) => h.status);
  const garbage = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ value: `not json ${tag} ${i}`, partition: i % 2 }));

  beforeAll(async () => {
    ensureBroker();
    await createTopic(topic, 2);
    const t0 = Date.now() - 3_600_000;
    await produceAll(topic, Array.from({ length: 300_000 }, (_, i) => ({
      value: JSON.stringify({ driverId: `d${i % 2000}`, lat: 37.7 + (i % 97) / 1000, lon: -122.4 + (i % 89) / 1000, ts: t0 + i * 10, speedKmh: 30 }),
      partition: i % 2,
    })));
    hookServer = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => { body += d.toString(); });
      req.on("end", () => {
        hooks.push(JSON.parse(body) as AlertPayload);
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => hookServer.listen(0, "127.0.0.1", resolve));
    const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/alerts`;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [
      BIN, "run", "--brokers", BROKERS, "--input-topic", topic, "--output-topic", `${topic}-out`, "--group", uniqueName("g"),
      "--workers", "2", "--http", `127.0.0.1:${port}`, "--json", "--quiet",
      "--alert-lag", "1000", "--alert-dlq-rate", "20", "--alert-window", "2", "--alert-cooldown", "0",
      "--alert-webhook", hookUrl, "--alert-command", `cat >> '${commandFile}'`,
    ], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    await until("/readyz 200", 60_000, async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
  }, 300_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await exit;
    await new Promise<void>((resolve) => hookServer.close(() => resolve()));
  });

  it("shows the backlog as lag per partition, which falls to 0; consumer_lag fires, then resolves", async () => {
    const seen = new Set<number>();
    await until("lag > 0 on a partition, then 0 on both", 120_000, async () => {
      const m = await scrape();
      const l0 = lagOf(m, 0);
      const l1 = lagOf(m, 1);
      if (l0 !== undefined) seen.add(l0);
      if (l1 !== undefined) seen.add(l1);
      return [...seen].some((x) => x > 0) && l0 === 0 && l1 === 0 ? true : undefined;
    });
    await until("consumer_lag firing then resolved", 30_000, () => (hooksOf("consumer_lag").join() === "firing,resolved" ? true : undefined));
    const firing = hooks.find((h) => h.alert === "consumer_lag" && h.status === "firing")!;
    expect(firing).toMatchObject({ threshold: 1000, unit: "records", pipeline: "driver-tracking", source: topic });
    expect(firing.value).toBeGreaterThan(1000);
    expect(Object.keys(firing.details!["partitions"] as object).sort()).toEqual(["0", "1"]);
    expect(new Date(firing.time).toISOString()).toBe(firing.time);
  }, 200_000);

  it.concurrent("the dashboard in headless Chromium shows the lag per partition, the shards and then the dead letters", async ({ expect }) => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\``);
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      await until("a row per partition in the lag table", 60_000, async () => ((await page.locator("#lag-p0").count()) === 1 && (await page.locator("#lag-p1").count()) === 1 ? true : undefined));
      await until("the lag total to read 0 records behind", 120_000, async () => ((await page.locator("#lagTotal").textContent())?.includes("— 0 records behind") ? true : undefined));
      expect(await page.locator("#shardTable tbody tr").count()).toBe(2);
      await until("state entries shown for a shard", 30_000, async () => {
        const cells = await page.locator("#shardTable tbody tr td:nth-child(4)").allTextContents();
        return cells.some((c) => Number(c) > 0) ? true : undefined;
      });
      await until("dead letters counted on the page", 120_000, async () => {
        const t = (await page.locator("#c-dlq").textContent())?.trim();
        return t && Number(t) > 0 ? true : undefined;
      });
      mkdirSync(join(ROOT, ".riptide"), { recursive: true });
      await page.screenshot({ path: join(ROOT, ".riptide", "dashboard-kafka.png"), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);

  it.concurrent("dead letters: dlq_rate fires on a burst, resolves when the window passes, fires again on the next burst", async ({ expect }) => {
    await produceAll(topic, garbage(200, "a"));
    await until("dlq_rate firing then resolved", 60_000, () => (hooksOf("dlq_rate").join() === "firing,resolved" ? true : undefined));
    // The burst's log lines end after a quiet interval: the next burst is a new one.
    await until("the first dead-letter burst's end line", 60_000, () => (stderr.includes('"phase":"end"') ? true : undefined));
    await produceAll(topic, garbage(200, "b"));
    await until("dlq_rate firing again, then resolved", 60_000, () => (hooksOf("dlq_rate").join() === "firing,resolved,firing,resolved" ? true : undefined));
    const firings = hooks.filter((h) => h.alert === "dlq_rate" && h.status === "firing");
    for (const f of firings) {
      expect(f).toMatchObject({ threshold: 20, unit: "records/s", source: topic });
      expect(f.value).toBeGreaterThan(20);
    }
    const m = await until("400 dead letters counted", 30_000, async () => {
      const x = await scrape();
      return x.get(`stream_dlq_records_total{topic="${topic}"}`) === 400 ? x : undefined;
    });
    expect(m.get('stream_processing_errors_total{processor="driver-tracking",error_type="dlq"}')).toBe(400);
    for (const w of [0, 1]) {
      expect(m.has(`stream_shard_events_per_second{processor="driver-tracking",worker="${w}"}`)).toBe(true);
      expect(m.has(`stream_state_store_entries{processor="driver-tracking",worker="${w}"}`)).toBe(true);
      expect(m.get(`stream_state_store_bytes{processor="driver-tracking",worker="${w}"}`)).toBeGreaterThan(0);
    }
  }, 300_000);

  it("stops on SIGTERM with exit code 0; the command got every alert the webhook got; logs are JSON lines, dead letters summarised per burst", async () => {
    await until("both tests' alerts", 60_000, () => (hooks.length >= 6 ? true : undefined));
    child.kill("SIGTERM");
    expect(await exit, stderr).toBe(0);
    expect(stdout.trim().split("\n")).toHaveLength(1);
    expect(JSON.parse(stdout)).toMatchObject({ events: 300_400, deadLetters: 400 });
    const fromCommand = readFileSync(commandFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as AlertPayload);
    const key = (h: AlertPayload) => `${h.alert} ${h.status} ${h.time}`;
    expect(fromCommand.map(key).sort()).toEqual(hooks.map(key).sort());

    const logs = stderr.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = logs.map((l) => l["event"]);
    expect(events[0]).toBe("start");
    expect(events.at(-1)).toBe("stop");
    expect(events).toContain("assign");
    expect(events).toContain("revoke");
    expect(logs.at(-1)).toMatchObject({ status: "interrupted", deadLetters: 400 });
    const alerts = logs.filter((l) => l["event"] === "alert").map((l) => `${l["alert"]} ${l["status"]}`);
    expect(alerts).toEqual(hooks.map((h) => `${h.alert} ${h.status}`));
    // 400 dead letters in two bursts: a start and an end line per burst, a summary at most every 5 s in between.
    const dlq = logs.filter((l) => l["event"] === "dlq-burst");
    expect(dlq.filter((l) => l["phase"] === "start")).toHaveLength(2);
    expect(dlq.filter((l) => l["phase"] === "end").map((l) => l["total"])).toEqual([200, 200]);
    expect(dlq.length).toBeLessThanOrEqual(8);
    const counted = dlq.filter((l) => l["phase"] === "start").length + dlq.filter((l) => l["phase"] === "ongoing").reduce((s, l) => s + (l["records"] as number), 0);
    expect(counted).toBe(400);
  }, 200_000);
});
