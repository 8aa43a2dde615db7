/**
 * The Kafka Streams peer (bench/peers/kafka-streams/) against Riptide on the same one-partition
 * topic of a real broker: with one partition the two watermark rules coincide, so every output must
 * be identical (bench/peers/README.md). The comparison itself is checked to fail on a changed output.
 */
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildPeer, compareOutputs, createTopics, outputTopics, readOutputs, runKafkaStreams, runRiptide, type EngineOutputs,
} from "../../bench/peers/peers.js";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { BROKERS, ensureBroker, produceAll, uniqueName } from "../support/kafka.js";

/** Generator fixes with many spoiled ones, and JSON the decoders must read alike. */
function messages(seed: number, total: number): Array<{ value: string; key: string | null; partition: number }> {
  const gen = new DriverGenerator({ seed, partitions: 1, drivers: 400, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01, teleportShare: 0.005 });
  const cols: DriverColumns = { driver: new Uint32Array(total), lat: new Float64Array(total), lon: new Float64Array(total), ts: new Float64Array(total), speed: new Float64Array(total) };
  gen.fill(0, cols, 0, total);
  const out: Array<{ value: string; key: string | null; partition: number }> = [];
  for (let i = 0; i < total; i++) {
    const e = DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id));
    out.push({ value: JSON.stringify(e), key: typeof e["driverId"] === "string" && e["driverId"] !== "" ? (e["driverId"] as string) : null, partition: 0 });
    if (i % 2500 === 7) {
      const ts = cols.ts[i]!;
      for (const odd of [
        `[1,2]`, `"driver"`, `{"driverId":42,"lat":10,"lon":10,"ts":${ts}}`, `{"driverId":"odd-1","lat":"10","lon":10,"ts":${ts}}`,
        `{"driverId":"odd-2","lat":10.5,"lon":-20.25,"ts":${ts},"speedKmh":"fast","extra":{"a":[1,{"b":2}]}}`,
        `{"driverId":"odd-3","lat":0,"lon":0,"ts":${ts}}`, `{"driverId":"odd-4","lat":91,"lon":0,"ts":${ts}}`,
        `{"driverId":"odd-5","lat":45,"lon":181,"ts":${ts},"speedKmh":null}`, `{"driverId":"","lat":1,"lon":1,"ts":${ts}}`,
        `{"driverId":"odd-6","lat":1e400,"lon":1,"ts":${ts}}`, `{"lat":5,"lon":5,"ts":${ts},"driverId":"odd-7","driverId":"odd-8","speedKmh":12.3456789}`,
      ]) out.push({ value: odd, key: null, partition: 0 });
    }
  }
  return out;
}

const hasJava = spawnSync("java", ["-version"]).status === 0 && spawnSync("mvn", ["-v"]).status === 0;

describe.skipIf(!hasJava)("Kafka Streams peer", () => {
  let classpath = "";
  beforeAll(() => {
    ensureBroker();
    classpath = buildPeer().classpath;
  }, 300_000);

  it("gives Riptide's outputs, value for value, on a one-partition topic", async () => {
    const input = uniqueName("peers-in");
    const rtOut = uniqueName("peers-rt"), ksOut = uniqueName("peers-ks");
    await createTopics(BROKERS, [
      { name: input, partitions: 1 },
      // Log-append time: Kafka Streams stamps its outputs with event time (2023 here), which the
      // broker's retention (7 days) would delete at its next check, mid-test on a fresh broker.
      ...[...outputTopics(rtOut), `${input}.dlq`, ...outputTopics(ksOut), `${ksOut}.dlq`].map((name) => ({ name, partitions: 1, logAppendTime: true })),
    ]);
    await produceAll(input, messages(11, 20_000));
    const common = { brokers: BROKERS, inputTopic: input, parallelism: 2, stopWhenIdleS: 3 };
    await runRiptide({ ...common, outputTopic: rtOut, id: rtOut }).done;
    const ks = await runKafkaStreams({ ...common, outputTopic: ksOut, id: ksOut, classpath, state: "rocksdb" }).done;
    const [rt, peer] = await Promise.all([readOutputs(BROKERS, rtOut), readOutputs(BROKERS, ksOut)]);

    const c = compareOutputs(rt, peer, Number(ks["droppedRecords"]));
    expect(c.mismatches).toEqual([]);
    expect(c.identical).toBe(true);
    expect(ks["droppedRecords"]).toBe(0);
    // Every kind of output is there, so "identical" covers each rule.
    for (const k of ["window", "invalid", "anomaly", "late"] as const) expect(c.counts.riptide[k]).toBeGreaterThan(10);

    // The comparison fails on one changed count, one changed mean and one missing side output.
    const tamper = (o: EngineOutputs, i: number, f: (v: Record<string, unknown>) => void): EngineOutputs => {
      const window = o.window.slice();
      const v = JSON.parse(window[i]!.value) as Record<string, unknown>;
      f(v);
      window[i] = { ...window[i]!, value: JSON.stringify(v) };
      return { ...o, window };
    };
    expect(compareOutputs(rt, tamper(peer, 3, (v) => { v["count"] = (v["count"] as number) + 1; })).unexplained).toBeGreaterThan(0);
    const withSpeed = peer.window.findIndex((m) => (JSON.parse(m.value) as { avgSpeedKmh: unknown }).avgSpeedKmh !== null);
    expect(compareOutputs(rt, tamper(peer, withSpeed, (v) => { v["avgSpeedKmh"] = (v["avgSpeedKmh"] as number) + 1e-12; })).identical).toBe(false);
    expect(compareOutputs(rt, { ...peer, anomaly: peer.anomaly.slice(1) }).explainedByWatermark).toBe(false);
  }, 240_000);
});
