/**
 * `riptide loadgen --format json` against the real broker: the messages are the generator's
 * events, one JSON object each, keyed by driver, in the generator's order, whichever way the
 * client enqueues them (many per call through native-bindings/kafka, else one by one).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { BROKERS, ensureBroker, readAll, riptide, uniqueName } from "../support/kafka.js";

describe("riptide loadgen --format json", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it.each(["1", "0"])("produces the generator's events in order, keyed by driver (RIPTIDE_KAFKA_TAKE=%s)", async (addon) => {
    const topic = uniqueName("loadgen-json");
    const events = 5000;
    const saved = process.env["RIPTIDE_KAFKA_TAKE"];
    process.env["RIPTIDE_KAFKA_TAKE"] = addon; // "0": the addon is not loaded, produce() per event
    let load;
    try {
      load = riptide(["loadgen", "--brokers", BROKERS, "--topic", topic, "--format", "json", "--events", String(events), "--rate", "20000",
        "--partitions", "1", "--seed", "11", "--drivers", "300", "--json", "--quiet"]);
    } finally {
      if (saved === undefined) delete process.env["RIPTIDE_KAFKA_TAKE"];
      else process.env["RIPTIDE_KAFKA_TAKE"] = saved;
    }
    expect(await load.exited, load.stderr).toBe(0);
    expect(JSON.parse(load.stdout.trim().split("\n").pop()!)).toMatchObject({ events, messages: events, errors: 0 });

    const gen = new DriverGenerator({ seed: 11, drivers: 300, partitions: 1 });
    const cols: DriverColumns = {
      driver: new Uint32Array(events), lat: new Float64Array(events), lon: new Float64Array(events), ts: new Float64Array(events), speed: new Float64Array(events),
    };
    gen.fill(0, cols, 0, events);
    const want = Array.from({ length: events }, (_, i) => DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id)));
    const got = (await readAll([topic], 3000)).sort((a, b) => a.offset - b.offset);
    expect(got.length).toBe(events);
    expect(got.map((m) => JSON.parse(m.value!.toString("utf8")))).toEqual(want);
    expect(got.map((m) => m.key?.toString() ?? null)).toEqual(want.map((e) => (e["driverId"] === "" ? null : e["driverId"])));
  }, 120_000);
});
