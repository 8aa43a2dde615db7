/**
 * `--guarantee exactly-once` for runs that read several input topics, against the real broker: one
 * transactional producer, each topic's offsets sent to every transaction with its own consumer's
 * group. A process SIGKILLed twice mid-stream and restarted gives, read `read_committed`, every
 * output of a reference computed here exactly once — no loss, no duplicate — and each topic's
 * group has committed offsets at the end of its topic. (The DSL pipelines' runs of the same kind
 * are in eos-dsl-runs.test.ts; the helpers in test/support/eos-kills.ts.)
 *
 *   - driver-eta: driver locations (frames and JSON) and ride requests, two topics, one shard.
 *     Its matching depends on the order the two topics interleave, so the requests are produced
 *     and committed first, then the locations: the reference reads them in that order.
 *   - engagement-analytics with user interactions: views (frames and JSON) and interactions read
 *     time-aligned through staging buffers; the snapshot counts the records handed out, not read.
 *   - a zombie of a two-topic run (ride-matching) is fenced by its successor.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { encodeFrame } from "../../src/io/frame.js";
import { VIEW_EVENT } from "../../src/pipelines/engagement/spec.js";
import { RIDE_EVENT } from "../../src/pipelines/rides/spec.js";
import { EngagementGenerator } from "../../src/sources/engagement-generator.js";
import { diff, type SourcedEvent } from "../support/driver-reference.js";
import { rideKey, rideReference } from "../support/dsl-pipeline-references.js";
import { engagementMultiset, generateEngagement, referenceEngagement } from "../support/engagement-reference.js";
import { committed, ends, killAndRestart } from "../support/eos-kills.js";
import { etaKey, referenceDriverEta } from "../support/eta-reference.js";
import { BROKERS, assigned, createTopic, ensureBroker, produceAll, readCommitted, riptide, uniqueName, type Proc } from "../support/kafka.js";
import { rideSourceOrder } from "../support/ride-events.js";
import { multiset } from "../support/task-processes.js";

// ── driver-eta ────────────────────────────────────────────────────────────────────────────────

/** A valid driver location (frames carry these; invalid ones go as JSON, compared as sent). */
function frameable(e: Record<string, unknown>): boolean {
  const { driverId, lat, lon, ts, speedKmh } = e as { driverId: unknown; lat: number; lon: number; ts: number; speedKmh: unknown };
  return typeof driverId === "string" && driverId.length > 0 && e["requestId"] === undefined
    && [lat, lon, ts, speedKmh].every((v) => typeof v === "number" && Number.isFinite(v))
    && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !(lat === 0 && lon === 0);
}

describe("exactly-once on Kafka, several input topics", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("driver-eta (locations + requests): the reference's ETAs, matches and releases exactly once across two SIGKILLs", async () => {
    const locations = uniqueName("eos-multi-loc");
    const requests = uniqueName("eos-multi-req");
    const output = `${uniqueName("eos-multi")}-eta-updates`;
    const availability = output.replace("eta-updates", "driver-availability-updates");
    const group = uniqueName("eos-multi-g");
    await createTopic(locations, 1);
    await createTopic(requests, 1);
    const evs = rideSourceOrder({ seed: 29, drivers: 400, partitions: 1, requestShare: 0.001, invalidShare: 0.002 }, 100_000, 1000);
    const isRequest = (e: SourcedEvent): boolean => typeof (e.event as { requestId?: unknown }).requestId === "string";
    const req = evs.filter(isRequest).map((e) => e.event as Record<string, unknown>);
    const loc = evs.filter((e) => !isRequest(e)).map((e) => e.event as Record<string, unknown>);
    // The combined source: the locations' partition first (0), the requests' next (1).
    const reference = referenceDriverEta([...req.map((event) => ({ partition: 1, event })), ...loc.map((event) => ({ partition: 0, event }))], 2);
    const count = (f: (o: Record<string, unknown>) => boolean): number => reference.filter(f).length;
    const etas = count((o) => o["type"] === "eta");
    expect(etas).toBeGreaterThan(10_000);
    expect(count((o) => o["available"] === false)).toBeGreaterThan(30);
    expect(count((o) => o["available"] === true)).toBeGreaterThan(400); // releases after a hold too
    expect(count((o) => o["type"] === "invalid")).toBeGreaterThan(100);

    // Locations: frames of up to 500 valid events (a batch ends inside frames), invalid ones as JSON.
    const messages: Array<{ value: Buffer | string; partition: number }> = [];
    for (let i = 0; i < loc.length;) {
      let j = i;
      while (j < loc.length && j - i < 500 && frameable(loc[j]!)) j++;
      if (j > i) { messages.push({ value: encodeFrame(RIDE_EVENT, loc.slice(i, j)), partition: 0 }); i = j; }
      else { messages.push({ value: JSON.stringify(loc[i]), partition: 0 }); i++; }
    }
    expect(messages.length).toBeGreaterThan(150);
    await produceAll(requests, req.map((e) => ({ value: JSON.stringify(e), partition: 0 })));

    const args = ["run", "driver-eta", "--brokers", BROKERS, "--input-topic", `${locations},${requests}`, "--output-topic", output, "--group", group,
      "--guarantee", "exactly-once", "--commit-interval", "50", "--idle-timeout", "1000000000", "--json", "--quiet", "--batch-size", "512", "--log-level", "info"];
    const { last, midway, recoverySeconds } = await killAndRestart(args, [output], 1, Math.floor(etas / 4), 2, async () => {
      // Every request in the state and committed before the first location exists.
      const deadline = Date.now() + 60_000;
      while ((await committed(`${group}.requests`, requests, 1))[0] !== req.length) {
        if (Date.now() > deadline) throw new Error("the requests were not committed");
        await new Promise((r) => setTimeout(r, 100));
      }
      await produceAll(locations, messages);
    });
    expect(await last.exited, last.stderr.slice(-2000)).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
    const summary = JSON.parse(last.stdout.trim().split("\n").pop()!) as { events: number };
    // The kills came mid-stream: part of the outputs committed before the last run, which started from restored state.
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(etas);
    expect(summary.events).toBeLessThan(evs.length);

    const got = await readCommitted([output, availability, `${output}.invalid`]);
    expect(diff(multiset(got.map(etaKey)), multiset(reference.map(etaKey)))).toEqual([]);
    expect(got.length).toBe(reference.length);
    // Both groups committed to the end of their topic, in the transactions.
    expect(await committed(group, locations, 1)).toEqual([messages.length]);
    expect(await committed(`${group}.requests`, requests, 1)).toEqual([req.length]);
    process.stdout.write(`driver-eta exactly-once: recovery ${recoverySeconds.map((s) => s.toFixed(2)).join(", ")} s to assignment; load ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
  }, 300_000);

  it("engagement-analytics with user interactions (views in frames, a staging reader): windows, sessions and invalid records exactly once across two SIGKILLs", async () => {
    const views = uniqueName("eos-multi-views");
    const meta = uniqueName("eos-multi-meta");
    const inter = uniqueName("eos-multi-inter");
    const output = uniqueName("eos-multi-eng-out");
    const group = uniqueName("eos-multi-eng-g");
    await createTopic(views, 2);
    await createTopic(meta, 1);
    await createTopic(inter, 2);
    // As test/integration/engagement-kafka.test.ts: in order per partition, no late records, so
    // windows and sessions do not depend on how the four partitions interleave.
    const gen = new EngagementGenerator({ seed: 8, users: 600, contents: 80, partitions: 2, lateShare: 0, interactionShare: 0.2 });
    const sourced = generateEngagement(gen, 240);
    const catalog = gen.catalog();
    const table = new Map(catalog.map((r) => [r.contentId, { title: r.title, genre: r.genre }]));
    await produceAll(meta, catalog.map((r) => ({ value: JSON.stringify(r), key: r.contentId })));
    // Views: frames of up to 300 valid views per partition (batches and the staging end inside
    // frames), anything else as JSON; interactions as JSON.
    const valid = (e: Record<string, unknown>): boolean => {
      const { userId, contentId, watchSeconds: w, durationSeconds: d, ts } = e as Record<string, number | string>;
      return typeof userId === "string" && userId !== "" && typeof contentId === "string" && contentId !== "" && e["action"] === undefined
        && [w, d, ts].every((v) => typeof v === "number" && Number.isFinite(v)) && (w as number) >= 0 && (w as number) <= 1e7 && (d as number) > 0 && (d as number) <= 1e7;
    };
    let frames = 0;
    for (let p = 0; p < 2; p++) {
      const mine = sourced.filter((s) => s.partition === p && s.kind === "view").map((s) => s.event);
      const messages: Array<{ value: Buffer | string; partition: number; key?: string }> = [];
      for (let i = 0; i < mine.length;) {
        let j = i;
        while (j < mine.length && j - i < 300 && valid(mine[j]!)) j++;
        if (j > i) { messages.push({ value: encodeFrame(VIEW_EVENT, mine.slice(i, j)), partition: p }); frames++; i = j; }
        else { messages.push({ value: JSON.stringify(mine[i]), partition: p }); i++; }
      }
      await produceAll(views, messages);
    }
    expect(frames).toBeGreaterThan(100);
    await produceAll(inter, sourced.filter((s) => s.kind === "interaction").map((s) => ({ value: JSON.stringify(s.event), partition: s.partition, key: (s.event["userId"] as string) || undefined })));
    const reference = referenceEngagement(sourced, 2, table);
    expect(reference.filter((o) => o["type"] === "late")).toHaveLength(0);
    const refSessions = reference.filter((o) => o["type"] === "session");
    const refWindows = reference.filter((o) => o["type"] === "window").length;
    expect(refSessions.filter((o) => (o["interactions"] as number) > 0).length).toBeGreaterThan(200);

    const args = ["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta},${inter}`, "--output-topic", output, "--group", group,
      "--guarantee", "exactly-once", "--commit-interval", "50", "--json", "--quiet", "--workers", "2", "--batch-size", "512", "--log-level", "info"];
    const { last, midway, recoverySeconds } = await killAndRestart(args, [output], 2, Math.floor(refWindows / 4), 2);
    expect(await last.exited, last.stderr.slice(-2000)).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(refWindows);

    const windows = await readCommitted([output, `${output}.invalid`, `${output}.late`], 2);
    expect(diff(engagementMultiset(windows), engagementMultiset(reference.filter((o) => o["type"] !== "session")))).toEqual([]);
    // Sessions: the same sessions (user, start, end, views, interactions), each once (the top
    // genres may differ among equal affinities: see engagement-kafka.test.ts).
    const session = (o: Record<string, unknown>): string => JSON.stringify([o["userId"], o["start"], o["end"], o["views"], o["interactions"]]);
    const sessions = await readCommitted([`${output}.session`], 2);
    expect(diff(multiset(sessions.map(session)), multiset(refSessions.map(session)))).toEqual([]);
    expect(await committed(group, views, 2)).toEqual(await ends(views, 2));
    expect(await committed(`${group}.interactions`, inter, 2)).toEqual(await ends(inter, 2));
    process.stdout.write(`engagement exactly-once: recovery ${recoverySeconds.map((x) => x.toFixed(2)).join(", ")} s to assignment; load ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
  }, 300_000);

  it("fences a zombie of a run reading two topics: a second process of the group takes over, the first fails its next commit, nothing doubles (ride-matching)", async () => {
    const prefix = `${uniqueName("eos-multi-fence")}-`;
    const group = uniqueName("eos-multi-fence-g");
    const gen = riptide(["loadgen", "--brokers", BROKERS, "--kind", "ride-matching", "--topic-prefix", prefix, "--rate", "10000000", "--events", "150000",
      "--partitions", "2", "--seed", "17", "--drivers", "300", "--json", "--quiet"]);
    expect(await gen.exited, gen.stderr).toBe(0);
    const expected = rideReference(150_000, 17, 300);
    const output = `${prefix}ride-matches`;
    const args = ["run", "ride-matching", "--brokers", BROKERS, "--topic-prefix", prefix, "--group", group, "--guarantee", "exactly-once", "--workers", "2", "--json"];
    const first = riptide(args);
    let second: Proc | undefined;
    try {
      await assigned(first);
      // While the first is mid-stream (some outputs written), a second instance registers the same transactional id.
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && first.child.exitCode === null) {
        const high = (await ends(output, 2).catch(() => [0, 0])).reduce((a, b) => a + b, 0);
        if (high >= expected.length / 5) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      second = riptide([...args, "--stop-when-idle", "3"]);
      expect(await first.exited).toBe(1);
      expect(first.stderr).toMatch(/fenced|Fenced|FENCED/);
      expect(await second.exited, second.stderr.slice(-2000)).toBe(0);
    } finally {
      first.child.kill("SIGKILL");
      second?.child.kill("SIGKILL");
    }
    const got = (await readCommitted([output], 2)).map(rideKey);
    expect(diff(multiset(got), multiset(expected))).toEqual([]);
    expect(got.length).toBe(expected.length);
  }, 300_000);

});
