/**
 * Worker recovery for topologies in the general form (joins, tables) on the engine: workers are
 * crashed mid-stream (by output count, not by the clock); each replacement restores its shard's last checkpoint (the executor's join
 * buffers, table contents, …) and replays the batches after it. The outputs must equal those of
 * a run without failure: nothing lost, nothing twice. Inputs keep every record well inside the
 * join window and grace (as in engine-joins.test.ts), so the result does not depend on how the
 * two inputs interleave.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../support/random.js";
import { cleanAndCrashed, expectRecovered } from "../support/recovery.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-recovery-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeLines(name: string, rows: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
}

const T0 = 1_700_000_000_000;

describe("worker recovery in the general form (checkpoints of joins and tables)", () => {
  it("stream-stream left join (ride-join.js): workers that die are replaced from their checkpoints; the matches equal a run without failure", async () => {
    const next = mulberry32(21);
    const requests: unknown[] = [];
    const locations: unknown[] = [];
    // 100 000 of each, 4 ms apart (~7 min of event time), 30 000 regions: about one match per
    // request, ± 5 s disorder. A shard's 512-record batch spans ~2 s of event time, far less than
    // the join window, so a replacement without restorable state cannot rebuild what it lost from
    // the few batches it replays (the last check of expectRecovered). With batches longer than the
    // window (records 400 ms apart) the replay did rebuild it whenever both crashes came with a
    // batch held, and that check failed now and then.
    for (let i = 0; i < 100_000; i++) {
      const at = T0 + i * 4;
      requests.push({ requestId: `r${i}`, region: `gh${next() % 30_000}`, ts: at + (next() % 10_001) - 5_000 });
      locations.push({ driverId: `d${next() % 3_000}`, region: `gh${next() % 30_000}`, ts: at + (next() % 10_001) - 5_000 });
    }
    const input = { "ride-requests": writeLines("requests.jsonl", requests), "driver-locations": writeLines("locations.jsonl", locations) };
    const runs = await cleanAndCrashed("ride-join.js", input);
    expect(runs.clean.summary.outputs["ride-matches"]).toBeGreaterThan(100_000); // every request at least once
    expect(runs.clean.summary.outputs["riptide-late"] ?? 0).toBe(0);
    expectRecovered(runs);
  }, 240_000);

  it("stream-table join (profile-enrich.js): the table survives in the checkpoint; every message still meets its sender's profile", async () => {
    const next = mulberry32(22);
    const profiles = Array.from({ length: 2_000 }, (_, i) => ({ userId: `u${i}`, name: `User ${i}`, tier: i % 3 }));
    const messages: unknown[] = [];
    for (let i = 0; i < 200_000; i++) {
      // u2000…u2199 have no profile: the inner join drops their messages.
      messages.push({ messageId: `m${i}`, senderId: `u${next() % 2_200}`, bytes: next() % 50, ts: T0 + i * 10 });
    }
    const input = { messages: writeLines("messages.jsonl", messages), "user-profiles": writeLines("profiles.jsonl", profiles) };
    const runs = await cleanAndCrashed("profile-enrich.js", input);
    expect(runs.clean.summary.outputs["enriched-messages"]).toBeGreaterThan(170_000);
    expectRecovered(runs);
  }, 240_000);
});
