/**
 * The pipelines written on the DSL (ride-matching: stream-stream join; message-enrichment:
 * stream-table join; content-views and chat-sessions: repartitioning by a new key into tumbling and
 * session windows) as users run them: `riptide run <name>` on the embedded generator, and
 * `riptide loadgen --kind <name>` → Kafka → `riptide run <name> --brokers …` against the real
 * broker. Each output equals a reference computed here from the same generator functions.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatKey, chatReference, messageKey, messageReference, rideKey, rideReference, viewKey, viewReference } from "../support/dsl-pipeline-references.js";
import { BROKERS, ensureBroker, readAll, riptide, uniqueName } from "../support/kafka.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-dsl-pipelines-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("DSL pipelines on the embedded generator", () => {
  it("riptide pipelines lists both", async () => {
    const p = riptide(["pipelines"]);
    expect(await p.exited).toBe(0);
    expect(p.stdout).toMatch(/^ride-matching +.*stream-stream join/m);
    expect(p.stdout).toMatch(/^message-enrichment +.*stream-table join/m);
  });

  it("ride-matching: every valid match of the reference, on 2 workers", async () => {
    const out = join(dir, "rides.jsonl");
    const p = riptide(["run", "ride-matching", "--events", "30000", "--seed", "7", "--drivers", "400", "--workers", "2", "--output", out, "--json"]);
    expect(await p.exited).toBe(0);
    const summary = JSON.parse(p.stdout.trim());
    const expected = rideReference(30_000, 7, 400);
    expect(expected.length).toBeGreaterThan(1_000);
    expect(summary).toMatchObject({ pipeline: "ride-matching", events: 30_000, outputs: { "ride-matches": expected.length, "ride-matches.late": 0, invalid: 0 } });
    const got = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((o) => o.type === "ride-matches").map(rideKey).sort();
    expect(got).toEqual(expected);
  });

  it("message-enrichment: the table is read first, every message with a known sender enriched", async () => {
    const out = join(dir, "messages.jsonl");
    const p = riptide(["run", "message-enrichment", "--events", "40000", "--seed", "3", "--drivers", "800", "--workers", "2", "--output", out, "--json"]);
    expect(await p.exited).toBe(0);
    const summary = JSON.parse(p.stdout.trim());
    const expected = messageReference(40_000, 3, 800);
    expect(expected.length).toBeGreaterThan(35_000);
    expect(expected.length).toBeLessThan(40_000); // some senders have no profile
    expect(summary.outputs).toEqual({ "enriched-messages": expected.length, invalid: 0 });
    const got = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((o) => o.type === "enriched-messages").map(messageKey).sort();
    expect(got).toEqual(expected);
  });

  it("payments-dsl: the same decisions and balances as the hand-written payments pipeline on the same events", async () => {
    const hand = join(dir, "payments.jsonl");
    const dsl = join(dir, "payments-dsl.jsonl");
    const args = ["--events", "60000", "--seed", "5", "--drivers", "300", "--workers", "2", "--json"];
    const a = riptide(["run", "payments", "--partitions", "1", "--output", hand, ...args]);
    const b = riptide(["run", "payments-dsl", "--output", dsl, ...args]);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const read = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const h = read(hand);
    const d = read(dsl);
    const handConf = h.filter((o) => o.type === "confirmation").map((o) => `${o.paymentId}|${o.userId}|${o.status}|${o.reason ?? ""}`).sort();
    const dslConf = d.filter((o) => o.type === "payment-confirmations").map((o) => `${o.value.paymentId}|${o.key}|${o.value.status}|${o.value.reason ?? ""}`).sort();
    expect(handConf.length).toBeGreaterThan(50_000);
    expect(handConf.some((c) => c.endsWith("|DECLINED|insufficient funds"))).toBe(true);
    expect(dslConf).toEqual(handConf);
    const handBal = h.filter((o) => o.type === "balance").map((o) => `${o.paymentId}|${o.amount}|${o.balance}`).sort();
    const dslBal = d.filter((o) => o.type === "balance-updates").map((o) => `${o.value.paymentId}|${o.value.amount}|${o.value.balance}`).sort();
    expect(dslBal).toEqual(handBal);
    // Invalid events: the same number (the DSL's empty user ids are refused at the edge, with no key to shard by).
    const sa = JSON.parse(a.stdout.trim());
    const sb = JSON.parse(b.stdout.trim());
    expect(sb.outputs["invalid"] + sb.outputs["payment-events.invalid"]).toBe(sa.outputs["invalid"]);
  });

  for (const [name, events, users, reference, key, out] of [
    ["content-views", 60_000, 4_000, viewReference, viewKey, "content-view-counts"],
    ["chat-sessions", 60_000, 2_000, chatReference, chatKey, "chat-sessions"],
  ] as const) {
    it(`${name}: records grouped by a new key move to its shard; every window equals the reference, on 2 workers`, async () => {
      const file = join(dir, `${name}.jsonl`);
      const p = riptide(["run", name, "--events", String(events), "--seed", "9", "--drivers", String(users), "--workers", "2", "--output", file, "--json"]);
      expect(await p.exited).toBe(0);
      const summary = JSON.parse(p.stdout.trim());
      const expected = reference(events, 9, users);
      expect(expected.length).toBeGreaterThan(500);
      expect(summary).toMatchObject({ pipeline: name, events, repartitioned: events, outputs: { [out]: expected.length, [`${out}.late`]: 0, invalid: 0 } });
      const got = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((o) => o.type === out).map(key).sort();
      expect(got).toEqual(expected);
    });
  }

  it("rejects options that do not apply, naming them (exit code 2)", async () => {
    const p = riptide(["run", "ride-matching", "--input-topic", "x"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(/--input-topic does not apply to ride-matching/);
    const q = riptide(["run", "message-enrichment", "--topic-prefix", "bad prefix"]);
    expect(await q.exited).toBe(2);
    expect(q.stderr).toMatch(/--topic-prefix must use letters/);
  });
});

describe("DSL pipelines through Kafka (loadgen → broker → riptide → broker)", () => {
  beforeAll(() => ensureBroker(), 240_000);

  for (const [name, events, users, reference, key, out] of [
    ["ride-matching", 20_000, 300, rideReference, rideKey, "ride-matches"],
    ["message-enrichment", 20_000, 600, messageReference, messageKey, "enriched-messages"],
    ["content-views", 20_000, 2_000, viewReference, viewKey, "content-view-counts"],
  ] as const) {
    it(`${name}: the output topic equals the reference (2 partitions per topic, 2 workers)`, async () => {
      const prefix = `${uniqueName(name)}-`;
      const gen = riptide(["loadgen", "--brokers", BROKERS, "--kind", name, "--topic-prefix", prefix, "--rate", "50000", "--events", String(events),
        "--partitions", "2", "--seed", "11", "--drivers", String(users), "--json", "--quiet"]);
      expect(await gen.exited).toBe(0);
      expect(JSON.parse(gen.stdout.trim())).toMatchObject({ kind: name, errors: 0 });
      const run = riptide(["run", name, "--brokers", BROKERS, "--topic-prefix", prefix, "--workers", "2", "--stop-when-idle", "3", "--json", "--quiet"]);
      const code = await run.exited;
      expect(run.stderr).toBe("");
      expect(code).toBe(0);
      const expected = reference(events, 11, users);
      const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
      expect(summary.outputs[`${prefix}${out}`]).toBe(expected.length);
      const got = (await readAll([`${prefix}${out}`])).map((m) => key(JSON.parse(m.value!.toString()))).sort();
      expect(got).toEqual(expected);
    });
  }
});
