/**
 * The retry topic in a real `riptide run --brokers …` process: two of its side-output topics are
 * deleted under it (Kafka then refuses their messages with a retriable "unknown topic" / timeout),
 * one comes back. Refused anomaly outputs go through `<input>.retry` and are delivered once the
 * topic is back; refused late outputs run out of retries and land in `<input>.dlq` with their
 * headers. Nothing is lost, counts are in the summary and on /metrics.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { DLQ_HEADER } from "../../src/io/retry.js";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";

async function admin<T>(fn: (a: ReturnType<typeof factory.createAdmin>) => Promise<T>): Promise<T> {
  const a = factory.createAdmin({ brokers: BROKERS });
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("riptide run: refused outputs through the retry topic", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("delivers what recovers after the backoff, dead-letters what never does, loses nothing", async () => {
    const input = uniqueName("rt-in");
    const output = uniqueName("rt-out");
    await createTopic(input, 1);
    const gen = new DriverGenerator({ seed: 33, partitions: 1, drivers: 300, lateShare: 0.02, teleportShare: 0.01, invalidShare: 0.01 });
    const total = 6000;
    const cols: DriverColumns = { driver: new Uint32Array(total), lat: new Float64Array(total), lon: new Float64Array(total), ts: new Float64Array(total), speed: new Float64Array(total) };
    gen.fill(0, cols, 0, total);
    const sourced: SourcedEvent[] = [];
    const messages: Array<{ value: string; partition: number }> = [];
    for (let i = 0; i < total; i++) {
      const e = DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id));
      sourced.push({ partition: 0, event: e });
      messages.push({ value: JSON.stringify(e), partition: 0 });
    }
    const reference = referenceDriverTracking(sourced, 1);
    const expected = (type: string) => reference.filter((o) => o.type === type).length;
    expect(expected("anomaly")).toBeGreaterThan(0);
    expect(expected("late")).toBeGreaterThan(0);

    const run = riptide(["run", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", uniqueName("g"),
      "--workers", "1", "--stop-when-idle", "10", "--json", "--quiet", "--http", "127.0.0.1:0",
      "--max-retries", "5", "--retry-backoff", "300", "--delivery-timeout", "1500"]);
    try {
      await waitFor("the assignment", () => run.stderr.includes('"event":"assign"'));
      const url = /"url":"([^"]+)"/.exec(run.stderr)?.[1];
      expect(url).toBeDefined();
      // The run created its topics; two of them go away before any input arrives.
      await admin(async (a) => {
        await a.deleteTopic(`${output}.anomaly`);
        await a.deleteTopic(`${output}.late`);
        // Deletion completes asynchronously: until the broker no longer knows them, an output could
        // still be acknowledged into a topic about to vanish (lost to this test, not to riptide).
        await waitFor("the deletion", async () => {
          const md = await a.metadata().catch(() => undefined);
          return md !== undefined && !md.topics.some((t) => t.name === `${output}.anomaly` || t.name === `${output}.late`);
        }, 30_000);
        await new Promise((r) => setTimeout(r, 1000));
      });
      await produceAll(input, messages);

      // Refused anomaly outputs are being retried: the topic comes back (with the broker's defaults).
      await waitFor("a scheduled retry of an anomaly output", () => run.stderr.includes(`"target":"${output}.anomaly"`), 60_000);
      let scraped = "";
      await waitFor("the retry counter on /metrics", async () => {
        scraped = await fetch(`${url}/metrics`).then((r) => r.text()).catch(() => "");
        return /stream_retries_total\{[^}]*outcome="scheduled"\} [1-9]/.test(scraped);
      }, 30_000);
      await admin((a) => a.createTopic(`${output}.anomaly`, 1, 1));

      const code = await run.exited;
      expect(code, run.stderr).toBe(0);
    } finally {
      run.child.kill("SIGKILL");
    }
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    console.log(`retry run: outputs ${JSON.stringify(summary.outputs)}, retries ${JSON.stringify(summary.retries)}`);
    expect(summary.outputs.anomaly).toBe(expected("anomaly"));
    expect(summary.outputs.late).toBe(expected("late"));
    expect(summary.outputs.window).toBe(expected("window"));

    const anomalies = await readAll([`${output}.anomaly`], 3000);
    const dlq = await readAll([`${input}.dlq`], 3000);
    const dead = (topic: string) => dlq.filter((m) => m.headers?.find((h) => h.key === DLQ_HEADER.target)?.value.toString() === topic);
    // Nothing lost: every refused output is either delivered (after its retries) or a dead letter.
    expect(anomalies.length + dead(`${output}.anomaly`).length).toBe(expected("anomaly"));
    expect(dead(`${output}.late`)).toHaveLength(expected("late"));
    expect(dlq).toHaveLength(dead(`${output}.anomaly`).length + dead(`${output}.late`).length);
    for (const m of dead(`${output}.late`)) {
      const h = Object.fromEntries((m.headers ?? []).map((x) => [x.key, x.value.toString()]));
      expect(h[DLQ_HEADER.attempts]).toBe("6");
      expect(h[DLQ_HEADER.stage]).toBe("deliver");
      expect(h[DLQ_HEADER.error]).toMatch(/^gave up after 6 attempts \(1 \+ 5 retries, --max-retries 5\): /);
      expect(JSON.parse(m.value!.toString()).type).toBe("late");
    }
    // At least one anomaly output was refused, retried after its backoff and then delivered.
    expect(summary.retries.succeeded).toBeGreaterThan(0);
    expect(anomalies.length).toBeGreaterThan(0);
    expect(summary.retries.deadLettered).toBe(dlq.length);
    // Every refused output was scheduled once per retry it got: late ones 5 times each.
    expect(summary.retries.scheduled).toBeGreaterThanOrEqual(5 * expected("late") + summary.retries.succeeded);
    expect(summary.retries.failed).toBe(summary.retries.scheduled - summary.retries.succeeded);
    expect(run.stderr).toContain('"event":"retry-ok"');
    expect(run.stderr).toContain('"event":"retry-dlq"');
  }, 180_000);
});
