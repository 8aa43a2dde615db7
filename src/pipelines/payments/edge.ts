/** payments on the main thread: the edge kernel (validation, cents, watermark) and the output objects. */
import { OUT_INVALID, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import { paymentsTaskState } from "./task-state.js";
import {
  CENTS, OUT_BALANCE, OUT_CONFIRMATION, PAYMENT_EVENT, PAYMENT_REASONS, PIPELINE, STATUS_NAMES, STATUS_REASONS,
  paymentInputLayout, paymentReason, toCents, type PaymentInputColumns,
} from "./spec.js";

/** The event as received, rebuilt from its fields (NaN → null, as JSON would carry it). */
export function paymentEventFromFields(paymentId: string, userId: string, amount: number, ts: number): Record<string, unknown> {
  return { paymentId, userId, amount: Number.isNaN(amount) ? null : amount, ts: Number.isNaN(ts) ? null : ts };
}

export const payments: PipelineDefinition = {
  name: PIPELINE,
  description: "payments: per-user balances in integer cents, a payment approved unless it overdraws; one confirmation and one balance update per payment (exactly-once on Kafka)",
  volatileState: "the balances: after a crash every user's balance starts from zero again, so later payments are decided against the wrong balance; --guarantee exactly-once restores them",
  schema: PAYMENT_EVENT,
  // No windows: results are final when emitted (as driver-eta).
  window: { sizeMs: 1, graceMs: 0 },
  outputs: ["confirmation", "balance", "invalid"],
  processorConfig: {},
  shardKey: "userId",
  // A user's payments are in one partition (the input is keyed by userId): the balances are per
  // partition, so several processes of a group can split the partitions under exactly-once.
  taskState: paymentsTaskState,
  // Confirmations go to --output-topic (the seed's payment-confirmations), balance updates to <topic>.balance.
  outputTopics(outputTopic: string): Readonly<Record<string, string>> {
    return { confirmation: outputTopic, balance: `${outputTopic}.balance` };
  },
  inputLayout: paymentInputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    const c = columns as unknown as PaymentInputColumns;
    const { paymentId, userId, amount, ts, _reason, _cents, _wm } = c;
    let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
    const other = +otherMin;
    for (let i = 0; i < n; i++) {
      const a = amount[i]!;
      const t = ts[i]!;
      const cents = toCents(a);
      _cents[i] = cents;
      const r = paymentReason(paymentId[i]!, userId[i]!, a, t, cents);
      _reason[i] = r;
      if (r === 0 && t > st) st = t;
      _wm[i] = st < other ? st : other;
    }
    return st;
  },

  renderWindow(): Output {
    throw new Error("payments has no windows");
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    return { type: "invalid", reason: PAYMENT_REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
  },

  recordName(kind: number): string {
    return kind === OUT_CONFIRMATION ? "confirmation" : kind === OUT_BALANCE ? "balance" : `kind-${kind}`;
  },

  renderRecord(out: OutputColumns, i: number, name: (field: string, id: number) => string): Output {
    const userId = name("userId", out.key[i]!);
    const paymentId = name("paymentId", out.a[i]!);
    if (out.kind[i] === OUT_CONFIRMATION) {
      const status = out.code[i]!;
      const o: Output = { type: "confirmation", paymentId, userId, status: STATUS_NAMES[status] ?? `status-${status}` };
      if (STATUS_REASONS[status]) o["reason"] = STATUS_REASONS[status];
      o["ts"] = out.c[i]!;
      return o;
    }
    return { type: "balance", paymentId, userId, amount: out.b[i]! / CENTS, balance: out.d[i]! / CENTS };
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const u = out.key[i]!;
    const p = out.a[i]!;
    return paymentEventFromFields(p === 0 ? "" : name(p), u === 0 ? "" : name(u), out.b[i]!, out.c[i]!);
  },

  outputKey(output: Output): string | null {
    if (typeof output["userId"] === "string") return output["userId"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    const id = event?.["userId"];
    return typeof id === "string" && id !== "" ? id : null;
  },

  sideName(kind: number): string {
    return kind === OUT_INVALID ? "invalid" : "unknown";
  },
};
