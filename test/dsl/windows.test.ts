/**
 * Windowed aggregations through the TopologyTestDriver, against expectations worked out by hand
 * from Kafka Streams' semantics (single partition: the watermark is the stream time, the largest
 * timestamp so far). Every window is [start, end) for time windows, [start, end] for sliding and
 * session windows; it closes when the watermark reaches end + grace (sessions: end + gap + grace).
 */
import { describe, expect, it } from "vitest";
import { EmitStrategy, SessionWindows, SlidingWindows, StreamsBuilder, Suppressed, TimeWindows, TopologyTestDriver } from "../../src/index.js";
import type { LateRecord } from "../../src/index.js";

const MIN = 60_000;

function countTopology(windows: TimeWindows | SlidingWindows, opts: { update?: boolean; builtin?: boolean; late?: string } = {}) {
  const b = new StreamsBuilder();
  let w = b.stream<string, string>("in").groupByKey().windowedBy(windows as TimeWindows);
  if (opts.update) w = w.emitStrategy(EmitStrategy.onWindowUpdate());
  const table = opts.builtin === false
    ? w.aggregate(() => 0, (_k, _v, a: number) => a + 1, opts.late ? { late: opts.late } : {})
    : w.count(opts.late ? { late: opts.late } : {});
  table.toStream().to("out");
  return b.build();
}

describe("tumbling windows", () => {
  for (const builtin of [true, false]) {
    it(`emits one final count per window and key when the watermark passes the end (${builtin ? "typed store" : "object store"})`, () => {
      const d = new TopologyTestDriver(countTopology(TimeWindows.ofSizeWithNoGrace(10_000), { builtin }));
      const input = d.createInputTopic<string, string>("in");
      const out = d.createOutputTopic("out");
      const late = d.createOutputTopic<string, LateRecord>("riptide-late");
      input.pipeInput("a", "x", 1_000);
      input.pipeInput("a", "x", 5_000);
      input.pipeInput("b", "x", 9_000);
      expect(out.isEmpty()).toBe(true); // nothing closed yet (emit-final)
      input.pipeInput("a", "x", 12_000); // watermark 12000 ≥ 10000 + 0: [0, 10000) closes
      expect(out.readRecordsToList()).toEqual([
        { key: "a", value: 2, timestamp: 5_000, windowStart: 0, windowEnd: 10_000 },
        { key: "b", value: 1, timestamp: 9_000, windowStart: 0, windowEnd: 10_000 },
      ]);
      input.pipeInput("a", "x", 9_999); // its window closed: late, lateness = 12000 − 9999
      const lates = late.readRecordsToList();
      expect(lates).toHaveLength(1);
      expect(lates[0]!.key).toBe("a");
      expect(lates[0]!.value.latenessMs).toBe(2_001);
      expect(lates[0]!.value.watermark).toBe(12_000);
      expect(lates[0]!.value.timestamp).toBe(9_999);
      input.pipeInput("b", "x", 19_999);
      expect(out.isEmpty()).toBe(true);
      input.pipeInput("b", "x", 10_000); // exactly at a start: window [10000, 20000)
      d.flush();
      expect(out.readRecordsToList()).toEqual([
        { key: "a", value: 1, timestamp: 12_000, windowStart: 10_000, windowEnd: 20_000 },
        { key: "b", value: 2, timestamp: 19_999, windowStart: 10_000, windowEnd: 20_000 },
      ]);
    });
  }

  it("keeps a window open through its grace and closes it exactly at end + grace", () => {
    const d = new TopologyTestDriver(countTopology(TimeWindows.ofSizeAndGrace(10_000, 5_000)));
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    input.pipeInput("a", "x", 1_000);
    input.pipeInput("a", "x", 14_999); // watermark 14999 < 15000: [0, 10000) still open
    input.pipeInput("a", "x", 9_999); // accepted within grace
    expect(out.isEmpty()).toBe(true);
    expect(late.isEmpty()).toBe(true);
    input.pipeInput("a", "x", 15_000); // 15000 = 10000 + 5000: closes
    expect(out.readRecordsToList()).toEqual([{ key: "a", value: 2, timestamp: 9_999, windowStart: 0, windowEnd: 10_000 }]);
    input.pipeInput("a", "x", 9_999); // now late by 5001
    expect(late.readRecordsToList().map((r) => r.value.latenessMs)).toEqual([5_001]);
    d.flush();
    expect(out.readRecordsToList()).toEqual([{ key: "a", value: 2, timestamp: 15_000, windowStart: 10_000, windowEnd: 20_000 }]);
  });

  it("emit-on-update emits every change; suppress(untilWindowCloses) turns it back into one final result", () => {
    const d = new TopologyTestDriver(countTopology(TimeWindows.ofSizeWithNoGrace(10_000), { update: true }));
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    input.pipeInput("a", "x", 1_000);
    input.pipeInput("a", "x", 2_000);
    input.pipeInput("b", "x", 3_000);
    expect(out.readRecordsToList()).toEqual([
      { key: "a", value: 1, timestamp: 1_000, windowStart: 0, windowEnd: 10_000 },
      { key: "a", value: 2, timestamp: 2_000, windowStart: 0, windowEnd: 10_000 },
      { key: "b", value: 1, timestamp: 3_000, windowStart: 0, windowEnd: 10_000 },
    ]);
    d.flush();
    expect(out.isEmpty()).toBe(true); // nothing more at close

    const b = new StreamsBuilder();
    b.stream<string, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(10_000))
      .emitStrategy(EmitStrategy.onWindowUpdate()).count().suppress(Suppressed.untilWindowCloses()).toStream().to("out");
    const d2 = new TopologyTestDriver(b.build());
    const in2 = d2.createInputTopic<string, string>("in");
    const out2 = d2.createOutputTopic("out");
    in2.pipeInput("a", "x", 1_000);
    in2.pipeInput("a", "x", 2_000);
    expect(out2.isEmpty()).toBe(true);
    in2.pipeInput("a", "x", 10_000);
    expect(out2.readRecordsToList()).toEqual([{ key: "a", value: 2, timestamp: 2_000, windowStart: 0, windowEnd: 10_000 }]);
  });
});

describe("hopping windows (10 minutes advancing by 1 minute)", () => {
  const hopping = TimeWindows.ofSizeWithNoGrace(10 * MIN).advanceBy(MIN);

  for (const builtin of [true, false]) {
    it(`puts a record in every window covering it (${builtin ? "typed store" : "object store"})`, () => {
      const d = new TopologyTestDriver(countTopology(hopping, { builtin }));
      const input = d.createInputTopic<string, string>("in");
      const out = d.createOutputTopic("out");
      input.pipeInput("a", "x", 2 * MIN + 5_000); // windows starting 0, 1, 2 min (none before 0)
      input.pipeInput("a", "x", 11 * MIN + 40_000); // windows starting 2 … 11 min
      // Watermark 11:40 closes the windows ending at or before it: [0, 10) and [1, 11).
      expect(out.readRecordsToList()).toEqual([
        { key: "a", value: 1, timestamp: 2 * MIN + 5_000, windowStart: 0, windowEnd: 10 * MIN },
        { key: "a", value: 1, timestamp: 2 * MIN + 5_000, windowStart: MIN, windowEnd: 11 * MIN },
      ]);
      d.flush();
      const rest = out.readRecordsToList();
      expect(rest.map((r) => [r.windowStart! / MIN, r.value])).toEqual([
        [2, 2], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1], [9, 1], [10, 1], [11, 1],
      ]);
      expect(rest[0]!.timestamp).toBe(11 * MIN + 40_000);
    });
  }

  it("a record late for some of its windows is added to the open ones and reported once as late", () => {
    const d = new TopologyTestDriver(countTopology(hopping));
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    input.pipeInput("a", "x", 12 * MIN); // watermark 12:00
    input.pipeInput("a", "x", 3 * MIN); // windows starting 0 … 3 min: [0,10) [1,11) [2,12) closed, [3,13) open
    const l = late.readRecordsToList();
    expect(l).toHaveLength(1);
    expect(l[0]!.value.reason).toMatch(/3 of its 4 window/);
    d.flush();
    const first = out.readRecordsToList()[0]!;
    expect([first.windowStart, first.value]).toEqual([3 * MIN, 2]);
  });
});

describe("sliding windows", () => {
  it("emits the left window of every record and the right window where a later record falls within the difference", () => {
    const d = new TopologyTestDriver(countTopology(SlidingWindows.ofTimeDifferenceAndGrace(10_000, 0)));
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    input.pipeInput("a", "x", 100_000);
    input.pipeInput("a", "x", 105_000);
    input.pipeInput("a", "x", 130_000);
    // Windows (both ends inclusive): left of 100000 [90000,100000]:1, left of 105000 [95000,105000]:2,
    // right of 100000 [100001,110001]:1 (105000 within 10 s after it). These close (end + grace <
    // watermark 130000); 130000's own left window [120000,130000] stays open until the watermark passes it.
    expect(out.readRecordsToList()).toEqual([
      { key: "a", value: 1, timestamp: 100_000, windowStart: 90_000, windowEnd: 100_000 },
      { key: "a", value: 2, timestamp: 105_000, windowStart: 95_000, windowEnd: 105_000 },
      { key: "a", value: 1, timestamp: 105_000, windowStart: 100_001, windowEnd: 110_001 },
    ]);
    d.flush();
    expect(out.readRecordsToList()).toEqual([{ key: "a", value: 1, timestamp: 130_000, windowStart: 120_000, windowEnd: 130_000 }]);
  });

  it("emit-on-update emits each window the record changes, and the late check uses t + difference + grace", () => {
    const d = new TopologyTestDriver(countTopology(SlidingWindows.ofTimeDifferenceAndGrace(10_000, 2_000), { update: true }));
    const input = d.createInputTopic<string, string>("in");
    const out = d.createOutputTopic("out");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    input.pipeInput("a", "x", 100_000);
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.value])).toEqual([[90_000, 1]]);
    input.pipeInput("a", "x", 104_000);
    // 104000 is in [90000,100000]? no. Its left window [94000,104000] has 2; 100000's new right window [100001,110001] has 1.
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.value])).toEqual([[94_000, 2], [100_001, 1]]);
    input.pipeInput("a", "x", 120_000); // watermark 120000
    out.readRecordsToList();
    input.pipeInput("a", "x", 107_999); // every window containing it ends by 117999; + 2000 grace < 120000: late
    expect(late.getQueueSize()).toBe(1);
    input.pipeInput("a", "x", 108_000); // 120000 is not < 120000: accepted, though no window holds it any more
    expect(late.getQueueSize()).toBe(1);
    expect(out.isEmpty()).toBe(true);
    input.pipeInput("a", "x", 110_500); // creates 108000's right window, joins 120000's left one; its own right window holds 120000
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([
      [108_001, 118_001, 1], [110_000, 120_000, 2], [110_501, 120_501, 1],
    ]);
  });
});

describe("session windows", () => {
  const GAP = 30 * MIN;

  function sessionTopology(windows: SessionWindows, update = false) {
    const b = new StreamsBuilder();
    let s = b.stream<number, string>("clicks").groupByKey().windowedBy(windows);
    if (update) s = s.emitStrategy(EmitStrategy.onWindowUpdate());
    s.aggregate(() => [] as number[], (_k, v, a) => [...a, v], (_k, a, c) => [...a, ...c]).toStream().to("sessions");
    return b.build();
  }

  it("merges two sessions a record bridges (30-minute gap) and emits the merged session once, at close", () => {
    const d = new TopologyTestDriver(sessionTopology(SessionWindows.ofInactivityGapAndGrace(GAP, GAP)));
    const input = d.createInputTopic<string, number>("clicks");
    const out = d.createOutputTopic("sessions");
    input.pipeInput("u1", 1, 0);
    input.pipeInput("u1", 2, 50 * MIN); // 50 min > gap: a second session; [0, 0] closes at 0 + 30 + 30 min
    input.pipeInput("u1", 3, 25 * MIN); // within 30 min of both: they merge into [0, 50 min] (merged aggregates, then the record)
    input.pipeInput("u2", 9, 60 * MIN);
    input.pipeInput("u2", 10, 80 * MIN);
    expect(out.isEmpty()).toBe(true);
    input.pipeInput("u3", 0, 110 * MIN); // watermark 110 min = 50 + 30 + 30: u1's [0, 50] closes
    expect(out.readRecordsToList()).toEqual([{ key: "u1", value: [1, 2, 3], timestamp: 50 * MIN, windowStart: 0, windowEnd: 50 * MIN }]);
    d.flush();
    expect(out.readRecordsToList()).toEqual([
      { key: "u2", value: [9, 10], timestamp: 80 * MIN, windowStart: 60 * MIN, windowEnd: 80 * MIN },
      { key: "u3", value: [0], timestamp: 110 * MIN, windowStart: 110 * MIN, windowEnd: 110 * MIN },
    ]);
  });

  it("without grace, a record behind a closed session is late instead of merging (no final result is revised)", () => {
    const d = new TopologyTestDriver(sessionTopology(SessionWindows.ofInactivityGapWithNoGrace(GAP)));
    const input = d.createInputTopic<string, number>("clicks");
    const out = d.createOutputTopic("sessions");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    input.pipeInput("u1", 1, 0);
    input.pipeInput("u1", 2, 50 * MIN); // watermark 50 ≥ 0 + 30: [0, 0] closes and is emitted
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([[0, 0, [1]]]);
    input.pipeInput("u1", 3, 25 * MIN);
    expect(late.readRecordsToList().map((r) => r.value.latenessMs)).toEqual([25 * MIN]);
    d.flush();
    expect(out.readRecordsToList().map((r) => [r.windowStart, r.windowEnd, r.value])).toEqual([[50 * MIN, 50 * MIN, [2]]]);
  });

  it("on update emits each new session and a tombstone for each session merged away", () => {
    const d = new TopologyTestDriver(sessionTopology(SessionWindows.ofInactivityGapAndGrace(GAP, GAP), true));
    const input = d.createInputTopic<string, number>("clicks");
    const out = d.createOutputTopic("sessions");
    input.pipeInput("u1", 1, 0);
    input.pipeInput("u1", 2, 50 * MIN);
    input.pipeInput("u1", 3, 25 * MIN);
    expect(out.readRecordsToList().map((r) => [r.windowStart! / MIN, r.windowEnd! / MIN, r.value])).toEqual([
      [0, 0, [1]], [50, 50, [2]], [0, 0, null], [50, 50, null], [0, 50, [1, 2, 3]],
    ]);
    d.flush();
    expect(out.isEmpty()).toBe(true);
  });

  it("a record within the gap of a closed session is late; a session closes exactly at end + gap + grace", () => {
    const d = new TopologyTestDriver(sessionTopology(SessionWindows.ofInactivityGapAndGrace(10_000, 5_000)));
    const input = d.createInputTopic<string, number>("clicks");
    const out = d.createOutputTopic("sessions");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    input.pipeInput("a", 1, 1_000);
    input.pipeInput("b", 1, 15_999); // watermark 15999 < 1000 + 10000 + 5000
    expect(out.isEmpty()).toBe(true);
    input.pipeInput("b", 2, 16_000); // = 16000: a's [1000, 1000] closes
    expect(out.readRecordsToList().map((r) => [r.key, r.windowStart, r.windowEnd])).toEqual([["a", 1_000, 1_000]]);
    input.pipeInput("a", 2, 9_000); // 9000 + 15000 > 16000, but within 10 s of the closed session: late
    expect(late.readRecordsToList()[0]!.value.reason).toMatch(/closed/);
    input.pipeInput("a", 3, 11_001); // more than the gap after 1000 and 11001 + 15000 > 16000: a new session
    d.flush();
    expect(out.readRecordsToList().map((r) => [r.key, r.windowStart, r.windowEnd, r.value])).toEqual([
      ["a", 11_001, 11_001, [3]], ["b", 15_999, 16_000, [1, 2]],
    ]);
  });
});

describe("state stores", () => {
  it("reports entries and bytes, retains closed windows for retentionMs, and fails clearly beyond the bound", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(1_000))
      .aggregate(() => 0, (_k, _v, a: number) => a + 1, { name: "counts", retentionMs: 5_000 }).toStream().to("out");
    const d = new TopologyTestDriver(b.build(), { maxStoreEntries: 3 });
    const input = d.createInputTopic<string, string>("in");
    input.pipeInput("a", "x", 100);
    input.pipeInput("b", "x", 200);
    expect(d.getStateStores()).toEqual([{ name: "counts", kind: "window", entries: 2, retained: 0, bytes: expect.any(Number), typed: true }]);
    input.pipeInput("a", "x", 1_100); // closes [0, 1000): retained until watermark 6000
    expect(d.getStateStores()[0]).toMatchObject({ entries: 1, retained: 2 });
    expect(d.fetchWindows("counts", "a")).toEqual([{ start: 0, end: 1_000, value: 1 }, { start: 1_000, end: 2_000, value: 1 }]);
    input.pipeInput("a", "x", 6_000);
    expect(d.getStateStores()[0]).toMatchObject({ entries: 1, retained: 1 }); // [0,1000) dropped; [1000,2000) retained
    input.pipeInput("b", "x", 6_100);
    input.pipeInput("c", "x", 6_200);
    expect(() => input.pipeInput("d", "x", 6_300)).toThrow(/ERR_STATE_FULL|bound of 3 entries/);
  });

  it("the typed store of built-in aggregates reports exact typed-array bytes", () => {
    const d = new TopologyTestDriver(countTopology(TimeWindows.ofSizeWithNoGrace(1_000)));
    d.createInputTopic<string, string>("in").pipeInput("a", "x", 1);
    const [s] = d.getStateStores();
    expect(s).toMatchObject({ kind: "window", entries: 1, typed: true });
    expect(s!.bytes).toBe(1024 * 68);
  });
});

describe("key types", () => {
  it("integer keys (a dense typed index) and string keys give the same windows", () => {
    const run = (key: (i: number) => unknown) => {
      const d = new TopologyTestDriver(countTopology(TimeWindows.ofSizeAndGrace(1_000, 300).advanceBy(500)));
      const input = d.createInputTopic<unknown, string>("in");
      let x = 7;
      for (let i = 0; i < 3_000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        input.pipeInput(key(x % 37), "v", i * 3 - (x % 500));
      }
      d.flush();
      return d.createOutputTopic("out").readRecordsToList().map((r) => [String(r.key), r.windowStart, r.value, r.timestamp]);
    };
    const ints = run((k) => k * 1000); // up to 36000: inside the dense index
    const strings = run((k) => String(k * 1000));
    const big = run((k) => k * 1000 + 2 ** 30); // beyond it: the Map
    expect(ints.length).toBeGreaterThan(100);
    expect(ints).toEqual(strings);
    expect(big.map((r) => [String(Number(r[0]) - 2 ** 30), r[1], r[2], r[3]])).toEqual(ints);
  });
});
