/** The run logger: pino JSON lines, level filter, secrets scrubbed, dead letters summarised per burst. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRunLogger, scrub, scrubString, type LogLevel } from "../../src/log/logger.js";

function capture(level?: LogLevel, dlqSummaryMs = 5000) {
  const lines: string[] = [];
  const logs = createRunLogger({ ...(level && { level }), write: (l) => lines.push(l), dlqSummaryMs });
  const parsed = () => lines.map((l) => {
    expect(l.endsWith("\n")).toBe(true);
    expect(l.slice(0, -1)).not.toContain("\n");
    return JSON.parse(l) as Record<string, unknown>;
  });
  return { logs, lines, parsed };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("createRunLogger", () => {
  it("writes one JSON line per event with level label, ISO time, pid, event, msg and the fields", () => {
    const { logs, parsed } = capture();
    logs.log("assign", { partitions: [0, 1] });
    logs.log("worker-restart", { worker: 1, error: "boom" });
    logs.log("something-new", { x: 1 });
    const [a, r, n] = parsed();
    expect(a).toMatchObject({ level: "info", pid: process.pid, event: "assign", partitions: [0, 1], msg: "partitions assigned" });
    expect(new Date(a!["time"] as string).toISOString()).toBe(a!["time"]);
    expect(r).toMatchObject({ level: "warn", event: "worker-restart", worker: 1, error: "boom" });
    expect(n).toMatchObject({ level: "info", event: "something-new", msg: "something-new", x: 1 });
  });

  it("filters by level: warn drops info and debug, debug keeps them, silent logs nothing", () => {
    for (const [level, expected] of [["warn", ["worker-restart", "commit-error"]], ["debug", ["assign", "pause", "worker-restart", "commit-error"]], ["silent", []]] as const) {
      const { logs, parsed } = capture(level);
      for (const e of ["assign", "pause", "worker-restart", "commit-error"]) logs.log(e, {});
      expect(parsed().map((l) => l["event"]), level).toEqual(expected);
    }
  });

  it("a resolved alert is info, a firing one warn; a failed stop is error, a done one info", () => {
    const { logs, parsed } = capture("warn");
    logs.log("alert", { status: "firing" });
    logs.log("alert", { status: "resolved" });
    logs.log("stop", { status: "done" });
    logs.log("stop", { status: "failed" });
    expect(parsed().map((l) => [l["event"], l["status"], l["level"]])).toEqual([["alert", "firing", "warn"], ["stop", "failed", "error"]]);
  });

  it("never writes secrets: fields named like one, URL credentials and secret query parameters", () => {
    const { logs, lines } = capture();
    logs.log("start", {
      redis: "redis://:hunter2-redis@127.0.0.1:6379/0", webhook: "https://user:pa55-hook@example.test/hook?token=tok-123&x=1",
      password: "pw-456", nested: { saslPassword: "sasl-789", apiKey: "key-000", list: ["http://a:b-secret-b@h/"] },
      error: "connect to http://me:err-secret@h:1/x failed",
    });
    const text = lines.join("");
    for (const secret of ["hunter2-redis", "pa55-hook", "tok-123", "pw-456", "sasl-789", "key-000", "b-secret-b", "err-secret"]) expect(text).not.toContain(secret);
    const line = JSON.parse(lines[0]!);
    expect(line.redis).toBe("redis://***@127.0.0.1:6379/0");
    expect(line.webhook).toBe("https://***@example.test/hook?token=***&x=1");
    expect(line.password).toBe("[redacted]");
  });

  it("scrub leaves ordinary values alone", () => {
    expect(scrub({ a: 1, b: "text", c: [1, "http://host:80/path?x=1"], d: null })).toEqual({ a: 1, b: "text", c: [1, "http://host:80/path?x=1"], d: null });
    expect(scrubString("127.0.0.1:9092")).toBe("127.0.0.1:9092");
  });

  it("dead letters: one line at the start of a burst, one summary per interval, one at its end — never one per record", () => {
    vi.useFakeTimers();
    const { logs, parsed } = capture("info", 1000);
    for (let i = 0; i < 500; i++) logs.log("dlq", { partition: i % 3, offset: i, error: `bad ${i}` });
    vi.advanceTimersByTime(1000); // summary of the 499 after the first
    for (let i = 0; i < 20; i++) logs.log("dlq", { partition: 7, offset: 1000 + i, error: "late burst" });
    vi.advanceTimersByTime(1000); // summary of 20
    vi.advanceTimersByTime(1000); // a quiet interval: end
    const lines = parsed();
    expect(lines.map((l) => [l["event"], l["phase"]])).toEqual([
      ["dlq-burst", "start"], ["dlq-burst", "ongoing"], ["dlq-burst", "ongoing"], ["dlq-burst", "end"],
    ]);
    expect(lines[0]).toMatchObject({ level: "warn", partition: 0, offset: 0, error: "bad 0" });
    expect(lines[1]).toMatchObject({ records: 499, total: 500, partitions: [0, 1, 2], lastError: "bad 499" });
    expect(lines[2]).toMatchObject({ records: 20, total: 520, partitions: [7] });
    expect(lines[3]).toMatchObject({ total: 520 });
    // A new burst starts afresh.
    logs.log("dlq", { partition: 0, offset: 5000, error: "again" });
    logs.close();
    expect(parsed().slice(4).map((l) => [l["phase"], l["total"]])).toEqual([["start", undefined], ["end", 1]]);
  });
});

describe("repeating errors", () => {
  it("the same error is logged once per interval, the next line counting those dropped; other messages pass", () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const logs = createRunLogger({ write: (l) => lines.push(l), repeatMs: 1000 });
    for (let i = 0; i < 50; i++) logs.log("consume-error", { error: "broker down" });
    logs.log("consume-error", { error: "something else" });
    vi.advanceTimersByTime(1000);
    logs.log("consume-error", { error: "broker down" });
    logs.log("worker-restart", { worker: 0, error: "x" });
    logs.log("worker-restart", { worker: 0, error: "x" }); // not a repeating kind: every one is logged
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => [l["event"], l["error"], l["suppressed"]])).toEqual([
      ["consume-error", "broker down", undefined], ["consume-error", "something else", undefined],
      ["consume-error", "broker down", 49], ["worker-restart", "x", undefined], ["worker-restart", "x", undefined],
    ]);
    expect(parsed[0]!["level"]).toBe("error");
  });
});
