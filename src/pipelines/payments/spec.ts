/**
 * payments (seed §6, "Exactly-Once Processing"): per user, a balance held exactly in integer cents;
 * each payment is approved unless it would make the balance negative.
 *
 *   payment-events {paymentId, userId, amount, ts}   (amount in currency units; < 0 = refund/debit)
 *     → validate at the edge (invalid output with the reason): ids non-empty strings, amount and ts
 *       finite, amount ≠ 0 at cent precision, |amount| ≤ 1e9; cents = round(amount · 100)
 *     → per user (key = userId; per-key order kept):
 *         balance + cents < 0                → DECLINED "insufficient funds", balance unchanged
 *         balance + cents > 2^53 − 1 cents   → DECLINED "balance limit", balance unchanged
 *         otherwise                          → APPROVED, balance += cents
 *     → one confirmation {type:"confirmation", paymentId, userId, status, reason?, ts} (the output
 *       topic) and one balance update {type:"balance", paymentId, userId, amount, balance}
 *       (`<output-topic>.balance`; declined: amount 0) per valid payment, both keyed by userId
 *
 * Balances live in a Float64Array indexed by the interned user id (integers < 2^53: exact), so a
 * shard allocates nothing per event; snapshot()/restore() carry the table, which is what
 * `--guarantee exactly-once` commits to the changelog with the outputs and offsets.
 */
import { compileLayout, defineSchema, type RecordLayout } from "../../schema/schema.js";

export const PIPELINE = "payments";
export const MAX_ABS_AMOUNT = 1e9;
export const CENTS = 100;

/** Output kinds of this pipeline (pipeline-specific kinds start at OUT_PIPELINE_BASE). */
export const OUT_CONFIRMATION = 16;
export const OUT_BALANCE = 17;

/** Confirmation status codes (the `code` of a confirmation record). */
export const STATUS_APPROVED = 1;
export const STATUS_DECLINED_FUNDS = 2;
export const STATUS_DECLINED_LIMIT = 3;

export const PAYMENT_EVENT = defineSchema("payment-event", {
  paymentId: "string",
  userId: "string",
  amount: "f64",
  ts: "f64",
}, { transient: ["paymentId"] }); // a new id per payment: not kept beyond its outputs

export const PAYMENT_SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
  /** The amount in integer cents (valid records). */
  { name: "_cents", type: "f64" },
] as const;

export function paymentInputLayout(capacity: number): RecordLayout {
  return compileLayout([...PAYMENT_EVENT.fields, ...PAYMENT_SYSTEM_FIELDS], capacity);
}

export interface PaymentInputColumns {
  paymentId: Uint32Array;
  userId: Uint32Array;
  amount: Float64Array;
  ts: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
  _cents: Float64Array;
}

export const PAYMENT_REASONS: readonly string[] = [
  "",
  "paymentId must be a non-empty string",
  "userId must be a non-empty string",
  "amount must be a finite number",
  "ts must be a finite number",
  "amount must not be 0 (at cent precision)",
  `|amount| must be at most ${MAX_ABS_AMOUNT}`,
];

/** Reason code of one event (0 = valid); `cents` is round(amount · 100). */
export function paymentReason(paymentId: number, userId: number, amount: number, ts: number, cents: number): number {
  if (paymentId === 0) return 1;
  if (userId === 0) return 2;
  if (amount - amount !== 0) return 3;
  if (ts - ts !== 0) return 4;
  if (cents === 0) return 5;
  if (amount > MAX_ABS_AMOUNT || amount < -MAX_ABS_AMOUNT) return 6;
  return 0;
}

/** Integer cents of an amount in currency units (half away from zero, as a cashier rounds). */
export function toCents(amount: number): number {
  const c = Math.round(Math.abs(amount) * CENTS);
  return amount < 0 ? -c : c;
}

export const STATUS_NAMES: readonly string[] = ["", "APPROVED", "DECLINED", "DECLINED"];
export const STATUS_REASONS: readonly string[] = ["", "", "insufficient funds", "balance limit"];
