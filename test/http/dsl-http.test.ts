/**
 * `--http` on a DSL run (src/dsl/observe-run.ts): a pipeline written on the DSL, as a real child
 * process of bin/riptide.js, scraped with fetch while it runs: /healthz, /readyz, /api/snapshot
 * and /metrics with the pipeline's name as the processor label; then SIGTERM stops it as it stops
 * the built-in pipelines (summary, exit code 0, the server gone). A bad address is refused by name.
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../support/net.js";

const ROOT = join(__dirname, "..", "..");
const BIN = join(ROOT, "bin", "riptide.js");

async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen in ${limitMs} ms`);
}

describe("riptide run <DSL pipeline> --http", () => {
  it("serves the run's health, readiness, snapshot and metrics while it runs; SIGTERM ends the run and the server", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // 6 000 000 events at 100 000/s: a minute of run, stopped by SIGTERM once scraped.
    const child = spawn(process.execPath, [BIN, "run", "content-views", "--events", "6000000", "--rate", "100000", "--workers", "1",
      "--http", `127.0.0.1:${port}`, "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until("/healthz 200", 20_000, async () => ((await fetch(`${base}/healthz`)).status === 200 ? true : undefined));
      await until("/readyz 200", 20_000, async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
      await until("records processed", 20_000, async () => {
        const snap = (await (await fetch(`${base}/api/snapshot`)).json()) as { processed: number } | null;
        return snap && snap.processed > 0 ? true : undefined;
      });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/stream_events_per_second\{processor="content-views"\}/);
      child.kill("SIGTERM");
      expect(await exit, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    expect(stderr).toMatch(/"event":"http-listening","url":"http:\/\/127\.0\.0\.1:\d+"/);
    expect(stderr).toMatch(/"event":"stop","status":"interrupted"/);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as { pipeline: string; events: number };
    expect(summary.pipeline).toBe("content-views");
    expect(summary.events).toBeGreaterThan(0);
    expect(summary.events).toBeLessThan(6_000_000);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  }, 60_000);

  it("refuses a bad --http address, naming the option (exit code 2)", () => {
    const r = spawnSync(process.execPath, [BIN, "run", "content-views", "--events", "10", "--http", "nowhere"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--http must be HOST:PORT/);
  });
});
