/**
 * At-least-once state log (src/io/kafka/state-log.ts): driver-tracking's last fix per driver goes
 * to `<group>-last-fix-changelog` before the offsets it covers are committed, and a run of the same
 * group starts from it. Without it a restarted run had no last fix: an outlier as a driver's first
 * fix was taken and anchored the driver, so its next real fixes went to the anomaly output.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";

const T0 = 1_700_000_040_000;
const fix = (lat: number, lon: number, ts: number): string => JSON.stringify({ driverId: "drv-1", lat, lon, ts, speedKmh: 30 });

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
});
