/**
 * payments (seed §6) written on the DSL: the semantics of the hand-written pipeline
 * (src/pipelines/payments/spec.ts) — validation with the same reasons, per user a balance in
 * integer cents, a payment approved unless it overdraws or passes 2^53 − 1 cents, one confirmation
 * and one balance update per valid payment — as a KTable aggregate per user whose every update is
 * one decision. `riptide run payments-dsl`; this module is what every shard worker imports; topic
 * names take RIPTIDE_TOPIC_PREFIX in front (`--topic-prefix`).
 */
import { Branched, StreamsBuilder } from "../../dsl/builder.js";
import { defineSchema } from "../../schema/schema.js";
import { PAYMENT_REASONS, paymentReason, STATUS_APPROVED, STATUS_DECLINED_FUNDS, STATUS_DECLINED_LIMIT, STATUS_NAMES, STATUS_REASONS, toCents, CENTS } from "../payments/spec.js";

export function topics(prefix = process.env["RIPTIDE_TOPIC_PREFIX"] ?? "") {
  return {
    payments: `${prefix}payment-events`, confirmations: `${prefix}payment-confirmations`,
    balances: `${prefix}balance-updates`, invalid: `${prefix}payment-events.invalid`,
  };
}

/** The payment event of payments/spec.ts, with the payment id carried by value (one per event). */
export const paymentSchema = defineSchema("payment-event", { paymentId: "text", userId: "string", amount: "f64", ts: "f64" });

interface Payment { paymentId: string; userId: string; amount: number; ts: number }
/** A user's balance and the decision on the payment that produced this version of it. */
interface Account { balance: number; paymentId: string; status: number; cents: number; ts: number }

const reasonOf = (p: Payment): number => paymentReason(p.paymentId === "" ? 0 : 1, p.userId === "" ? 0 : 1, p.amount, p.ts, toCents(p.amount));

export default function topology() {
  const t = topics();
  const b = new StreamsBuilder();
  const branches = b.stream<Payment, string>(t.payments, { schema: paymentSchema, key: "userId", timestamp: "ts" })
    .split("payment-")
    .branch((_user, p) => reasonOf(p) !== 0, Branched.as("invalid"))
    .defaultBranch(Branched.as("valid"));
  branches.get("payment-invalid")!
    .mapValues((p) => ({ reason: PAYMENT_REASONS[reasonOf(p)], event: p }))
    .to(t.invalid);
  const decisions = branches.get("payment-valid")!
    .groupByKey()
    .aggregate<Account>(() => ({ balance: 0, paymentId: "", status: 0, cents: 0, ts: 0 }), (_user, p, acc) => {
      const cents = toCents(p.amount);
      const next = acc.balance + cents;
      const status = next < 0 ? STATUS_DECLINED_FUNDS : next > Number.MAX_SAFE_INTEGER ? STATUS_DECLINED_LIMIT : STATUS_APPROVED;
      return { balance: status === STATUS_APPROVED ? next : acc.balance, paymentId: p.paymentId, status, cents, ts: p.ts };
    }, { name: "balances" })
    .toStream();
  decisions
    .mapValues((a, user) => ({
      paymentId: a.paymentId, userId: user, status: STATUS_NAMES[a.status], ts: a.ts,
      ...(STATUS_REASONS[a.status] ? { reason: STATUS_REASONS[a.status] } : {}),
    }))
    .to(t.confirmations);
  decisions
    .mapValues((a, user) => ({ paymentId: a.paymentId, userId: user, amount: a.status === STATUS_APPROVED ? a.cents / CENTS : 0, balance: a.balance / CENTS }))
    .to(t.balances);
  return b.build();
}
