/**
 * payments' task state on the changelog (src/pipelines/payments/task-state.ts): balances leave a
 * process by user name and arrive under the other process's ids.
 */
import { describe, expect, it } from "vitest";
import { PaymentsShard } from "../../src/pipelines/payments/shard.js";
import { paymentsTaskState } from "../../src/pipelines/payments/task-state.js";
import { Interner } from "../../src/schema/interner.js";

/** A shard's snapshot with these balances (cents) by user name, ids from `names`. */
function snapshotOf(names: Interner, balances: Array<[string, number]>): Float64Array {
  const L = 4096;
  const words = new Float64Array(1 + L);
  words[0] = L;
  for (const [u, c] of balances) words[1 + names.intern(u)] = c;
  return words;
}

/** The balances of a snapshot by user name. */
function balancesOf(names: Interner, words: Float64Array): Map<string, number> {
  const shard = new PaymentsShard();
  shard.restore(words, words.length);
  const out = new Float64Array(words[0]! + 1);
  shard.snapshot(out);
  const m = new Map<string, number>();
  for (let u = 1; u < out[0]!; u++) if (out[1 + u] !== 0) m.set(names.name(u), out[1 + u]!);
  return m;
}

describe("payments task state", () => {
  it("moves balances to a process whose ids differ, by name; zero balances are dropped; cents stay exact", () => {
    const here = new Interner();
    for (let i = 0; i < 50; i++) here.intern(`pay-${i}`); // other strings first: ids differ from there's
    const balances: Array<[string, number]> = [["user-1", 12_345], ["user-2", 7], ["user-3", Number.MAX_SAFE_INTEGER], ["user-4", 0], ["ü-5", 1]];
    const bytes = paymentsTaskState.encode(snapshotOf(here, balances), here);
    const there = new Interner();
    there.intern("user-3"); // one user known there already, under another id
    const words = paymentsTaskState.decode(bytes, there);
    expect(there.intern("user-3")).toBe(1);
    expect(balancesOf(there, words)).toEqual(new Map([["user-1", 12_345], ["user-2", 7], ["user-3", Number.MAX_SAFE_INTEGER], ["ü-5", 1]]));
  });

  it("grows the table past the largest id it interns", () => {
    const there = new Interner();
    for (let i = 0; i < 3000; i++) there.intern(`x-${i}`);
    const here = new Interner();
    const words = paymentsTaskState.decode(paymentsTaskState.encode(snapshotOf(here, [["late-user", 99]]), here), there);
    expect(words[0]).toBe(4096);
    expect(words[1 + there.intern("late-user")]).toBe(99);
  });

  it("refuses state that is not [userId, cents] pairs", () => {
    const names = new Interner();
    expect(() => paymentsTaskState.decode(Buffer.from('{"a":1}'), names)).toThrow(/not a list/);
    expect(() => paymentsTaskState.decode(Buffer.from('[["u", 1.5]]'), names)).toThrow(/entry 0 is not a \[userId, cents\] pair/);
    expect(() => paymentsTaskState.decode(Buffer.from('[["", 1]]'), names)).toThrow(/entry 0/);
  });
});
