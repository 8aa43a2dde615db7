/**
 * Seeded payment events (payments pipeline): `users` users (user-<k>), user k on partition
 * k mod partitions, so a user's payments are in order within one partition. Per event: mostly
 * deposits/charges (positive amounts, 0.01–500.00), some refunds (negative amounts, some larger than
 * any likely balance so they are declined), and a few invalid events (empty user id, NaN amount,
 * amount 0, |amount| > 1e9). Payment ids are unique over all partitions (pay-<n>).
 *
 * Ids are generated, not interned: user k has id k + 1, payment n id n + 1 (0 = empty string).
 */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import { paymentEventFromFields } from "../pipelines/payments/edge.js";
import type { PaymentInputColumns } from "../pipelines/payments/spec.js";
import type { Source } from "./source.js";

export interface PaymentGeneratorOptions {
  seed: number;
  users: number;
  partitions: number;
  /** Share of refunds (negative amounts). */
  refundShare: number;
  /** Share of invalid events. */
  invalidShare: number;
  /** Event time of the first event, ms. */
  startTs: number;
}

export const PAYMENT_DEFAULTS: PaymentGeneratorOptions = {
  seed: 42, users: 2000, partitions: 4, refundShare: 0.25, invalidShare: 0.01, startTs: 1_700_000_000_000,
};

/** The columns a generator writes: ids, amount, ts. */
export interface PaymentColumns {
  paymentId: Uint32Array | Float64Array;
  userId: Uint32Array | Float64Array;
  amount: Float64Array;
  ts: Float64Array;
}

export class PaymentGenerator {
  readonly options: PaymentGeneratorOptions;
  readonly partitions: number;
  private readonly state: Uint32Array;
  private readonly seq: Float64Array;
  private readonly ts: Float64Array;

  constructor(options: Partial<PaymentGeneratorOptions> = {}) {
    const o = { ...PAYMENT_DEFAULTS, ...options };
    if (!Number.isInteger(o.users) || o.users < 1) throw new RangeError(`users must be a positive integer, got ${o.users}`);
    if (!Number.isInteger(o.partitions) || o.partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${o.partitions}`);
    if (o.users < o.partitions) throw new RangeError(`users (${o.users}) must be at least partitions (${o.partitions})`);
    this.options = o;
    this.partitions = o.partitions;
    this.state = new Uint32Array(o.partitions);
    for (let p = 0; p < o.partitions; p++) this.state[p] = (Math.imul(o.seed + 1, 0x9e3779b1) ^ Math.imul(p + 1, 0x85ebca6b)) >>> 0 || 1;
    this.seq = new Float64Array(o.partitions);
    this.ts = new Float64Array(o.partitions).fill(o.startTs);
  }

  /** xorshift32 in [0, 1), per partition. */
  private rand(p: number): number {
    let x = this.state[p]!;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.state[p] = x;
    return x / 4294967296;
  }

  /** Writes the next n events of partition p at index `at` of `c`. */
  fill(p: number, c: PaymentColumns, at: number, n: number): void {
    const { users, partitions, refundShare, invalidShare } = this.options;
    const perPartition = Math.floor((users - 1 - p) / partitions) + 1; // users k ≡ p (mod partitions)
    for (let j = at; j < at + n; j++) {
      const k = p + partitions * Math.floor(this.rand(p) * perPartition);
      const n0 = this.seq[p]! * partitions + p;
      this.seq[p] = this.seq[p]! + 1;
      const t = this.ts[p]! + 1 + Math.floor(this.rand(p) * 200);
      this.ts[p] = t;
      let amount: number;
      const r = this.rand(p);
      if (r < refundShare) {
        // Refunds: most small, one in four large enough to overdraw.
        amount = -(this.rand(p) < 0.25 ? 500 + Math.floor(this.rand(p) * 500_000) / 100 : 1 + Math.floor(this.rand(p) * 20_000) / 100);
      } else {
        amount = (1 + Math.floor(this.rand(p) * 50_000)) / 100;
      }
      let user = k + 1;
      const bad = this.rand(p);
      if (bad < invalidShare) {
        const which = Math.floor((bad / invalidShare) * 4);
        if (which === 0) user = 0;
        else if (which === 1) amount = NaN;
        else if (which === 2) amount = 0;
        else amount = 2e9;
      }
      c.paymentId[j] = n0 + 1;
      c.userId[j] = user;
      c.amount[j] = amount;
      c.ts[j] = t;
    }
  }

  userName(id: number): string {
    return id === 0 ? "" : `user-${id - 1}`;
  }

  paymentName(id: number): string {
    return id === 0 ? "" : `pay-${id - 1}`;
  }

  /** Event i of columns as JSON would carry it. */
  toEvent(c: PaymentColumns, i: number): Record<string, unknown> {
    return paymentEventFromFields(this.paymentName(c.paymentId[i]!), this.userName(c.userId[i]!), c.amount[i]!, c.ts[i]!);
  }
}

/** The payment generator as a source: events written straight into ring slots. */
export class PaymentGeneratorSource implements Source {
  readonly partitions: number;
  readonly maxInFlight = Infinity;
  private remaining: number;
  private readonly next: Float64Array;
  private readonly scratch: PaymentColumns = {
    paymentId: new Uint32Array(1), userId: new Uint32Array(1), amount: new Float64Array(1), ts: new Float64Array(1),
  };

  /** `limit`: total events over all partitions (Infinity: unbounded). */
  constructor(readonly generator: PaymentGenerator, limit = Infinity) {
    this.partitions = generator.partitions;
    this.remaining = limit;
    this.next = new Float64Array(generator.partitions);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.remaining);
    if (n <= 0) return 0;
    const c = columns as unknown as PaymentInputColumns;
    this.generator.fill(p, c, 0, n);
    const base = this.next[p]!;
    for (let i = 0; i < n; i++) c._off[i] = base + i;
    this.next[p] = base + n;
    this.remaining -= n;
    return n;
  }

  exhausted(): boolean {
    return this.remaining <= 0;
  }

  event(out: OutputColumns, i: number): unknown {
    const s = this.scratch;
    s.paymentId[0] = out.a[i]!;
    s.userId[0] = out.key[i]!;
    s.amount[0] = out.b[i]!;
    s.ts[0] = out.c[i]!;
    return this.generator.toEvent(s, 0);
  }

  idName(field: string, id: number): string {
    return field === "paymentId" ? this.generator.paymentName(id) : this.generator.userName(id);
  }

  async close(): Promise<void> {}
}
