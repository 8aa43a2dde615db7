/**
 * message-delivery as a plain program over the events in arrival order (maps and objects, no
 * engine): validation (schema, membership, size, banned words, per-sender rate per minute of event
 * time), routing by presence, statuses, forwards and 30-minute chat sessions. Channel records carry
 * no ciphertext here (the test checks encryption separately).
 */
import { ChatMembership } from "../../src/pipelines/message-delivery/spec.js";

type Ev = Record<string, unknown>;
const BANNED = ["buy-followers", "free-crypto", "click-here-now"];
const GAP = 30 * 60_000;
const HOUR = 60 * 60_000;

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

export function referenceMessages(events: readonly Ev[], membership: ChatMembership, rateLimit: number): Ev[] {
  const out: Ev[] = [];
  const online = new Map<string, boolean>();
  const lastSeen = new Map<string, number>();
  const pending = new Map<string, Ev[]>();
  const rate = new Map<string, { minute: number; count: number }>();
  const sessions = new Map<string, { start: number; end: number; messages: number }>();
  const invalid = (reason: string, event: Ev): void => { out.push({ type: "invalid", reason, event }); };
  for (const e of events) {
    if (!("messageId" in e)) {
      const status = e["status"];
      if (!nonEmpty(e["userId"])) { invalid("userId must be a non-empty string", e); continue; }
      if (status !== "online" && status !== "offline") { invalid("status must be \"online\" or \"offline\"", e); continue; }
      if (!finite(e["ts"])) { invalid("ts must be a finite number", e); continue; }
      const u = e["userId"];
      online.set(u, status === "online");
      lastSeen.set(u, e["ts"]);
      const stored = pending.get(u) ?? [];
      if (status === "online" && stored.length > 0) {
        // Coming online delivers what was stored for the user: a DELIVERED status each, then the forward.
        for (const m of stored) out.push({ type: "status", ...m, recipientId: u, status: "DELIVERED", forwarded: true, ts: e["ts"] });
        out.push({ type: "forward", userId: u, messages: stored.length, ts: e["ts"] });
        pending.set(u, []);
      }
      continue;
    }
    const { messageId, chatId, senderId, recipientId, content, ts } = e;
    if (!nonEmpty(messageId)) { invalid("messageId must be a non-empty string", e); continue; }
    if (!nonEmpty(chatId)) { invalid("chatId must be a non-empty string", e); continue; }
    if (!nonEmpty(senderId)) { invalid("senderId must be a non-empty string", e); continue; }
    if (!nonEmpty(recipientId)) { invalid("recipientId must be a non-empty string", e); continue; }
    if ("receipt" in e) {
      // A confirmation from the recipient: passed through as a DELIVERED or READ status.
      const r = e["receipt"];
      if (r !== "delivered" && r !== "read") { invalid("receipt must be \"delivered\" or \"read\"", e); continue; }
      if (!finite(ts)) { invalid("ts must be a finite number", e); continue; }
      out.push({ type: "status", messageId, chatId, senderId, recipientId, status: r === "read" ? "READ" : "DELIVERED", receipt: true, ts });
      continue;
    }
    if (typeof content !== "string") { invalid("content must be a string", e); continue; }
    if (!finite(ts)) { invalid("ts must be a finite number", e); continue; }
    const base = { messageId, chatId, senderId, recipientId };
    const chat = /^chat-(\d+)$/.exec(chatId);
    const sender = /^user-(\d+)$/.exec(senderId);
    let reason: string | undefined;
    if (!chat || !sender || !membership.isMember(Number(chat[1]), Number(sender[1]))) reason = "sender is not a member of the chat";
    else if (Buffer.byteLength(content, "utf8") > 65536) reason = "content is larger than 65536 bytes";
    else if (content.toLowerCase().split(/\s+/).some((w) => BANNED.includes(w))) reason = "spam filter: banned word";
    else {
      const minute = Math.floor(ts / 60_000);
      const r = rate.get(senderId);
      if (!r || r.minute !== minute) rate.set(senderId, { minute, count: 1 });
      else r.count++;
      if (rate.get(senderId)!.count > rateLimit) reason = "rate limit: too many messages from the sender this minute";
    }
    if (reason) { out.push({ type: "status", ...base, status: "FAILED", reason, ts }); continue; }
    // Session of the chat (arrival order within a chat is its event-time order here).
    const s = sessions.get(chatId);
    if (s && ts - s.end < GAP) { s.end = Math.max(s.end, ts); s.messages++; }
    else {
      if (s) out.push({ type: "session", chatId, ...s });
      sessions.set(chatId, { start: ts, end: ts, messages: 1 });
    }
    let status: string, channel: string;
    const seen = lastSeen.get(recipientId);
    if (online.get(recipientId)) { status = "DELIVERED"; channel = "delivery"; }
    else if (seen !== undefined && ts - seen < HOUR) { status = "PUSHED"; channel = "push"; }
    else {
      status = "STORED"; channel = "stored";
      pending.set(recipientId, [...(pending.get(recipientId) ?? []), { messageId, chatId, senderId }]);
    }
    out.push({ type: "status", ...base, status: "SENT", ts });
    out.push({ type: "status", ...base, status, ts });
    out.push({ type: channel, ...base, ts });
  }
  for (const [chatId, s] of sessions) out.push({ type: "session", chatId, ...s });
  return out;
}

/** Channel records: the encrypted message to the recipient's WebSocket, push topic or Redis store. */
export const CHANNELS = new Set(["delivery", "push", "stored"]);

/** Outputs as a multiset of JSON lines (channel records without their iv, ciphertext and tag). */
export function messageMultiset(outputs: readonly Ev[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of outputs) {
    let line: string;
    if (!CHANNELS.has(o["type"] as string)) line = JSON.stringify(o);
    else {
      const { iv: _iv, ciphertext: _c, tag: _t, ...rest } = o;
      line = JSON.stringify(rest);
    }
    m.set(line, (m.get(line) ?? 0) + 1);
  }
  return m;
}
