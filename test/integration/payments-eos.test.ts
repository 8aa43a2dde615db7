/**
 * payments with `--guarantee exactly-once` against the real broker: a process SIGKILLed twice
 * mid-stream and restarted gives, read `read_committed`, exactly the reference's outputs — every
 * payment exactly one confirmation and one balance update, in order per user, and the final
 * balances equal — because the balance table is restored from the changelog snapshot committed in
 * the same transaction as the outputs and the input offsets.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { diff } from "../support/driver-reference.js";
import { BROKERS, ensureBroker, riptide, uniqueName, assigned, readCommitted } from "../support/kafka.js";
import { finalBalances, paymentMultiset, perUserSequences, referencePayments } from "../support/payments-reference.js";

describe("payments exactly-once on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("every payment gets exactly one confirmation and one balance update across two SIGKILLs; final balances equal the reference", async () => {
    const input = uniqueName("pay-in");
    const output = uniqueName("pay-out");
    const group = uniqueName("pay-g");
    const load = riptide(["loadgen", "--kind", "payments", "--brokers", BROKERS, "--topic", input, "--rate", "10000000", "--events", "100000",
      "--partitions", "1", "--seed", "5", "--drivers", "700", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    // The reference reads the input as it is in the topic.
    const events = await readCommitted(input);
    expect(events.length).toBe(100_000);
    const ref = referencePayments(events);
    const valid = ref.outputs.filter((o) => o["type"] === "confirmation").length;
    expect(ref.outputs.filter((o) => o["status"] === "DECLINED").length).toBeGreaterThan(100);
    expect(ref.outputs.filter((o) => o["type"] === "invalid").length).toBeGreaterThan(100);

    const args = ["run", "payments", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", group,
      "--guarantee", "exactly-once", "--commit-interval", "50", "--json", "--quiet", "--workers", "2", "--batch-size", "512", "--log-level", "info"];
    // Two runs killed without warning mid-stream: once the confirmations topic has grown by 20 000
    // records since the last kill (committed or not; a loaded machine may take a while to get there).
    const watcher = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("pay-watch") });
    await watcher.connect();
    let high = 0;
    try {
      for (let k = 0; k < 2; k++) {
        const run = riptide(args);
        await assigned(run);
        const target = high + 20_000;
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && run.child.exitCode === null) {
          high = (await watcher.queryWatermarks!(output, 0, 10_000)).high;
          if (high >= target) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        run.child.kill("SIGKILL");
        await run.exited;
      }
    } finally {
      await watcher.disconnect();
    }
    const midway = (await readCommitted(output)).length;
    const last = riptide([...args, "--stop-when-idle", "3"]);
    expect(await last.exited, last.stderr).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
    // The kills landed mid-stream: the killed runs committed part of the work, the last run the rest.
    const summary = JSON.parse(last.stdout.trim().split("\n").pop()!) as { events: number };
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(valid);
    expect(summary.events).toBeGreaterThan(0);
    expect(summary.events).toBeLessThan(100_000);

    const confirmations = await readCommitted(output);
    const balances = await readCommitted(`${output}.balance`);
    const invalid = await readCommitted(`${output}.invalid`);
    const got = [...confirmations, ...balances, ...invalid];
    expect(diff(paymentMultiset(got), paymentMultiset(ref.outputs))).toEqual([]);
    // Exactly one of each per payment, in order per user, and the same final balances.
    expect(confirmations.length).toBe(valid);
    expect(balances.length).toBe(valid);
    expect(new Set(confirmations.map((o) => o["paymentId"])).size).toBe(valid);
    expect(new Set(balances.map((o) => o["paymentId"])).size).toBe(valid);
    expect(perUserSequences(confirmations, "confirmation")).toEqual(perUserSequences(ref.outputs, "confirmation"));
    expect(perUserSequences(balances, "balance")).toEqual(perUserSequences(ref.outputs, "balance"));
    expect(finalBalances(balances)).toEqual(ref.balances);
  }, 240_000);

  it("a transaction commits early once 200 000 outputs wait in it: a run with a 10-minute commit interval still goes through 150 000 payments", async () => {
    // Under exactly-once the outputs count as acknowledged at a commit only, and the coordinator
    // stops asking the source for more above 200 000 unacknowledged outputs: without the early
    // commit this run would stall until the interval (10 minutes) and exceed the test's limit.
    const input = uniqueName("pay-big-in");
    const output = uniqueName("pay-big-out");
    const load = riptide(["loadgen", "--kind", "payments", "--brokers", BROKERS, "--topic", input, "--rate", "10000000", "--events", "150000",
      "--partitions", "2", "--seed", "6", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const run = riptide(["run", "payments", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", uniqueName("pay-big-g"),
      "--guarantee", "exactly-once", "--commit-interval", "600000", "--stop-when-idle", "2", "--json", "--quiet", "--log-level", "debug"]);
    expect(await run.exited, run.stderr.slice(-2000)).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!) as { events: number; outputs: Record<string, number> };
    expect(summary.events).toBe(150_000);
    expect(summary.outputs["confirmation"]! + summary.outputs["invalid"]!).toBe(150_000);
    // More than the final commit: at least one came early (300 000 outputs, 200 000 at most per transaction).
    expect(run.stderr.match(/"event":"barrier"/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect((await readCommitted(output, 2)).length).toBe(summary.outputs["confirmation"]);
  }, 180_000);
});
