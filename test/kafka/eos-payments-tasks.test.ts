/**
 * payments, the built-in pipeline, under exactly-once with state per input partition
 * (`--instance-id`), against the real broker: two processes of one group split a 4-partition
 * topic; a partition's balances move with it when the second process joins (the first commits and
 * drops them, the second loads them from the changelog, its users by name: the other process
 * interns them under its own ids), a process SIGKILLed mid-stream and restarted with its instance
 * id loads its partitions' last committed balances, and a process killed for good hands its
 * partitions over. Read `read_committed`, every payment has exactly one confirmation and one
 * balance update, equal to the reference's (which carries the running balance, so a balance lost
 * or applied twice shows in every later update of that user).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { diff } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, readCommitted, riptide, uniqueName } from "../support/kafka.js";
import { finalBalances, paymentMultiset, perUserSequences, referencePayments } from "../support/payments-reference.js";
import { TASK_PARTITIONS as PARTITIONS, twoProcesses, withProcesses } from "../support/task-processes.js";

describe("payments exactly-once, state per partition (--instance-id)", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("two processes split the partitions, SIGKILLs mid-stream: every payment one confirmation and one balance update, as the reference", async () => {
    await withProcesses(uniqueName("eos-pay-tasks"), async (procs) => {
      // The generator's stream (users bound to partitions, keyed by userId) through a staging
      // topic, then sent in three phases with each message's partition and key kept.
      const staging = uniqueName("eos-pay-staging");
      const input = uniqueName("eos-pay-in");
      const output = uniqueName("eos-pay-out");
      const group = uniqueName("eos-pay-g");
      const load = riptide(["loadgen", "--kind", "payments", "--brokers", BROKERS, "--topic", staging, "--rate", "10000000", "--events", "120000",
        "--partitions", String(PARTITIONS), "--seed", "9", "--drivers", "800", "--json", "--quiet"]);
      expect(await load.exited, load.stderr).toBe(0);
      const staged = await readAll([staging]);
      expect(staged).toHaveLength(120_000);
      await createTopic(input, PARTITIONS);
      const phases = [0, 1, 2].map((ph) => staged.filter((_m, i) => Math.floor((i * 3) / staged.length) === ph));
      const send = (ph: number) => produceAll(input, phases[ph]!.map((m) => ({ value: m.value!, key: m.key?.toString() ?? null, partition: m.partition })));
      // The reference reads each partition in order (a user's payments are all in one).
      const ref = referencePayments(staged.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>));
      expect(ref.outputs.filter((o) => o["status"] === "DECLINED").length).toBeGreaterThan(100);

      const args = (id: string) => ["run", "payments", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", group,
        "--guarantee", "exactly-once", "--commit-interval", "50", "--instance-id", id, "--workers", "2", "--batch-size", "256",
        "--stop-when-idle", "8", "--json", "--log-level", "info"];
      const { a, b, a2 } = await twoProcesses(args, send, procs, { phase0BeforeStart: false, killWorkerOfB: true, midStream: true });
      // Both processes held tasks, and partitions moved between them with their state.
      expect(b.stderr).toMatch(/"event":"task-restore"/);
      expect(a2.stderr).toMatch(/"event":"task-restore"/);
      expect(a.stderr).toMatch(/"event":"revoke"/);

      const got = await readCommitted([output, `${output}.balance`, `${output}.invalid`], PARTITIONS);
      expect(diff(paymentMultiset(got), paymentMultiset(ref.outputs))).toEqual([]);
      expect(got.length).toBe(ref.outputs.length);
      // Per user, in order (each user's outputs are in one partition of each topic).
      expect(perUserSequences(got, "balance")).toEqual(perUserSequences(ref.outputs, "balance"));
      expect(finalBalances(got)).toEqual(ref.balances);
    });
  }, 300_000);
});
