/**
 * payments against a plain reference implementation (test/support/payments-reference.ts): the
 * embedded payment generator with 1, 2 and 4 workers gives exactly the reference's confirmations,
 * balance updates and invalid outputs, in the same order per user; a worker that dies mid-run is
 * replaced from its checkpoint without loss or repeat; and the balance table round-trips through
 * snapshot()/restore().
 */
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { payments } from "../../src/pipelines/payments/edge.js";
import { PaymentsShard } from "../../src/pipelines/payments/shard.js";
import { MemorySink } from "../../src/sinks/sink.js";
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
    const c = new Coordinator({ pipeline: payments, source: new PaymentGeneratorSource(new PaymentGenerator(OPTIONS), total), sink, workers: 2, batchSize: batch, idleTimeoutMs: 1e9 });
    const running = c.run();
    // Crash worker 0 once it has processed work (a loaded machine may start it late).
    const deadline = Date.now() + 60_000;
    while (c.progress().events < total / 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    c.crashWorker(0);
    const summary = await running;
    expect(summary.workerRestarts).toBeGreaterThanOrEqual(1);
    expect(diff(paymentMultiset(sink.outputs as Array<Record<string, unknown>>), paymentMultiset(ref.outputs))).toEqual([]);
    expect(finalBalances(sink.outputs as Array<Record<string, unknown>>)).toEqual(ref.balances);
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
