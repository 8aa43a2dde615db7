/**
 * A DSL topology on Kafka: `riptide run --topology … --brokers …` as a real process against the real
 * broker. Two input partitions (each driver on one), 2 workers; the window counts on the output
 * topic equal a plain count per (driver, window) computed here (the jitter stays inside the grace,
 * so nothing is late), and the driver names come back from the interned ids.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/random.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { canonical } from "./sharded.js";

describe("a topology on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("hopping counts per driver from a 2-partition topic, on 2 workers, to the output topic", async () => {
    const input = uniqueName("dsl-in");
    const output = uniqueName("dsl-out");
    await createTopic(input, 2);
    const next = mulberry32(17);
    const t0 = 1_700_000_000_000;
    const messages: Array<{ value: string; key: string; partition: number }> = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 4_000; i++) {
      const d = next() % 30;
      const ts = t0 + i * 50 - (next() % 3_000); // jitter 3 s < 10 s grace
      const driverId = `driver-${d}`;
      messages.push({ value: JSON.stringify({ driverId, speedKmh: 10, ts }), key: driverId, partition: d % 2 });
      for (let s = Math.floor((ts - 60_000) / 20_000) * 20_000 + 20_000; s <= ts; s += 20_000) {
        const id = `${driverId}|${s}`;
        expected.set(id, (expected.get(id) ?? 0) + 1);
      }
    }
    messages.push({ value: "{not json", key: "x", partition: 0 });
    await produceAll(input, messages);
    const p = riptide(["run", "--topology", "test/dsl/fixtures/driver-counts.js", "--brokers", BROKERS, "--input-topic", input,
      "--output-topic", output, "--workers", "2", "--stop-when-idle", "3", "--json", "--quiet"]);
    const code = await p.exited;
    expect(p.stderr).toBe("");
    expect(code).toBe(0);
    const summary = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
    expect(summary.outputs.late).toBe(0);
    const got = (await readAll([output])).map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
    expect(got.every((o) => o["type"] === "window")).toBe(true);
    expect(canonical(got.map((o) => [`${o["key"]}|${o["windowStart"]}`, o["value"]])))
      .toEqual(canonical([...expected].map(([id, n]) => [id, n])));
    const dlq = await readAll([`${input}.dlq`], 2_000);
    expect(dlq.map((m) => m.value!.toString())).toEqual(["{not json"]);
  });

  it("--log-level and the alerts: dead letters fire the dlq_rate alert's command, logged between the start and stop lines", async () => {
    const input = uniqueName("dsl-alert-in");
    await createTopic(input, 1);
    const t0 = 1_700_000_000_000;
    const good = Array.from({ length: 500 }, (_, i) => ({ value: JSON.stringify({ driverId: `driver-${i % 5}`, speedKmh: 10, ts: t0 + i * 100 }) }));
    await produceAll(input, [...good, ...Array.from({ length: 20 }, (_, i) => ({ value: `{poison ${i}` }))]);
    const file = join(mkdtempSync(join(tmpdir(), "riptide-dsl-alert-")), "alerts.jsonl");
    const p = riptide(["run", "--topology", "test/dsl/fixtures/driver-counts.js", "--brokers", BROKERS, "--input-topic", input,
      "--output-topic", uniqueName("dsl-alert-out"), "--workers", "1", "--stop-when-idle", "3", "--json", "--log-level", "debug",
      "--alert-dlq-rate", "0", "--alert-window", "2", "--alert-cooldown", "0", "--alert-command", `cat >> '${file}'`]);
    expect(await p.exited, p.stderr).toBe(0);
    const logs = p.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs[0]).toMatchObject({ event: "start", source: input, alerts: { dlqRate: 0, windowSeconds: 2, command: "cat …" } });
    expect(logs.at(-1)).toMatchObject({ event: "stop", status: "done", deadLetters: 20 });
    expect(logs.some((l) => l["event"] === "alert" && l["alert"] === "dlq_rate")).toBe(true);
    const fired = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(fired[0]).toMatchObject({ alert: "dlq_rate", status: "firing", pipeline: "dsl:test/dsl/fixtures/driver-counts.js", source: input });
  });

  it("groupBy(region) with a user function in the workers: strings interned by the Kafka source reach the workers", async () => {
    const input = uniqueName("dsl-rides");
    const output = uniqueName("dsl-regions");
    await createTopic(input, 2);
    const next = mulberry32(23);
    const t0 = 1_700_000_000_000;
    const messages: Array<{ value: string; key: string; partition: number }> = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 3_000; i++) {
      const d = next() % 40;
      const region = `region-${next() % 7}`;
      const ts = t0 + i * 40 - (next() % 2_000);
      messages.push({ value: JSON.stringify({ driverId: `driver-${d}`, region, fare: 1, ts }), key: `driver-${d}`, partition: d % 2 });
      for (let s = Math.floor((ts - 60_000) / 30_000) * 30_000 + 30_000; s <= ts; s += 30_000) {
        const id = `${region}|${s}`;
        expected.set(id, (expected.get(id) ?? 0) + 1);
      }
    }
    await produceAll(input, messages);
    const p = riptide(["run", "--topology", "test/dsl/fixtures/region-counts.js", "--brokers", BROKERS, "--input-topic", input,
      "--output-topic", output, "--workers", "2", "--stop-when-idle", "3", "--json", "--quiet"]);
    expect(await p.exited).toBe(0);
    const summary = JSON.parse(p.stdout.trim().split("\n").at(-1)!);
    expect(summary.outputs).toMatchObject({ late: 0, invalid: 0 });
    const got = (await readAll([output])).map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
    expect(canonical(got.map((o) => [`${o["key"]}|${o["windowStart"]}`, o["value"]])))
      .toEqual(canonical([...expected].map(([id, n]) => [id, n])));
  });
});
