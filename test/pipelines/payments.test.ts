/**
 * payments against a plain reference implementation (test/support/payments-reference.ts): the
 * embedded payment generator with 1, 2 and 4 workers gives exactly the reference's confirmations,
 * balance updates and invalid outputs, in the same order per user; a worker that dies mid-run is
 * replaced from its checkpoint without loss or repeat; and the balance table round-trips through
 * snapshot()/restore().
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { payments } from "../../src/pipelines/payments/edge.js";
import { PaymentsShard } from "../../src/pipelines/payments/shard.js";
import { Interner } from "../../src/schema/interner.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { JsonLinesFileSource } from "../../src/sources/file-source.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { PaymentGenerator, PaymentGeneratorSource, type PaymentColumns, type PaymentGeneratorOptions } from "../../src/sources/payment-generator.js";
import { diff } from "../support/driver-reference.js";
import { finalBalances, paymentMultiset, perUserSequences, referencePayments } from "../support/payments-reference.js";

const OPTIONS: Partial<PaymentGeneratorOptions> = { seed: 7, users: 800, partitions: 4 };

/** Generator events in the order the coordinator reads them (round-robin, `batch` per partition). */
function sourceOrder(options: Partial<PaymentGeneratorOptions>, total: number, batch: number): Array<Record<string, unknown>> {
  const gen = new PaymentGenerator(options);
  const cols: PaymentColumns = { paymentId: new Uint32Array(batch), userId: new Uint32Array(batch), amount: new Float64Array(batch), ts: new Float64Array(batch) };
  const out: Array<Record<string, unknown>> = [];
  let remaining = total;
  for (let p = 0; remaining > 0; p = (p + 1) % gen.partitions) {
    const n = Math.min(batch, remaining);
    gen.fill(p, cols, 0, n);
    for (let i = 0; i < n; i++) out.push(gen.toEvent(cols, i));
    remaining -= n;
  }
  return out;
}

describe("payments", () => {
  it("gives the reference's outputs, in order per user, with 1, 2 and 4 workers", async () => {
    const batch = 500;
    const total = 4 * batch * 30; // whole rounds: each partition's share does not depend on read order
    const events = sourceOrder(OPTIONS, total, batch);
    const ref = referencePayments(events);
    const expected = paymentMultiset(ref.outputs);
    const confirmations = ref.outputs.filter((o) => o["type"] === "confirmation");
    // The data is what the test claims: refunds, declines that overdraw, invalid events of each kind.
    expect(events.filter((e) => (e["amount"] as number) < 0).length).toBeGreaterThan(total * 0.15);
    expect(confirmations.filter((o) => o["status"] === "DECLINED").length).toBeGreaterThan(100);
    expect(confirmations.filter((o) => o["status"] === "APPROVED").length).toBeGreaterThan(total / 2);
    const invalid = ref.outputs.filter((o) => o["type"] === "invalid");
    expect(new Set(invalid.map((o) => o["reason"])).size).toBe(4);
    for (const workers of [1, 2, 4]) {
      const sink = new MemorySink();
      const c = new Coordinator({ pipeline: payments, source: new PaymentGeneratorSource(new PaymentGenerator(OPTIONS), total), sink, workers, batchSize: batch, idleTimeoutMs: 1e9 });
      const summary = await c.run();
      const outputs = sink.outputs as Array<Record<string, unknown>>;
      expect(summary.events).toBe(total);
      expect(summary.outputs).toEqual({ confirmation: confirmations.length, balance: confirmations.length, invalid: invalid.length });
      expect(diff(paymentMultiset(outputs), expected), `workers=${workers}`).toEqual([]);
      expect(perUserSequences(outputs, "confirmation"), `workers=${workers}`).toEqual(perUserSequences(ref.outputs, "confirmation"));
      expect(perUserSequences(outputs, "balance"), `workers=${workers}`).toEqual(perUserSequences(ref.outputs, "balance"));
      expect(finalBalances(outputs)).toEqual(ref.balances);
    }
    const conf = ref.outputs.find((o) => o["type"] === "confirmation" && o["status"] === "DECLINED")!;
    expect(Object.keys(conf)).toEqual(["type", "paymentId", "userId", "status", "reason", "ts"]);
    expect(conf["reason"]).toBe("insufficient funds");
  }, 120_000);

  it("replaces a worker that dies mid-run from its checkpoint: no payment lost or confirmed twice", async () => {
    const batch = 400;
    const total = 4 * batch * 25;
    const ref = referencePayments(sourceOrder(OPTIONS, total, batch));
    const sink = new MemorySink();
    const c = new Coordinator({ pipeline: payments, source: new PaymentGeneratorSource(new PaymentGenerator(OPTIONS), total), sink, workers: 2, batchSize: batch, rate: 20_000, idleTimeoutMs: 1e9 });
    const running = c.run();
    // Crash worker 0 once it has processed (and checkpointed) work (a loaded machine may start it late).
    const deadline = Date.now() + 60_000;
    while ((c.progress().processedByWorker[0] ?? 0) < total / 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    c.crashWorker(0);
    const summary = await running;
    expect(summary.workerRestarts).toBeGreaterThanOrEqual(1);
    expect(diff(paymentMultiset(sink.outputs as Array<Record<string, unknown>>), paymentMultiset(ref.outputs))).toEqual([]);
    expect(finalBalances(sink.outputs as Array<Record<string, unknown>>)).toEqual(ref.balances);
  }, 120_000);

  it("matches the reference on a one-partition file with bad lines, spread over 3 workers by userId", async () => {
    const events = sourceOrder({ ...OPTIONS, seed: 3, partitions: 1 }, 30_000, 1000);
    const junk = [
      "not json at all",
      '{"paymentId": "pay-x1", "userId": "user-1", "amount": "12.50", "ts": 1700000100000}',
      '{"paymentId": "pay-x2", "userId": "user-1", "amount": 0.001, "ts": 1700000100000}',
      '{"paymentId": "", "userId": "user-1", "amount": 5, "ts": 1700000100000}',
      '{"paymentId": "pay-x3", "userId": "user-1", "amount": 5}',
      '{"paymentId": "pay-x4", "userId": "user-2", "amount": -1000000000.01, "ts": 1700000100000}',
      '{"paymentId": "pay-x5", "userId": "user-3", "amount": 12.345, "ts": 1700000100000}',
    ];
    const lines: string[] = [];
    const parsed: Array<Record<string, unknown>> = [];
    const notJson: Array<Record<string, unknown>> = [];
    events.forEach((e, i) => {
      if (i % 4000 === 2000 && junk.length > 0) {
        const text = junk.shift()!;
        lines.push(text);
        try {
          parsed.push(JSON.parse(text) as Record<string, unknown>);
        } catch (err) {
          notJson.push({ type: "invalid", reason: `not valid JSON: ${(err as Error).message}`, event: text });
        }
      }
      lines.push(JSON.stringify(e));
      parsed.push(e);
    });
    const dir = mkdtempSync(join(tmpdir(), "riptide-payments-"));
    const file = join(dir, "payments.jsonl");
    writeFileSync(file, lines.join("\n") + "\n");
    const ref = referencePayments(parsed);
    const interner = new Interner();
    let coordinator: Coordinator | undefined;
    const source = new JsonLinesFileSource(file, compileJsonDecoder(payments.schema, interner),
      (p, off, raw, reason) => coordinator!.reject(p, off, raw, reason), undefined, { names: (id) => interner.name(id) });
    const sink = new MemorySink();
    coordinator = new Coordinator({ pipeline: payments, source, sink, workers: 3, batchSize: 500, idleTimeoutMs: 1e9 });
    await coordinator.run();
    const outputs = sink.outputs as Array<Record<string, unknown>>;
    expect(coordinator.progress().processedByWorker.filter((x) => x > 0)).toHaveLength(3);
    expect(diff(paymentMultiset(outputs), paymentMultiset([...ref.outputs, ...notJson]))).toEqual([]);
    expect(perUserSequences(outputs, "balance")).toEqual(perUserSequences(ref.outputs, "balance"));
    // 12.345 rounds half away from zero to 12.35; "12.50" (a string) is not a number.
    expect(outputs.find((o) => o["paymentId"] === "pay-x5" && o["type"] === "balance")?.["amount"]).toBe(12.35);
    expect(outputs.filter((o) => o["type"] === "invalid").map((o) => o["reason"])).toEqual(expect.arrayContaining([
      "amount must be a finite number", "amount must not be 0 (at cent precision)", "paymentId must be a non-empty string",
      "ts must be a finite number", "|amount| must be at most 1000000000",
    ]));
  }, 120_000);

  it("snapshot()/restore() carry the balances exactly (a restored shard continues where the first stood)", () => {
    const a = new PaymentsShard();
    const words = new Float64Array(1 << 16);
    // Balances through the shard's own table: ids 1..3000 (grows past the initial 1024).
    const b = a as unknown as { balance: Float64Array };
    expect(a.snapshot(words)).toBe(1 + b.balance.length);
    const fresh = new PaymentsShard();
    const written = (() => {
      const big = new PaymentsShard() as unknown as { balance: Float64Array; grow(id: number): void };
      big.grow(3000);
      for (let u = 1; u <= 3000; u++) big.balance[u] = u * 101 + (u % 7 === 0 ? 2 ** 52 : 0);
      return (big as unknown as PaymentsShard).snapshot(words);
    })();
    expect(written).toBeGreaterThan(3000);
    fresh.restore(words, written);
    const r = fresh as unknown as { balance: Float64Array };
    for (let u = 1; u <= 3000; u++) expect(r.balance[u]).toBe(u * 101 + (u % 7 === 0 ? 2 ** 52 : 0));
    expect(fresh.stateEntries()).toBe(3000);
    expect(new PaymentsShard().snapshot(new Float64Array(10))).toBe(-1); // does not fit: no checkpoint
  });
});
