/**
 * `--guarantee exactly-once` for the DSL pipelines on Kafka, against the real broker: a process
 * SIGKILLed twice mid-stream and restarted gives, read `read_committed`, every output of a reference
 * exactly once (split from eos-multi-topic.test.ts so that the two files run side by side).
 *
 *   - ride-matching (DSL general form, `riptide run ride-matching --topic-prefix P`): two
 *     co-partitioned topics of 2 partitions on 2 workers, a windowed stream-stream join.
 *   - message-enrichment (DSL, a stream-table join): the table topic's offsets commit in the same
 *     transactions, its store is in the snapshot.
 *   - payments-dsl and content-views (the DSL general form on one topic; content-views repartitions
 *     between workers) against an uninterrupted in-process run.
 *   - a topology in the typed form (--topology): windowed counts merged across workers.
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { diff } from "../support/driver-reference.js";
import { messageKey, messageReference, rideKey, rideReference } from "../support/dsl-pipeline-references.js";
import { committed, ends, killAndRestart } from "../support/eos-kills.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readCommitted, riptide, uniqueName } from "../support/kafka.js";
import { mulberry32 } from "../support/random.js";
import { multiset } from "../support/task-processes.js";

describe("exactly-once on Kafka, the DSL pipelines", () => {
  beforeAll(() => ensureBroker(), 240_000);

  for (const [name, events, users, reference, key, out, inputs] of [
    ["ride-matching", 150_000, 300, rideReference, rideKey, "ride-matches", ["ride-requests", "driver-locations"]],
    ["message-enrichment", 150_000, 3_000, messageReference, messageKey, "enriched-messages", ["user-profiles", "messages"]],
  ] as const) {
    it(`${name} (DSL, riptide run ${name} --topic-prefix): every output of the reference exactly once across two SIGKILLs (2 partitions per topic, 2 workers)`, async () => {
      const prefix = `${uniqueName(`eos-multi-${name}`)}-`;
      const group = uniqueName("eos-multi-dsl-g");
      const gen = riptide(["loadgen", "--brokers", BROKERS, "--kind", name, "--topic-prefix", prefix, "--rate", "10000000", "--events", String(events),
        "--partitions", "2", "--seed", "13", "--drivers", String(users), "--json", "--quiet"]);
      expect(await gen.exited, gen.stderr).toBe(0);
      const expected = reference(events, 13, users);
      expect(expected.length).toBeGreaterThan(10_000);
      const output = `${prefix}${out}`;
      const args = ["run", name, "--brokers", BROKERS, "--topic-prefix", prefix, "--group", group, "--guarantee", "exactly-once", "--commit-interval", "50",
        "--workers", "2", "--json"];
      const { last, midway, recoverySeconds } = await killAndRestart(args, [output], 2, Math.floor(expected.length / 4), 2);
      expect(await last.exited, last.stderr.slice(-2000)).toBe(0);
      expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
      // A restarted run's table (committed to its end in the transactions: no message comes) counts
      // as read at once, not after the bootstrap's 60 s limit.
      expect(last.stderr).not.toMatch(/"event":"bootstrap-timeout"/);
      expect(midway).toBeGreaterThan(0);
      expect(midway).toBeLessThan(expected.length);

      const got = (await readCommitted([output], 2)).map(key);
      expect(diff(multiset(got), multiset(expected))).toEqual([]);
      expect(got.length).toBe(expected.length);
      // Every input topic's group (<group> for the first, <group>.<topic> for the others) committed to the end, tables too.
      for (const [k, t] of inputs.entries()) {
        expect(await committed(k === 0 ? group : `${group}.${prefix}${t}`, `${prefix}${t}`, 2), t).toEqual(await ends(`${prefix}${t}`, 2));
      }
      process.stdout.write(`${name} exactly-once: recovery ${recoverySeconds.map((x) => x.toFixed(2)).join(", ")} s to assignment; load ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
    }, 300_000);
  }

  for (const [name, events, partitions, users, outs, min] of [
    ["payments-dsl", 100_000, 1, ["--drivers", "300"], ["payment-confirmations", "balance-updates"], 150_000],
    ["content-views", 300_000, 2, [], ["content-view-counts"], 20_000],
  ] as const) {
    it(`${name} (DSL general form, one topic${name === "content-views" ? ", repartitioned between workers" : ", a KTable aggregate"}): the outputs of an uninterrupted run exactly once across two SIGKILLs`, async () => {
      const prefix = `${uniqueName(`eos-multi-${name}`)}-`;
      const group = uniqueName("eos-multi-one-g");
      const gen = riptide(["loadgen", "--brokers", BROKERS, "--kind", name, "--topic-prefix", prefix, "--rate", "10000000", "--events", String(events),
        "--partitions", String(partitions), "--seed", "5", ...users, "--json", "--quiet"]);
      expect(await gen.exited, gen.stderr).toBe(0);
      // The reference: the same stream generated in-process (loadgen writes what `riptide run <name>` generates), no Kafka, no kill.
      const file = join(tmpdir(), `${uniqueName("eos-multi-ref")}.jsonl`);
      const ref = riptide(["run", name, "--events", String(events), "--seed", "5", ...users, "--topic-prefix", prefix, "--workers", "2", "--output", file, "--json", "--quiet"]);
      expect(await ref.exited, ref.stderr).toBe(0);
      const outputs = outs.map((o) => `${prefix}${o}`);
      const keyOf = (o: Record<string, unknown>): string => JSON.stringify([o["key"], o["value"]]);
      const expected = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => outputs.includes(o["type"] as string));
      rmSync(file, { force: true });
      expect(expected.length).toBeGreaterThan(min);

      const args = ["run", name, "--brokers", BROKERS, "--topic-prefix", prefix, "--group", group, "--guarantee", "exactly-once", "--commit-interval", "50",
        "--workers", "2", "--json"];
      const { last, midway } = await killAndRestart(args, outputs, partitions, Math.floor(expected.length / 4), 2);
      expect(await last.exited, last.stderr.slice(-2000)).toBe(0);
      expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
      expect(midway).toBeGreaterThan(0);
      expect(midway).toBeLessThan(expected.length);
      const got = await readCommitted(outputs, partitions);
      expect(diff(multiset(got.map(keyOf)), multiset(expected.map(keyOf)))).toEqual([]);
      expect(got.length).toBe(expected.length);
    }, 300_000);
  }

  it("a DSL topology in the typed form (--topology --input-topic --output-topic): windowed counts merged across workers exactly once across two SIGKILLs", async () => {
    const input = uniqueName("eos-multi-typed-in");
    const output = uniqueName("eos-multi-typed-out");
    const group = uniqueName("eos-multi-typed-g");
    await createTopic(input, 2);
    const next = mulberry32(43);
    const t0 = 1_700_000_000_000;
    const messages: Array<{ value: string; key: string; partition: number }> = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 200_000; i++) {
      const d = next() % 400;
      const region = `region-${next() % 50}`;
      const ts = t0 + i * 20 - (next() % 2_000);
      messages.push({ value: JSON.stringify({ driverId: `driver-${d}`, region, fare: 1, ts }), key: `driver-${d}`, partition: d % 2 });
      for (let w = Math.floor((ts - 60_000) / 30_000) * 30_000 + 30_000; w <= ts; w += 30_000) expected.set(`${region}|${w}`, (expected.get(`${region}|${w}`) ?? 0) + 1);
    }
    await produceAll(input, messages);
    const args = ["run", "--topology", "test/dsl/fixtures/region-counts.js", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output,
      "--group", group, "--guarantee", "exactly-once", "--commit-interval", "50", "--workers", "2", "--batch-size", "512", "--json"];
    const { last, midway } = await killAndRestart(args, [output], 2, Math.floor(expected.size / 4), 2);
    expect(await last.exited, last.stderr.slice(-2000)).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(expected.size);
    const got = await readCommitted([output], 2);
    expect(diff(multiset(got.map((o) => `${o["key"]}|${o["windowStart"]}|${o["value"]}`)), multiset([...expected].map(([id, n]) => `${id}|${n}`)))).toEqual([]);
    expect(await readCommitted([`${output}.late`, `${output}.invalid`], 2)).toEqual([]);
  }, 300_000);
});
