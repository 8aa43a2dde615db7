/**
 * Two input topics read aligned on event time (src/sources/aligned-streams.ts), against the real
 * broker. driver-eta matches each driver location against the ride requests open at that moment,
 * so its outputs depend on how the two topics interleave: read as they arrive, they depended on
 * which topic's consumer joined its group and fetched first (the same backlog gave 21 k ETAs on an
 * idle machine and 64–68 k under load). Aligned, a one-partition topic of each gives the outputs
 * of the two merged by ts (locations first on equal ts; a record without a ts goes as soon as it
 * is at its topic's head), whatever the fetch timing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { diff, type SourcedEvent } from "../support/driver-reference.js";
import { etaKey, referenceDriverEta } from "../support/eta-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { rideSourceOrder } from "../support/ride-events.js";
import { multiset } from "../support/task-processes.js";

const tsOf = (e: Record<string, unknown>): number => (typeof e["ts"] === "number" ? e["ts"] : NaN);

/** The order the aligned reading hands the records of the two topics on: a merge by ts. */
function mergedByTs(loc: Array<Record<string, unknown>>, req: Array<Record<string, unknown>>): SourcedEvent[] {
  const out: SourcedEvent[] = [];
  let i = 0, j = 0;
  while (i < loc.length || j < req.length) {
    const a = i < loc.length ? tsOf(loc[i]!) : Infinity;
    const b = j < req.length ? tsOf(req[j]!) : Infinity;
    const first = a !== a || (b === b && a <= b);
    if (first) out.push({ partition: 0, event: loc[i++]! });
    else out.push({ partition: 1, event: req[j++]! });
  }
  return out;
}

describe("two input topics aligned on event time", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("driver-eta gives the outputs of locations and requests merged by ts, whichever topic was written or fetched first", async () => {
    const locations = uniqueName("al-loc");
    const requests = uniqueName("al-req");
    const output = `${uniqueName("al")}-eta-updates`;
    await createTopic(locations, 1);
    await createTopic(requests, 1);
    const evs = rideSourceOrder({ seed: 41, drivers: 300, partitions: 1, requestShare: 0.01, invalidShare: 0.003 }, 40_000, 1000);
    const isRequest = (e: SourcedEvent): boolean => typeof (e.event as { requestId?: unknown }).requestId === "string";
    const req = evs.filter(isRequest).map((e) => e.event as Record<string, unknown>);
    const loc = evs.filter((e) => !isRequest(e)).map((e) => e.event as Record<string, unknown>);
    const reference = referenceDriverEta(mergedByTs(loc, req), 2);
    expect(reference.filter((o) => o["type"] === "eta").length).toBeGreaterThan(5000);
    expect(reference.filter((o) => o["type"] === "invalid").length).toBeGreaterThan(50);
    // The order matters: read one topic after the other, the same events give other outputs.
    const locationsFirst = referenceDriverEta([...loc.map((event) => ({ partition: 0, event })), ...req.map((event) => ({ partition: 1, event }))], 2);
    expect(diff(multiset(locationsFirst.map(etaKey)), multiset(reference.map(etaKey))).length).toBeGreaterThan(0);

    // The locations are written first: read as they arrived, they would all be matched against
    // the few requests fetched by then.
    await produceAll(locations, loc.map((e) => ({ value: JSON.stringify(e), partition: 0 })));
    await produceAll(requests, req.map((e) => ({ value: JSON.stringify(e), partition: 0 })));
    const run = riptide(["run", "driver-eta", "--brokers", BROKERS, "--input-topic", `${locations},${requests}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "3", "--idle-timeout", "1000000000", "--json", "--quiet"]);
    expect(await run.exited, run.stderr).toBe(0);
    const got = (await readAll([output, output.replace("eta-updates", "driver-availability-updates"), `${output}.invalid`]))
      .map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
    expect(diff(multiset(got.map(etaKey)), multiset(reference.map(etaKey)))).toEqual([]);
    expect(got.length).toBe(reference.length);
  }, 240_000);
});
