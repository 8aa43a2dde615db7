/**
 * `--guarantee exactly-once` against the real broker: a process SIGKILLed twice mid-stream and
 * restarted gives, read `read_committed`, exactly the reference's outputs — no loss, no duplicate,
 * not even of a window partly counted before a kill — including frames read in part when a
 * transaction committed. Also: a second process with the same group fences the first.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { encodeFrame } from "../../src/io/frame.js";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { changelogTopicFor } from "../../src/io/kafka/transactions.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { diff, meanMismatches, multiset, referenceDriverTracking, type SourcedEvent } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, riptide, uniqueName, assigned, readCommitted } from "../support/kafka.js";

function events(seed: number, total: number): Array<Record<string, unknown>> {
  const gen = new DriverGenerator({ seed, partitions: 1, drivers: 500, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01, teleportShare: 0.005 });
  const cols: DriverColumns = { driver: new Uint32Array(total), lat: new Float64Array(total), lon: new Float64Array(total), ts: new Float64Array(total), speed: new Float64Array(total) };
  gen.fill(0, cols, 0, total);
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < total; i++) out.push(DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id)));
  return out;
}

describe("exactly-once on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("gives exactly the reference's outputs across two SIGKILLs (frames read in part, JSON, restored state)", async () => {
    const input = uniqueName("eos-in");
    const output = uniqueName("eos-out");
    const group = uniqueName("eos-g");
    await createTopic(input, 1);
    const evs = events(33, 240_000);
    const messages: Array<{ value: Buffer | string; partition: number }> = [];
    const sourced: SourcedEvent[] = [];
    // Mostly frames of 700 events (batches of 2048 end inside frames), some JSON messages between.
    for (let i = 0; i < evs.length; ) {
      if (i % 20_000 < 19_000) {
        const chunk = evs.slice(i, Math.min(i + 700, evs.length));
        messages.push({ value: encodeFrame(DRIVER_LOCATION, chunk), partition: 0 });
        i += chunk.length;
      } else {
        messages.push({ value: JSON.stringify(evs[i]), partition: 0 });
        i++;
      }
    }
    for (const e of evs) sourced.push({ partition: 0, event: e });
    await produceAll(input, messages);

    const args = ["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", group,
      "--guarantee", "exactly-once", "--commit-interval", "50", "--json", "--quiet", "--workers", "2", "--log-level", "info"];
    // Two runs killed without warning shortly after they start consuming (seeded delays).
    for (const delay of [150, 400]) {
      const run = riptide(args);
      await assigned(run);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill("SIGKILL");
      await run.exited;
    }
    const last = riptide([...args, "--stop-when-idle", "3"]);
    expect(await last.exited, last.stderr).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);

    const got = await readCommitted([output, `${output}.invalid`, `${output}.anomaly`, `${output}.late`]);
    const reference = referenceDriverTracking(sourced, 1);
    expect(diff(multiset(got, true), multiset(reference, true))).toEqual([]);
    expect(meanMismatches(got, reference)).toEqual([]);
    expect(got.length).toBe(reference.length);

    // The state lives in a compacted changelog topic.
    const admin = factory.createAdmin({ brokers: BROKERS });
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain(changelogTopicFor(group));
    } finally {
      await admin.disconnect();
    }
  }, 240_000);

  it("fences a zombie: a second process of the same group takes over, the first fails its next commit, nothing doubles", async () => {
    const input = uniqueName("eos-fence-in");
    const output = uniqueName("eos-fence-out");
    const group = uniqueName("eos-fence-g");
    const load = riptide(["loadgen", "--brokers", BROKERS, "--topic", input, "--rate", "10000000", "--events", "3000000",
      "--format", "frame", "--partitions", "1", "--seed", "9", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const args = ["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--group", group,
      "--guarantee", "exactly-once", "--json", "--quiet", "--workers", "1", "--log-level", "info"];
    const first = riptide([...args, "--output-topic", output]);
    await assigned(first);
    // While the first is mid-stream, a second instance registers the same transactional id.
    const second = riptide([...args, "--output-topic", output, "--stop-when-idle", "3"]);
    expect(await first.exited).toBe(1);
    expect(first.stderr).toMatch(/fenced|Fenced|FENCED/);
    expect(await second.exited, second.stderr).toBe(0);

    // The reference: the same input through a run without interference.
    const reference = uniqueName("eos-fence-ref");
    const ref = riptide(["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", reference,
      "--group", uniqueName("eos-fence-ref-g"), "--stop-when-idle", "3", "--json", "--quiet", "--workers", "1"]);
    expect(await ref.exited, ref.stderr).toBe(0);
    const sides = (t: string): string[] => [t, `${t}.invalid`, `${t}.anomaly`, `${t}.late`];
    const got = await readCommitted(sides(output));
    const want = await readCommitted(sides(reference));
    expect(want.length).toBeGreaterThan(1000);
    expect(diff(multiset(got, true), multiset(want, true))).toEqual([]);
  }, 240_000);
});
