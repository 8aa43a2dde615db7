/**
 * The DSL through the package name, as users import it (package self-reference via "exports";
 * resolves to the built dist/, which `npm test` builds first).
 */
import { describe, expect, it } from "vitest";
import { JoinWindows, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, TopologyTestDriver } from "riptide";

describe('import { … } from "riptide"', () => {
  it("exports the builder, the window specs and the test driver, and they run a topology", () => {
    for (const x of [JoinWindows, SessionWindows, SlidingWindows, StreamsBuilder, TimeWindows, TopologyTestDriver]) expect(typeof x).toBe("function");
    const b = new StreamsBuilder();
    b.stream<string, string>("words").groupByKey().windowedBy(TimeWindows.ofSizeWithNoGrace(1_000)).count().toStream().to("counts");
    const d = new TopologyTestDriver(b.build());
    const input = d.createInputTopic<string, string>("words");
    input.pipeInput("hello", "x", 10);
    input.pipeInput("hello", "x", 20);
    input.pipeInput("world", "x", 1_500);
    expect(d.createOutputTopic("counts").readRecordsToList()).toEqual([{ key: "hello", value: 2, timestamp: 20, windowStart: 0, windowEnd: 1_000 }]);
    d.close();
  });
});
