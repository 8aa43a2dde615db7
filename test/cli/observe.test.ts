/**
 * The operator's view of `riptide run` as a real child process (bin/riptide.js, built JS): JSON
 * log lines on stderr, --log-level, alert options, the status line on a terminal (through
 * `script`, which gives the child a pseudo-terminal), plain lines otherwise, --quiet.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(__dirname, "..", "..", "bin", "riptide.js");

function riptide(args: string[], timeout = 120_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every stderr line that is JSON (log lines); other lines (status lines) are returned apart. */
function split(stderr: string): { logs: Array<Record<string, unknown>>; other: string[] } {
  const logs: Array<Record<string, unknown>> = [];
  const other: string[] = [];
  for (const line of stderr.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("{")) logs.push(JSON.parse(line) as Record<string, unknown>);
    else other.push(line);
  }
  return { logs, other };
}

describe("riptide run: logs", () => {
  it("writes one JSON line per lifecycle event on stderr (start … stop), nothing per record, and --json stdout stays one line", () => {
    const r = riptide(["run", "--events", "400000", "--workers", "2", "--json", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const summary = JSON.parse(r.stdout);
    const { logs, other } = split(r.stderr);
    expect(other).toEqual([]);
    expect(logs.map((l) => l["event"])).toEqual(["start", "stop"]);
    for (const l of logs) {
      expect(l).toMatchObject({ level: "info", pid: expect.any(Number), msg: expect.any(String) });
      expect(new Date(l["time"] as string).toISOString()).toBe(l["time"]);
    }
    expect(logs[0]).toMatchObject({ event: "start", pipeline: "driver-tracking", source: "generator", workers: 2, logLevel: "info" });
    expect(logs[1]).toMatchObject({ event: "stop", status: "done", events: 400000, outputs: summary.outputs, workerRestarts: 0 });
  });

  it("--log-level warn drops the info lines; silent drops everything", () => {
    for (const level of ["warn", "silent"]) {
      const r = riptide(["run", "--events", "100000", "--workers", "1", "--json", "--quiet", "--log-level", level]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr, level).toBe("");
      expect(JSON.parse(r.stdout).events).toBe(100000);
    }
  });

  it("--log-level debug keeps the info lines", () => {
    const r = riptide(["run", "--events", "100000", "--workers", "1", "--json", "--quiet", "--log-level", "debug"]);
    expect(r.code, r.stderr).toBe(0);
    expect(split(r.stderr).logs.map((l) => l["event"])).toEqual(["start", "stop"]);
  });

  it("logs the alert settings without the webhook's path, credentials or query, nor the command's arguments", () => {
    const r = riptide(["run", "--events", "100000", "--workers", "1", "--json", "--quiet",
      "--alert-dlq-rate", "5", "--alert-webhook", "https://ops:hunter2-pw@alerts.invalid/T000/B000/xyzzy-secret?token=tok-999",
      "--alert-command", "notify --key key-12345"]);
    expect(r.code, r.stderr).toBe(0);
    for (const secret of ["hunter2-pw", "xyzzy-secret", "tok-999", "key-12345"]) expect(r.stderr).not.toContain(secret);
    const start = split(r.stderr).logs[0]!;
    expect(start["alerts"]).toEqual({ webhook: "https://alerts.invalid/…", command: "notify …", dlqRate: 5, windowSeconds: 10, cooldownSeconds: 60 });
  });
});

describe("riptide run: a run that fails before its main loop", () => {
  it("still ends its logs with a stop line (status failed, the error) and exits 1", async () => {
    const { createServer } = await import("node:net");
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = riptide(["run", "--events", "1000", "--http", `127.0.0.1:${port}`]);
      expect(r.code, r.stderr).toBe(1);
      const { logs, other } = split(r.stderr);
      expect(logs.map((l) => l["event"])).toEqual(["start", "stop"]);
      expect(logs[1]).toMatchObject({ level: "error", status: "failed", error: expect.stringMatching(/the address is in use/) });
      expect(other).toEqual([expect.stringMatching(/^riptide: --http 127\.0\.0\.1:\d+: the address is in use/)]);
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });
});

describe("riptide run: bad logging and alert options", () => {
  it.each([
    [["--log-level", "loud"], /--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/],
    [["--log-level"], /option --log-level needs a value/],
    [["--alert-dlq-rate", "5"], /--alert-dlq-rate needs --alert-webhook or --alert-command/],
    [["--alert-webhook", "http://127.0.0.1:9/x"], /--alert-webhook needs --alert-dlq-rate or --alert-lag/],
    [["--alert-command", "true"], /--alert-command needs --alert-dlq-rate or --alert-lag/],
    [["--alert-dlq-rate", "-1", "--alert-command", "true"], /--alert-dlq-rate must be at least 0, got -1/],
    [["--alert-dlq-rate", "lots", "--alert-command", "true"], /--alert-dlq-rate must be a number, got "lots"/],
    [["--alert-lag", "100", "--alert-command", "true"], /--alert-lag needs --brokers/],
    [["--alert-webhook", "ftp://host/x", "--alert-dlq-rate", "1"], /--alert-webhook must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/host\/x"/],
    [["--alert-webhook", "not a url", "--alert-dlq-rate", "1"], /--alert-webhook must be an http:\/\/ or https:\/\/ URL/],
    [["--alert-command", "  ", "--alert-dlq-rate", "1"], /--alert-command must not be empty/],
    [["--alert-window", "0", "--alert-dlq-rate", "1", "--alert-command", "true"], /--alert-window must be at least 0.1, got 0/],
    [["--alert-cooldown", "5"], /--alert-cooldown needs --alert-dlq-rate or --alert-lag/],
  ])("%j exits 2 naming the option", (args, message) => {
    const r = riptide(["run", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("--help documents the options and the exit codes", () => {
    const r = riptide(["run", "--help"]);
    expect(r.code).toBe(0);
    for (const opt of ["--log-level", "--alert-webhook", "--alert-command", "--alert-dlq-rate", "--alert-lag", "--alert-window", "--alert-cooldown", "--quiet"]) {
      expect(r.stdout).toContain(opt);
    }
    expect(r.stdout).toMatch(/Exit codes: 0 done .*1 the run\s+failed, 2 bad usage .*130/s);
  });
});

describe("riptide run: the status line", () => {
  it("off a terminal: a plain line every 5 s (no carriage returns), then the summary", () => {
    const r = riptide(["run", "--rate", "100000", "--duration", "6", "--workers", "1", "--log-level", "warn"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("\r");
    const { other } = split(r.stderr);
    const status = other.filter((l) => /events\/s \| [\d.]+ M events \| latency p50 /.test(l));
    expect(status.length).toBeGreaterThanOrEqual(1);
    expect(other.at(-1)).toMatch(/^driver-tracking: \d+ events in /);
  });

  it("--quiet: neither status lines nor the summary, logs still there", () => {
    const r = riptide(["run", "--rate", "100000", "--duration", "6", "--workers", "1", "--quiet"]);
    expect(r.code, r.stderr).toBe(0);
    const { logs, other } = split(r.stderr);
    expect(other).toEqual([]);
    expect(logs.map((l) => l["event"])).toEqual(["start", "stop"]);
  });

  it.runIf(existsSync("/usr/bin/script"))("on a terminal: one line rewritten in place, ended by a newline before the summary and the stop line", () => {
    // `script` runs the command on a pseudo-terminal and copies what it writes to stdout.
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run --rate 100000 --duration 3 --workers 1`;
    const r = spawnSync("/usr/bin/script", ["-qefc", cmd, "/dev/null"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;
    const rewrites = out.split("\r\x1b[2K").length - 1;
    expect(rewrites).toBeGreaterThanOrEqual(3); // about two per second
    const lines = out.replace(/\r\n/g, "\n").split("\n").filter((l) => l !== "");
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: "start" });
    // One terminal line holds every status update (each starts with CR + erase line).
    expect(lines[1]).toMatch(/^\r\x1b\[2K[\d.]+ k?events\/s \|.*\r\x1b\[2K[\d.]+ k?events\/s \|/);
    expect(lines[2]).toMatch(/^driver-tracking: \d+ events in /);
    expect(JSON.parse(lines[3]!)).toMatchObject({ event: "stop", status: "done" });
  });
});
