/**
 * Alerts against real targets: a local HTTP server receives the webhook, a real `sh -c` command
 * appends what it reads to a file. Observations are fed with explicit times (no sleeping on clocks).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Alerts, WindowedRate, type AlertPayload } from "../../src/alerts/alerts.js";

interface Received {
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: AlertPayload;
}

let server: Server;
let base = "";
let received: Received[] = [];
let status = 200;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (d: Buffer) => { body += d.toString(); });
    req.on("end", () => {
      received.push({ path: req.url!, authorization: req.headers.authorization, contentType: req.headers["content-type"], body: JSON.parse(body) });
      res.statusCode = status;
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  status = 200;
});

function logger() {
  const lines: Array<[string, Record<string, unknown>]> = [];
  return { lines, onLog: (event: string, detail: Record<string, unknown>) => lines.push([event, detail]) };
}

describe("Alerts", () => {
  it("fires once per crossing, resolves below the hysteresis mark, fires again on the next crossing; webhook and command both get each notification in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-alerts-"));
    const file = join(dir, "alerts.jsonl");
    const envFile = join(dir, "env.txt");
    const log = logger();
    const alerts = new Alerts({
      rules: [{ name: "dlq_rate", threshold: 10, unit: "records/s" }],
      webhook: `${base}/hook`, command: `cat >> '${file}'; echo "$RIPTIDE_ALERT $RIPTIDE_ALERT_STATUS $RIPTIDE_ALERT_VALUE $RIPTIDE_ALERT_THRESHOLD" >> '${envFile}'`,
      cooldownMs: 0, hysteresis: 0.2, pipeline: "driver-tracking", source: "topic-a", onLog: log.onLog,
    });
    const t0 = Date.UTC(2026, 0, 1);
    // below, above (fires), still above (no new firing), 9 (above the 8 mark: still firing), 8 (resolves),
    // 11 (fires again), 0 (resolves)
    const values = [5, 12, 30, 9, 8, 11, 0];
    values.forEach((v, i) => alerts.observe("dlq_rate", v, t0 + i * 1000, { step: i }));
    await alerts.settle();
    expect(received.map((r) => [r.body.status, r.body.value])).toEqual([["firing", 12], ["resolved", 8], ["firing", 11], ["resolved", 0]]);
    const first = received[0]!;
    expect(first.path).toBe("/hook");
    expect(first.contentType).toBe("application/json");
    expect(first.body).toEqual({
      alert: "dlq_rate", status: "firing", value: 12, threshold: 10, unit: "records/s", time: new Date(t0 + 1000).toISOString(),
      summary: "dlq_rate 12 records/s > 10 records/s", pipeline: "driver-tracking", source: "topic-a", details: { step: 1 },
    });
    const fromCommand = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as AlertPayload);
    expect(fromCommand).toEqual(received.map((r) => r.body));
    expect(readFileSync(envFile, "utf8").trim().split("\n")).toEqual(["dlq_rate firing 12 10", "dlq_rate resolved 8 10", "dlq_rate firing 11 10", "dlq_rate resolved 0 10"]);
    expect(log.lines.filter(([e]) => e === "alert").map(([, d]) => d["status"])).toEqual(["firing", "resolved", "firing", "resolved"]);
    expect(log.lines.filter(([e]) => e === "alert-failed")).toEqual([]);
  });

  it("cooldown: a re-crossing inside it fires only once the cooldown is over, if still above", async () => {
    const alerts = new Alerts({ rules: [{ name: "consumer_lag", threshold: 100, unit: "records" }], webhook: `${base}/h`, cooldownMs: 10_000, pipeline: "p", source: "s" });
    const t0 = 1_000_000;
    alerts.observe("consumer_lag", 500, t0); // fires
    alerts.observe("consumer_lag", 0, t0 + 1000); // resolves
    alerts.observe("consumer_lag", 500, t0 + 2000); // inside the cooldown: held back
    alerts.observe("consumer_lag", 600, t0 + 9000); // still inside
    expect(alerts.firing("consumer_lag")).toBe(false);
    alerts.observe("consumer_lag", 700, t0 + 10_000); // cooldown over, still above: fires
    alerts.observe("consumer_lag", 50, t0 + 11_000); // resolves
    alerts.observe("consumer_lag", 200, t0 + 12_000); // inside the cooldown again
    alerts.observe("consumer_lag", 20, t0 + 30_000); // back below before the cooldown let it fire: nothing
    await alerts.settle();
    expect(received.map((r) => [r.body.status, r.body.value])).toEqual([["firing", 500], ["resolved", 0], ["firing", 700], ["resolved", 50]]);
  });

  it("credentials in the webhook URL are sent as basic auth, the query string is kept", async () => {
    const url = new URL(`${base}/secret-hook?token=abc`);
    url.username = "ops";
    url.password = "p@ss word";
    const alerts = new Alerts({ rules: [{ name: "x", threshold: 0, unit: "u" }], webhook: url.toString(), cooldownMs: 0, pipeline: "p", source: "s" });
    alerts.observe("x", 1);
    await alerts.settle();
    expect(received).toHaveLength(1);
    expect(received[0]!.path).toBe("/secret-hook?token=abc");
    expect(received[0]!.authorization).toBe(`Basic ${Buffer.from("ops:p@ss word").toString("base64")}`);
  });

  it("a failing webhook or command is logged and does not throw", async () => {
    status = 500;
    const log = logger();
    const alerts = new Alerts({
      rules: [{ name: "x", threshold: 1, unit: "u" }], webhook: `${base}/down`, command: "echo nope >&2; exit 3",
      cooldownMs: 0, pipeline: "p", source: "s", onLog: log.onLog,
    });
    alerts.observe("x", 2);
    await alerts.settle();
    const failures = log.lines.filter(([e]) => e === "alert-failed").map(([, d]) => [d["target"], d["error"]]).sort();
    expect(failures).toEqual([["command", "exited with 3: nope"], ["webhook", "HTTP 500"]]);
    // An unreachable webhook: a refused connection.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = new Alerts({ rules: [{ name: "x", threshold: 1, unit: "u" }], webhook: `http://127.0.0.1:${port}/`, cooldownMs: 0, pipeline: "p", source: "s", onLog: log.onLog });
    unreachable.observe("x", 2);
    await unreachable.settle();
    expect(log.lines.at(-1)![0]).toBe("alert-failed");
    expect(String(log.lines.at(-1)![1]["error"])).toMatch(/ECONNREFUSED|fetch failed/);
  });

  it("needs a target", () => {
    expect(() => new Alerts({ rules: [], pipeline: "p", source: "s" })).toThrow(/webhook or a command/);
  });
});

describe("WindowedRate", () => {
  it("is (total now − total at the window's start) / window, from the first sample until a window has passed", () => {
    const r = new WindowedRate(10_000);
    expect(r.push(0, 0)).toBe(0);
    expect(r.push(1000, 50)).toBe(5); // 50 over a 10 s window
    expect(r.push(5000, 100)).toBe(10);
    expect(r.push(10_000, 100)).toBe(10); // baseline still t=0
    expect(r.push(11_000, 100)).toBe(5); // baseline t=1000 (50)
    expect(r.push(16_000, 100)).toBe(0); // baseline t=5000 (100)
    expect(r.push(17_000, 130)).toBe(3);
  });
});
