/**
 * The typed store of built-in aggregates grows without losing windows (it once rebuilt itself
 * dropping every window when it outgrew its first 512 slots).
 */
import { describe, expect, it } from "vitest";
import { StreamsBuilder, TimeWindows, TopologyTestDriver } from "../../src/index.js";

describe("built-in aggregate store growth", () => {
  it("20 000 keys in one window: 20 000 counts of 1, then a second round makes them 2", () => {
    const b = new StreamsBuilder();
    b.stream<number, string>("in").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(60_000)).count().toStream().to("out");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, number>("in");
    for (let round = 0; round < 2; round++) for (let k = 0; k < 20_000; k++) input.pipeInput(`k${k}`, 1, 1_000 + round);
    d.flush();
    const out = d.createOutputTopic<string, number>("out").readKeyValuesToList();
    expect(out.length).toBe(20_000);
    expect(out.every((kv) => kv.value === 2)).toBe(true);
  });
});
