/**
 * Joins through the TopologyTestDriver, expectations worked out by hand. Two input topics: the
 * watermark is the minimum of their stream times (DESIGN.md), so it is written next to each step.
 * Seed: ride requests × driver locations within 1 minute (JoinWindows, no grace). A record's join
 * window [t − 60 s, t + 60 s] closes when the watermark passes t + 60 s; it then leaves the buffer
 * (left/outer joins emit it with null if it never matched).
 */
import { describe, expect, it } from "vitest";
import { JoinWindows, StreamsBuilder, TopologyTestDriver, type LateRecord } from "../../src/index.js";

function rideJoin(kind: "join" | "leftJoin" | "outerJoin") {
  const b = new StreamsBuilder();
  const requests = b.stream<string, string>("ride-requests");
  const locations = b.stream<string, string>("driver-locations");
  const joiner = (l: string | null, r: string | null) => `${l}+${r}`;
  const w = JoinWindows.ofTimeDifferenceWithNoGrace(60_000);
  (kind === "outerJoin" ? requests.outerJoin(locations, joiner, w) : kind === "leftJoin" ? requests.leftJoin(locations, joiner, w) : requests.join(locations, joiner, w)).to("matches");
  return b.build();
}

/** The shared input; comments give the watermark after each record and what it closes. */
function pipeSeed(d: TopologyTestDriver): void {
  const req = d.createInputTopic<string, string>("ride-requests");
  const loc = d.createInputTopic<string, string>("driver-locations");
  req.pipeInput("r1", "A", 0); //            wm −∞ (locations has no data yet: it does not count)… then 0
  loc.pipeInput("r1", "loc1", 30_000); //    wm 0; A+loc1
  loc.pipeInput("r1", "loc2", 61_000); //    wm 0; 61 s from A: no match
  loc.pipeInput("r3", "locZ", 65_000); //    wm 0
  req.pipeInput("r1", "B", 100_000); //      wm 65000 closes A (0 + 60000 < 65000); B+loc2
  req.pipeInput("r1", "C", 20_000); //       wm 65000; C's window closes at 80000: not late; C+loc1, C+loc2
  req.pipeInput("r2", "X", 90_000); //       wm 65000; nothing to match
  loc.pipeInput("r1", "loc3", 200_000); //   wm 100000 closes C (80000), loc1 (90000): both matched
  req.pipeInput("r1", "D", 0); //            window closed at 60000 < 100000: late
  req.pipeInput("r1", "F", 170_000); //      wm 170000 closes loc2, locZ (unmatched), X (unmatched), B; F+loc3
  d.flush(); //                              loc3 and F: both matched
}

describe("stream-stream joins (ride requests × driver locations within 1 minute)", () => {
  const inner = [
    ["A+loc1", 30_000], ["B+loc2", 100_000], ["C+loc1", 30_000], ["C+loc2", 61_000],
  ];

  it("inner: every pair within the window whose windows are open when the second arrives", () => {
    const d = new TopologyTestDriver(rideJoin("join"));
    const out = d.createOutputTopic<string, string>("matches");
    const late = d.createOutputTopic<string, LateRecord>("riptide-late");
    pipeSeed(d);
    expect(out.readRecordsToList().map((r) => [r.value, r.timestamp])).toEqual([...inner, ["F+loc3", 200_000]]);
    const l = late.readRecordsToList();
    expect(l.map((r) => [r.key, r.value.value, r.value.latenessMs])).toEqual([["r1", "D", 100_000]]);
    expect(d.getStateStores()[0]).toMatchObject({ kind: "join", entries: 0 });
  });

  it("left: an unmatched request is emitted with null once its window closes", () => {
    const d = new TopologyTestDriver(rideJoin("leftJoin"));
    const out = d.createOutputTopic<string, string>("matches");
    pipeSeed(d);
    expect(out.readRecordsToList().map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ...inner.map(([v, t]) => ["r1", v, t]), ["r2", "X+null", 90_000], ["r1", "F+loc3", 200_000],
    ]);
  });

  it("outer: unmatched records of both sides are emitted with null, in the order their windows close", () => {
    const d = new TopologyTestDriver(rideJoin("outerJoin"));
    const out = d.createOutputTopic<string, string>("matches");
    pipeSeed(d);
    expect(out.readRecordsToList().map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ...inner.map(([v, t]) => ["r1", v, t]), ["r3", "null+locZ", 65_000], ["r2", "X+null", 90_000], ["r1", "F+loc3", 200_000],
    ]);
  });

  it("left: an unmatched record is not emitted while its window is open, and a match within it prevents the null result", () => {
    const d = new TopologyTestDriver(rideJoin("leftJoin"));
    const req = d.createInputTopic<string, string>("ride-requests");
    const loc = d.createInputTopic<string, string>("driver-locations");
    const out = d.createOutputTopic<string, string>("matches");
    req.pipeInput("k", "A", 1_000);
    loc.pipeInput("k", "other", 62_000); // wm 1000; 61 s after A: no match
    req.pipeInput("k", "B", 61_000); // wm 61000; B+other. A's window closes once the watermark passes 61000: not yet
    expect(out.readValuesToList()).toEqual(["B+other"]);
    loc.pipeInput("k", "late-match", 61_000); // 60 s after A: matches A (its window still open) and B
    expect(out.readValuesToList()).toEqual(["A+late-match", "B+late-match"]);
    req.pipeInput("k", "C", 62_000); // wm 62000 > 61000: A closes, matched: no null result
    loc.pipeInput("k", "x", 62_000);
    d.flush();
    expect(out.readValuesToList()).toEqual(["C+other", "C+late-match", "B+x", "C+x"]);
  });
});

describe("stream-table joins", () => {
  function profileJoin(left: boolean) {
    const b = new StreamsBuilder();
    const profiles = b.table<{ name: string }>("driver-profiles");
    const rides = b.stream<string, string>("rides");
    const joiner = (ride: string, p: { name: string } | null) => `${ride}:${p?.name ?? "unknown"}`;
    (left ? rides.leftJoin(profiles, joiner) : rides.join(profiles, joiner)).to("enriched");
    profiles.toStream().to("profile-changes");
    return b.build();
  }

  for (const left of [false, true]) {
    it(`${left ? "left" : "inner"}: the table's latest value per key; a tombstone deletes; table updates emit nothing`, () => {
      const d = new TopologyTestDriver(profileJoin(left));
      const profiles = d.createInputTopic<string, { name: string } | null>("driver-profiles");
      const rides = d.createInputTopic<string, string>("rides");
      const out = d.createOutputTopic<string, string>("enriched");
      const changes = d.createOutputTopic("profile-changes");
      profiles.pipeInput("d1", { name: "Ann" }, 5);
      rides.pipeInput("d1", "ride1", 10);
      rides.pipeInput("d2", "ride2", 11);
      profiles.pipeInput("d2", { name: "Bob" }, 12);
      rides.pipeInput("d2", "ride3", 13);
      profiles.pipeInput("d1", { name: "Ann2" }, 14);
      rides.pipeInput("d1", "ride4", 15);
      profiles.pipeInput("d1", null, 16);
      rides.pipeInput("d1", "ride5", 17);
      const expected = left
        ? [["d1", "ride1:Ann", 10], ["d2", "ride2:unknown", 11], ["d2", "ride3:Bob", 13], ["d1", "ride4:Ann2", 15], ["d1", "ride5:unknown", 17]]
        : [["d1", "ride1:Ann", 10], ["d2", "ride3:Bob", 13], ["d1", "ride4:Ann2", 15]];
      expect(out.readRecordsToList().map((r) => [r.key, r.value, r.timestamp])).toEqual(expected);
      expect(changes.readKeyValuesToList()).toEqual([
        { key: "d1", value: { name: "Ann" } }, { key: "d2", value: { name: "Bob" } }, { key: "d1", value: { name: "Ann2" } }, { key: "d1", value: null },
      ]);
      expect(d.getStateStores().find((s) => s.kind === "table")).toMatchObject({ entries: 1 });
    });
  }

  it("joins a stream against an aggregated KTable", () => {
    const b = new StreamsBuilder();
    const totals = b.stream<number, string>("payments").groupByKey().sum();
    b.stream<string, string>("checks").join(totals, (c, total) => `${c}=${total}`).to("out");
    const d = new TopologyTestDriver(b.build());
    const pay = d.createInputTopic<string, number>("payments");
    const checks = d.createInputTopic<string, string>("checks");
    pay.pipeInput("u", 5, 1);
    pay.pipeInput("u", 7, 2);
    checks.pipeInput("u", "c1", 3);
    checks.pipeInput("v", "c2", 3);
    expect(d.createOutputTopic("out").readValuesToList()).toEqual(["c1=12"]);
  });
});

describe("asymmetric join windows", () => {
  it("before(0): a left record joins right records from its own time to `after` later only", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("l").join(b.stream<string, string>("r"), (x, y) => `${x}+${y}`, JoinWindows.ofTimeDifferenceWithNoGrace(100).before(0)).to("out");
    const d = new TopologyTestDriver(b.build());
    const l = d.createInputTopic<string, string>("l");
    const r = d.createInputTopic<string, string>("r");
    l.pipeInput("k", "L", 1_000);
    r.pipeInput("k", "early", 999); // 1 ms before the left record: outside [1000, 1100]
    r.pipeInput("k", "on-time", 1_000);
    r.pipeInput("k", "last", 1_100);
    r.pipeInput("k", "after", 1_101);
    expect(d.createOutputTopic("out").readValuesToList()).toEqual(["L+on-time", "L+last"]);
  });

  it("a stream-stream join's buffer is bounded by maxStoreEntries", () => {
    const b = new StreamsBuilder();
    b.stream<string, string>("l").leftJoin(b.stream<string, string>("r"), (x, y) => [x, y], JoinWindows.ofTimeDifferenceWithNoGrace(1_000)).to("out");
    const d = new TopologyTestDriver(b.build(), { maxStoreEntries: 2 });
    const l = d.createInputTopic<string, string>("l");
    l.pipeInput("a", "1", 10);
    l.pipeInput("b", "2", 11);
    expect(() => l.pipeInput("c", "3", 12)).toThrow(/bound of 2 entries/);
  });
});
