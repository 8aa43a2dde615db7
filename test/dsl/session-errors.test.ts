/**
 * Session windows with user functions that throw (the object session store, SessionProc): the
 * record goes to the error topic with the reason and the store stays as it was — the sessions the
 * record would have merged are still emitted when they close; and a late record of a key never seen
 * leaves no entry behind.
 */
import { describe, expect, it } from "vitest";
import { SessionWindows, StreamsBuilder, TopologyExecutor, TopologyTestDriver } from "../../src/index.js";

const T0 = 1_700_000_000_000;

function topology() {
  const b = new StreamsBuilder();
  b.stream("in")
    .groupByKey()
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(5_000, 60_000))
    .aggregate(() => 0, (_k, v: { bad?: boolean }, n: number) => {
      if (v.bad) throw new Error("bad record");
      return n + 1;
    }, (_k, a: number, b: number) => a + b, { name: "sessions" })
    .toStream()
    .to("out");
  return b.build();
}

describe("session windows with a user function that throws", () => {
  it("keeps the sessions the failing record would have merged: they are emitted at close", () => {
    const d = new TopologyTestDriver(topology());
    const input = d.createInputTopic("in");
    input.pipeInput("a", {}, T0);
    input.pipeInput("a", {}, T0 + 1_000);
    input.pipeInput("b", {}, T0 + 20_000);
    input.pipeInput("b", {}, T0 + 26_000); // a second session of b
    input.pipeInput("b", { bad: true }, T0 + 23_000); // would bridge b's two sessions: its adder throws
    input.pipeInput("a", { bad: true }, T0 + 2_000); // would extend a's session: its adder throws
    d.flush();
    const out = d.createOutputTopic("out").readRecordsToList().map((r) => [r.key, r.windowStart, r.windowEnd, r.value]);
    expect(out.sort()).toEqual([["a", T0, T0 + 1_000, 2], ["b", T0 + 20_000, T0 + 20_000, 1], ["b", T0 + 26_000, T0 + 26_000, 1]].sort());
    const errors = d.createOutputTopic("riptide-errors").readRecordsToList();
    expect(errors).toHaveLength(2);
    expect(errors.map((e) => String((e.value as { error: string }).error))).toEqual(["bad record", "bad record"]);
    expect(d.getStateStores().find((s) => s.name === "sessions")!.entries).toBe(0);
  });

  it("a late record of a new key leaves no key entry behind (the checkpoint does not grow)", () => {
    const emitted: string[] = [];
    const ex = new TopologyExecutor(topology(), (topic) => { emitted.push(topic); });
    ex.process("in", "a", {}, T0 + 120_000, T0 + 120_000);
    const area = new Float64Array(1 << 16);
    const before = ex.snapshot(area);
    ex.process("in", "new", {}, T0, T0 + 120_000); // late: its session would have closed at T0 + 65 s (gap + grace)
    expect(emitted).toEqual(["riptide-late"]);
    expect(ex.snapshot(area)).toBe(before);
  });
});
