/**
 * Stateless operators, branching, merging, re-keying, extractors, error outputs and option
 * validation of the DSL, through the TopologyTestDriver.
 */
import { describe, expect, it } from "vitest";
import {
  Branched, JoinWindows, KStream, SessionWindows, SlidingWindows, StreamsBuilder, Suppressed, TimeWindows, TopologyTestDriver,
} from "../../src/index.js";

describe("stateless operators", () => {
  it("filter, filterNot, map, mapValues, flatMap, flatMapValues, peek, selectKey keep timestamps and order", () => {
    const b = new StreamsBuilder();
    const seen: string[] = [];
    b.stream<number, string>("in")
      .filter((_k, v) => v > 0)
      .filterNot((_k, v) => v === 3)
      .peek((k, v) => seen.push(`${k}=${v}`))
      .mapValues((v) => v * 10)
      .flatMapValues((v) => [v, v + 1])
      .map((k, v) => ({ key: `${k}!`, value: String(v) }))
      .flatMap((k, v) => (v.endsWith("1") ? [] : [{ key: k, value: v }]))
      .selectKey((k, v) => `${k}${v.length}`)
      .to("out");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, number>("in");
    input.pipeInput("a", 1, 100);
    input.pipeInput("b", -1, 101);
    input.pipeInput("c", 3, 102);
    input.pipeInput("d", 20, 103);
    expect(seen).toEqual(["a=1", "d=20"]);
    expect(d.createOutputTopic("out").readRecordsToList()).toEqual([
      { key: "a!2", value: "10", timestamp: 100 },
      { key: "d!3", value: "200", timestamp: 103 },
    ]);
  });

  it("split/branch sends each record to the first matching branch, names branches like Kafka Streams, merge joins streams", () => {
    const b = new StreamsBuilder();
    const branches = b.stream<number, string>("in").split("size-")
      .branch((_k, v) => v >= 100, Branched.as("big"))
      .branch((_k, v) => v >= 10, Branched.as("medium"))
      .branch((_k, v) => v < 0, Branched.withConsumer((s: KStream<string, number>) => s.to("negative")))
      .defaultBranch();
    expect([...branches.keys()]).toEqual(["size-big", "size-medium", "size-0"]);
    branches.get("size-big")!.to("big");
    branches.get("size-medium")!.merge(branches.get("size-0")!).mapValues((v) => v + 1).to("rest");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, number>("in");
    for (const [i, v] of [500, 50, 5, -5, 100, 10].entries()) input.pipeInput(`k${i}`, v, i);
    expect(d.createOutputTopic("big").readValuesToList()).toEqual([500, 100]);
    expect(d.createOutputTopic("rest").readValuesToList()).toEqual([51, 6, 11]);
    expect(d.createOutputTopic("negative").readValuesToList()).toEqual([-5]);
  });

  it("to() with a function picks the topic per record", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("in").to((k) => `out-${k}`);
    const d = new TopologyTestDriver(b.build());
    d.createInputTopic("in").pipeInput("x", "1", 1);
    d.createInputTopic("in").pipeInput("y", "2", 2);
    expect(d.createOutputTopic("out-x").readValuesToList()).toEqual(["1"]);
    expect(d.createOutputTopic("out-y").readValuesToList()).toEqual(["2"]);
  });
});

describe("grouping and aggregation", () => {
  it("groupBy re-keys: counts per new key, one update per record (a KTable changelog)", () => {
    const b = new StreamsBuilder();
    b.stream<{ city: string; fare: number }, string>("rides").groupBy((_k, v) => v.city).count().toStream().to("per-city");
    const d = new TopologyTestDriver(b.build());
    const rides = d.createInputTopic<string, { city: string; fare: number }>("rides");
    rides.pipeInput("ride1", { city: "sf", fare: 10 }, 1);
    rides.pipeInput("ride2", { city: "ny", fare: 12 }, 2);
    rides.pipeInput("ride3", { city: "sf", fare: 8 }, 3);
    expect(d.createOutputTopic("per-city").readRecordsToList()).toEqual([
      { key: "sf", value: 1, timestamp: 1 }, { key: "ny", value: 1, timestamp: 2 }, { key: "sf", value: 2, timestamp: 3 },
    ]);
  });

  it("groupBy + windowed sum/min/max/mean and reduce agree with their definitions", () => {
    const b = new StreamsBuilder();
    const rides = b.stream<{ city: string; fare: number }, string>("rides");
    const grouped = rides.groupBy((_k, v) => v.city);
    const w = grouped.windowedBy(TimeWindows.ofSizeWithNoGrace(100));
    w.sum("fare").toStream().to("sum");
    w.min("fare").toStream().to("min");
    w.max((v) => v.fare).toStream().to("max");
    w.mean("fare").toStream().to("mean");
    w.reduce((a, c) => ({ city: a.city, fare: a.fare * c.fare })).toStream().mapValues((v) => v.fare).to("product");
    grouped.aggregate(() => "", (_k, v, a) => a + v.fare + ",").toStream().to("agg");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, { city: string; fare: number }>("rides");
    input.pipeInput("r1", { city: "sf", fare: 10 }, 1);
    input.pipeInput("r2", { city: "sf", fare: Number.NaN }, 2); // skipped by sum/min/max/mean
    input.pipeInput("r3", { city: "sf", fare: 4 }, 3);
    input.pipeInput("r4", { city: "ny", fare: 7 }, 150);
    d.flush();
    const read = (t: string) => d.createOutputTopic(t).readRecordsToList().map((r) => [r.key, r.windowStart, r.value]);
    expect(read("sum")).toEqual([["sf", 0, 14], ["ny", 100, 7]]);
    expect(read("min")).toEqual([["sf", 0, 4], ["ny", 100, 7]]);
    expect(read("max")).toEqual([["sf", 0, 10], ["ny", 100, 7]]);
    expect(read("mean")).toEqual([["sf", 0, 7], ["ny", 100, 7]]);
    expect(read("product")).toEqual([["sf", 0, Number.NaN], ["ny", 100, 7]]);
    expect(d.createOutputTopic("agg").readValuesToList()).toEqual(["10,", "10,NaN,", "10,NaN,4,", "7,"]);
  });

  it("the same built-in aggregate gives the same results on the typed store and the object store", () => {
    const run = (retentionMs: number, objectStores = false) => {
      const b = new StreamsBuilder();
      b.stream<number, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(1_000, 200).advanceBy(250))
        .mean(undefined, { retentionMs }).toStream().to("out");
      const d = new TopologyTestDriver(b.build(), { objectStores });
      const input = d.createInputTopic<string, number>("in");
      let x = 12345;
      for (let i = 0; i < 2_000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        input.pipeInput(`k${x % 7}`, (x % 1000) / 10, i * 7 - (x % 400));
      }
      d.flush();
      return { out: d.createOutputTopic("out").readRecordsToList(), late: d.createOutputTopic("riptide-late").getQueueSize(), typed: d.getStateStores()[0]!.typed };
    };
    const typed = run(0);
    // Retention keeps the windows in the off-heap window store (the aggregate's {sum, n} as bytes), or in Maps.
    const offHeap = run(1);
    const objects = run(1, true);
    expect(typed.typed).toBe(true);
    expect(objects.typed).toBe(false);
    expect(typed.out.length).toBeGreaterThan(100);
    expect(typed.late).toBeGreaterThan(0);
    expect(typed).toEqual({ ...objects, typed: true });
    expect(offHeap).toEqual(typed);
  });
});

describe("sources, event time and bad records", () => {
  it("key and timestamp from the value; a record without a valid timestamp goes to riptide-invalid with the reason", () => {
    const b = new StreamsBuilder();
    b.stream<{ id: string; ts: number }>("in", { key: (v) => v.id, timestamp: "ts" }).groupByKey()
      .windowedBy(TimeWindows.ofSizeWithNoGrace(10)).count().toStream().to("out");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<null, { id: string; ts: number }>("in");
    input.pipeInput(null, { id: "a", ts: 3 }, 999_999);
    input.pipeInput(null, { id: "a", ts: Number.NaN }, 5);
    input.pipeInput(null, { id: "a", ts: -1 }, 5);
    input.pipeInput(null, { id: "a", ts: 12 }, 0);
    expect(d.createOutputTopic("out").readRecordsToList()).toEqual([{ key: "a", value: 1, timestamp: 3, windowStart: 0, windowEnd: 10 }]);
    const invalid = d.createOutputTopic<unknown, { reason: string; value: { ts: number } }>("riptide-invalid").readValuesToList();
    expect(invalid.map((v) => v.value.ts)).toEqual([Number.NaN, -1]);
    expect(invalid[0]!.reason).toMatch(/no valid event time/);
  });

  it("a user function that throws sends the record to riptide-errors with the error; the next records go on", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("in").mapValues((v) => { if (v === "bad") throw new Error("boom"); return v.toUpperCase(); }).to("out");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, string>("in");
    input.pipeInput("k", "ok", 1);
    input.pipeInput("k", "bad", 2);
    input.pipeInput("k", "fine", 3);
    expect(d.createOutputTopic("out").readValuesToList()).toEqual(["OK", "FINE"]);
    expect(d.createOutputTopic<unknown, { error: string; value: string }>("riptide-errors").readValuesToList())
      .toEqual([expect.objectContaining({ error: "boom", value: "bad", timestamp: 2 })]);
  });

  it("the watermark is the minimum stream time over partitions; an idle partition is released after idleTimeoutMs", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(10_000)).count().toStream().to("out");
    const d = new TopologyTestDriver(b.build(), { idleTimeoutMs: 5_000 });
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    input.pipeInput("a", "x", 1_000, 0);
    input.pipeInput("a", "x", 2_000, 1);
    input.pipeInput("a", "x", 50_000, 0); // partition 1 is at 2000: the watermark stays there
    expect(d.watermark).toBe(2_000);
    expect(out.isEmpty()).toBe(true);
    input.pipeInput("a", "x", 9_000, 1); // partition 1 moves to 9000: still behind 10000
    expect(out.isEmpty()).toBe(true);
    input.pipeInput("a", "x", 12_000, 1); // watermark 12000 closes [0, 10000)
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.value])).toEqual([[0, 3]]);
    d.advanceWallClockTime(5_000);
    expect(d.watermark).toBe(12_000); // not idle yet (5000 is not more than 5000)
    d.advanceWallClockTime(1);
    expect(d.watermark).toBe(12_000); // both idle: without wallClockClose the watermark holds
    input.pipeInput("a", "x", 60_000, 0); // partition 1 idle: the watermark follows partition 0 alone
    expect(d.watermark).toBe(60_000);
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.value])).toEqual([[10_000, 1], [50_000, 1]]);
    expect(d.streamTimes()).toEqual({ "in-0": 60_000, "in-1": 12_000 });
  });

  it("with wallClockClose, windows of an idle stream close as the wall clock moves", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(10_000)).count().toStream().to("out");
    const d = new TopologyTestDriver(b.build(), { idleTimeoutMs: 1_000, wallClockClose: true });
    const out = d.createOutputTopic("out");
    d.createInputTopic<string, string>("in").pipeInput("a", "x", 5_000);
    d.advanceWallClockTime(1_000);
    expect(out.isEmpty()).toBe(true);
    d.advanceWallClockTime(4_000); // idle; watermark = 5000 + 5000 elapsed = 10000: [0, 10000) closes
    expect(d.watermark).toBe(10_000);
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.value])).toEqual([[0, 1]]);
  });
});

describe("option validation and topology errors", () => {
  it("window factories reject bad durations naming the option", () => {
    expect(() => TimeWindows.ofSizeWithNoGrace(0)).toThrow(/sizeMs must be an integer number of milliseconds ≥ 1, got 0/);
    expect(() => TimeWindows.ofSizeAndGrace(10, -1)).toThrow(/graceMs/);
    expect(() => TimeWindows.ofSizeWithNoGrace(10).advanceBy(11)).toThrow(/advanceMs must be ≤ the window size 10/);
    expect(() => SlidingWindows.ofTimeDifferenceAndGrace(1.5, 0)).toThrow(/timeDifferenceMs/);
    expect(() => SessionWindows.ofInactivityGapWithNoGrace("30" as unknown as number)).toThrow(TypeError);
    expect(() => JoinWindows.ofTimeDifferenceWithNoGrace(-5)).toThrow(/timeDifferenceMs/);
  });

  it("builder calls reject wrong arguments", () => {
    const b = new StreamsBuilder();
    const s = b.stream("in");
    expect(() => s.filter(5 as never)).toThrow(/predicate must be a function/);
    expect(() => b.stream("")).toThrow(/topic must be a non-empty topic name/);
    expect(() => s.join(b.stream("other"), (a, c) => [a, c], undefined as never)).toThrow(/needs JoinWindows/);
    expect(() => s.groupByKey().count().suppress(Suppressed.untilWindowCloses())).toThrow(/windowed aggregation/);
    b.build();
    expect(() => s.to("x")).toThrow(/already built/);
  });

  it("a topic read twice, and input topics the topology does not read, are refused", () => {
    const b = new StreamsBuilder();
    b.stream("in").to("a");
    b.stream("in").to("b");
    expect(() => new TopologyTestDriver(b.build())).toThrow(/read by two sources/);
    const b2 = new StreamsBuilder();
    b2.stream("in").to("a");
    expect(() => new TopologyTestDriver(b2.build()).createInputTopic("nope")).toThrow(/does not read topic "nope"/);
  });

  it("describe() lists the nodes and their children", () => {
    const b = new StreamsBuilder();
    b.stream("in").filter(() => true, "keep").to("out", "write");
    expect(b.build().describe()).toBe("source SOURCE-0000000000 topics: in --> keep\nfilter keep --> write\nsink write topic: out --> none");
  });
});

describe("user functions that throw while windows close", () => {
  it("report the lost window to riptide-errors and close the other windows", () => {
    const b = new StreamsBuilder();
    b.stream<number, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(10)).count().toStream()
      .mapValues((v, k) => { if ((k as unknown as { key: string }).key === "bad") throw new Error("no"); return v; }).to("out");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, number>("in");
    input.pipeInput("bad", 1, 1);
    input.pipeInput("good", 1, 2);
    input.pipeInput("good", 1, 25);
    expect(d.createOutputTopic("out").readRecordsToList().map((r) => [r.key, r.windowStart, r.value])).toEqual([["good", 0, 1]]);
    expect(d.createOutputTopic<unknown, { error: string; operator: string }>("riptide-errors").readValuesToList())
      .toEqual([expect.objectContaining({ error: "no", operator: expect.stringMatching(/AGGREGATE/) })]);
  });
});
