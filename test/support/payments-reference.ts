/**
 * The payments pipeline written plainly (objects, a Map of balances) from the semantics in
 * src/pipelines/payments/spec.ts, to check the engine against. Events in input order (only the
 * order within a user matters); outputs in the same order.
 */
export type PaymentOutput = Record<string, unknown>;

function nonEmpty(v: unknown): v is string {
  return typeof v === "string" && v !== "";
}

function num(v: unknown): number {
  return typeof v === "number" ? v : NaN;
}

export function referencePayments(events: ReadonlyArray<Record<string, unknown>>): { outputs: PaymentOutput[]; balances: Map<string, number> } {
  const cents = new Map<string, number>();
  const outputs: PaymentOutput[] = [];
  for (const e of events) {
    const amount = num(e["amount"]);
    const ts = num(e["ts"]);
    const c = Math.sign(amount) * Math.round(Math.abs(amount) * 100);
    let reason: string | undefined;
    if (!nonEmpty(e["paymentId"])) reason = "paymentId must be a non-empty string";
    else if (!nonEmpty(e["userId"])) reason = "userId must be a non-empty string";
    else if (!Number.isFinite(amount)) reason = "amount must be a finite number";
    else if (!Number.isFinite(ts)) reason = "ts must be a finite number";
    else if (c === 0) reason = "amount must not be 0 (at cent precision)";
    else if (Math.abs(amount) > 1e9) reason = "|amount| must be at most 1000000000";
    if (reason !== undefined) {
      outputs.push({ type: "invalid", reason, event: e });
      continue;
    }
    const paymentId = e["paymentId"] as string;
    const userId = e["userId"] as string;
    const before = cents.get(userId) ?? 0;
    const after = before + c;
    const declined = after < 0 ? "insufficient funds" : after > Number.MAX_SAFE_INTEGER ? "balance limit" : undefined;
    const balance = declined ? before : after;
    cents.set(userId, balance);
    outputs.push(declined
      ? { type: "confirmation", paymentId, userId, status: "DECLINED", reason: declined, ts }
      : { type: "confirmation", paymentId, userId, status: "APPROVED", ts });
    outputs.push({ type: "balance", paymentId, userId, amount: declined ? 0 : c / 100, balance: balance / 100 });
  }
  const balances = new Map<string, number>();
  for (const [u, b] of cents) balances.set(u, b / 100);
  return { outputs, balances };
}

/** Canonical string of an output (key order independent). */
export function canonicalPayment(o: PaymentOutput): string {
  if (o["type"] === "invalid") return `invalid|${o["reason"]}|${JSON.stringify(o["event"])}`;
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export function paymentMultiset(outputs: ReadonlyArray<PaymentOutput>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) m.set(canonicalPayment(o), (m.get(canonicalPayment(o)) ?? 0) + 1);
  return m;
}

/** Per user, the sequence of confirmation and balance outputs (ids and figures), in output order. */
export function perUserSequences(outputs: ReadonlyArray<PaymentOutput>, type: "confirmation" | "balance"): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const o of outputs) {
    if (o["type"] !== type) continue;
    const u = o["userId"] as string;
    let l = m.get(u);
    if (!l) m.set(u, (l = []));
    l.push(canonicalPayment(o));
  }
  return m;
}

/** Each user's balance after its last balance update. */
export function finalBalances(outputs: ReadonlyArray<PaymentOutput>): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) if (o["type"] === "balance") m.set(o["userId"] as string, o["balance"] as number);
  return m;
}
