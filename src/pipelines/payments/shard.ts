/**
 * payments inside a shard worker (see spec.ts): one pass per batch, per record
 *   invalid → invalid output
 *   else    → balance check against the user's balance (Float64Array of integer cents, indexed by
 *             the interned user id) → a confirmation record and a balance record
 * Nothing is allocated per record; the table grows by doubling when a new user id exceeds it.
 */
import { OUT_INVALID, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import {
  OUT_BALANCE, OUT_CONFIRMATION, STATUS_APPROVED, STATUS_DECLINED_FUNDS, STATUS_DECLINED_LIMIT, type PaymentInputColumns,
} from "./spec.js";

export class PaymentsShard implements ShardProcessor {
  /** Balance in integer cents per interned user id. */
  private balance = new Float64Array(1024);
  /** Users that have a balance entry (touched at least once), for metrics. */
  private users = 0;
  private seen = new Uint8Array(1024);

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const c = columns as unknown as PaymentInputColumns;
    const { paymentId, userId, amount, ts, _off, _reason, _cents } = c;
    for (let i = 0; i < n; i++) {
      const r = _reason[i]!;
      if (r !== 0) {
        out.side(OUT_INVALID, r, userId[i]!, partition, _off[i]!, paymentId[i]!, amount[i]!, ts[i]!, 0, 0, 0);
        continue;
      }
      const u = userId[i]!;
      if (u >= this.balance.length) this.grow(u);
      if (this.seen[u] === 0) { this.seen[u] = 1; this.users++; }
      const before = this.balance[u]!;
      const cents = _cents[i]!;
      const after = before + cents;
      let status = STATUS_APPROVED;
      if (after < 0) status = STATUS_DECLINED_FUNDS;
      else if (after > Number.MAX_SAFE_INTEGER) status = STATUS_DECLINED_LIMIT;
      const applied = status === STATUS_APPROVED ? cents : 0;
      const balance = status === STATUS_APPROVED ? after : before;
      this.balance[u] = balance;
      const p = paymentId[i]!;
      const t = ts[i]!;
      const off = _off[i]!;
      out.side(OUT_CONFIRMATION, status, u, partition, off, p, 0, t, 0, 0, 0);
      out.side(OUT_BALANCE, status, u, partition, off, p, applied, t, balance, 0, 0);
    }
  }

  advance(): void {
    // No windows: every output is final when emitted.
  }

  stateBytes(): number {
    return this.balance.length * 9;
  }

  stateEntries(): number {
    return this.users;
  }

  /** Layout: [users L, balance × L] (cents; untouched users are 0 and stay 0 until touched). */
  snapshot(into: Float64Array): number {
    const L = this.balance.length;
    if (1 + L > into.length) return -1;
    into[0] = L;
    into.set(this.balance, 1);
    return 1 + L;
  }

  restore(from: Float64Array, _words: number): void {
    const L = from[0]!;
    this.balance = from.slice(1, 1 + L);
    this.seen = new Uint8Array(L);
    this.users = 0;
    for (let u = 0; u < L; u++) {
      if (this.balance[u] !== 0) { this.seen[u] = 1; this.users++; }
    }
  }

  private grow(id: number): void {
    let cap = this.balance.length;
    while (cap <= id) cap *= 2;
    const b = new Float64Array(cap); b.set(this.balance);
    const s = new Uint8Array(cap); s.set(this.seen);
    this.balance = b;
    this.seen = s;
  }
}
