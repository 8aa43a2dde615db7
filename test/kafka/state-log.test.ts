/**
 * At-least-once state log (src/io/kafka/state-log.ts): driver-tracking's last fix per driver goes
 * to `<group>-last-fix-changelog` before the offsets it covers are committed, and a run of the same
 * group starts from it. Without it a restarted run had no last fix: an outlier as a driver's first
 * fix was taken and anchored the driver, so its next real fixes went to the anomaly output.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName, type Proc } from "../support/kafka.js";

const T0 = 1_700_000_040_000;
const fix = (lat: number, lon: number, ts: number, driverId = "drv-1"): string => JSON.stringify({ driverId, lat, lon, ts, speedKmh: 30 });

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The partitions of each assignment the process logged, in order. */
const assignments = (p: Proc): number[][] => p.stderr.split("\n").filter((l) => l.includes('"event":"assign"'))
  .map((l) => (JSON.parse(l) as { partitions: number[] }).partitions);

/** The last fix of drv-1 in the log, as [lat, lon, ts] (undefined: none yet). */
async function logged(group: string): Promise<number[] | undefined> {
  const last = (await readAll([`${group}-last-fix-changelog`], 500, 30_000)).filter((m) => m.key?.toString() === "drv-1").pop();
  return last && [last.value!.readDoubleLE(0), last.value!.readDoubleLE(8), last.value!.readDoubleLE(16)];
}

async function run(input: string, output: string, group: string): Promise<void> {
  const p = riptide(["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output,
    "--group", group, "--stop-when-idle", "1", "--quiet", "--workers", "2"]);
  expect(await p.exited, p.stderr).toBe(0);
}

describe("driver-tracking at-least-once on Kafka: the last fixes are logged", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("a later run of the group checks its first fix against the last one logged", async () => {
    const [input, group] = [uniqueName("state-log-in"), uniqueName("state-log-g")];
    const [out1, out2] = [uniqueName("state-log-out1"), uniqueName("state-log-out2")];
    await createTopic(input, 1);
    await produceAll(input, [{ value: fix(37.77, -122.42, T0), key: "drv-1" }, { value: fix(37.771, -122.421, T0 + 10_000), key: "drv-1" }]);
    await run(input, out1, group);

    const log = await readAll([`${group}-last-fix-changelog`], 1000, 30_000);
    const last = log.filter((m) => m.key?.toString() === "drv-1").pop();
    expect(last, "drv-1 in the state log").toBeDefined();
    expect([last!.value!.readDoubleLE(0), last!.value!.readDoubleLE(8), last!.value!.readDoubleLE(16)]).toEqual([37.771, -122.421, T0 + 10_000]);

    // New York 50 s after San Francisco, then San Francisco again a minute later.
    await produceAll(input, [{ value: fix(40.71, -74.0, T0 + 60_000), key: "drv-1" }, { value: fix(37.772, -122.422, T0 + 120_000), key: "drv-1" }]);
    await run(input, out2, group);
    const anomalies = (await readAll([`${out2}.anomaly`], 1000, 30_000)).map((m) => JSON.parse(m.value!.toString()) as { event: { lat: number } });
    expect(anomalies.map((a) => a.event.lat)).toEqual([40.71]);
    const windows = (await readAll([out2], 1000, 30_000)).map((m) => JSON.parse(m.value!.toString()) as { key: string; windowStart: number; count: number });
    expect(windows.map((w) => [w.windowStart, w.count])).toEqual([[T0 + 120_000 - ((T0 + 120_000) % 60_000), 1]]);
  }, 120_000);

  it("a process taking a partition over from one that died starts from the fixes that one logged, not those it read at its own start", async () => {
    const [input, output, group] = [uniqueName("state-log-take-in"), uniqueName("state-log-take-out"), uniqueName("state-log-take-g")];
    await createTopic(input, 1);
    const args = ["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--group", group,
      "--workers", "1", "--idle-timeout", "600000", "--quiet"];
    const a = riptide(args);
    await waitFor("the first process's assignment", () => assignments(a).length > 0);
    const b = riptide(args);
    // Both have read the (empty) log by now; one of them owns the partition.
    await waitFor("the group of two", () => assignments(b).length > 0 && assignments(a).length > 1);
    const [owner, other] = assignments(a).at(-1)!.includes(0) ? [a, b] : [b, a];
    try {
      await produceAll(input, [{ value: fix(37.77, -122.42, T0) }, { value: fix(37.771, -122.421, T0 + 10_000) }]);
      await waitFor("drv-1's last fix in the log", async () => (await logged(group))?.[2] === T0 + 10_000);
      // Another driver 80 s on: drv-1's window closes, so its offsets are committed (after the log).
      await produceAll(input, [{ value: fix(48.85, 2.35, T0 + 80_000, "drv-2") }]);
      const consumer = rdkafkaClientFactory.createConsumer({ brokers: BROKERS, groupId: group });
      await consumer.connect();
      try {
        await waitFor("drv-1's offsets committed", async () => ((await consumer.committed([{ topic: input, partition: 0 }]))[0]?.offset ?? -1) >= 2);
      } finally {
        await consumer.disconnect();
      }
      owner.child.kill("SIGKILL");
      await owner.exited;
      await waitFor("the takeover", () => assignments(other).at(-1)!.includes(0), 60_000);
      // New York 50 s after drv-1's last fix in San Francisco, then San Francisco again.
      await produceAll(input, [{ value: fix(40.71, -74.0, T0 + 60_000) }, { value: fix(37.772, -122.422, T0 + 125_000) }]);
      await waitFor("an anomaly", async () => (await readAll([`${output}.anomaly`], 500, 10_000)).length > 0);
    } finally {
      owner.child.kill("SIGKILL");
      other.child.kill("SIGTERM");
    }
    expect(await other.exited, other.stderr).toBe(0);
    const anomalies = (await readAll([`${output}.anomaly`], 1000, 30_000)).map((m) => JSON.parse(m.value!.toString()) as { event: { lat: number } });
    expect(anomalies.map((x) => x.event.lat)).toEqual([40.71]);
    const windows = (await readAll([output], 1000, 30_000)).map((m) => JSON.parse(m.value!.toString()) as { windowStart: number; count: number });
    expect(windows.some((w) => w.windowStart === T0 + 120_000 && w.count === 1)).toBe(true);
  }, 180_000);
});
