/**
 * chat-sessions (seed "Session Windows": WhatsApp conversation tracking) on the DSL: messages
 * arrive keyed by sender and are grouped by chat — each message moves to the shard that owns its
 * chat (repartitioning) — into session windows with a 30-minute inactivity gap (1 minute of
 * grace); sessions that a message bridges merge (the merger adds them up). A session is emitted
 * when it closes: its message count, bytes, and first and last message times. This module is what
 * every shard worker imports; topic names take RIPTIDE_TOPIC_PREFIX in front.
 */
import { StreamsBuilder } from "../../dsl/builder.js";
import { SessionWindows } from "../../dsl/windows.js";
import { messageSchema } from "./message-enrichment.js";

export const GAP_MS = 30 * 60_000;
export const GRACE_MS = 60_000;

export function topics(prefix = process.env["RIPTIDE_TOPIC_PREFIX"] ?? "") {
  return { messages: `${prefix}messages`, sessions: `${prefix}chat-sessions` };
}

interface Msg { messageId: string; chatId: string; senderId: string; bytes: number; ts: number }
export interface ChatSession { messages: number; bytes: number; firstAt: number; lastAt: number }

export default function topology() {
  const t = topics();
  const b = new StreamsBuilder();
  b.stream<Msg, string>(t.messages, { schema: messageSchema, key: "senderId", timestamp: "ts" })
    .groupBy((_sender, m) => m.chatId, "by-chat")
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(GAP_MS, GRACE_MS))
    .aggregate<ChatSession>(
      () => ({ messages: 0, bytes: 0, firstAt: 0, lastAt: 0 }),
      (_chat, m, s) => ({
        messages: s.messages + 1, bytes: s.bytes + m.bytes,
        firstAt: s.messages === 0 ? m.ts : Math.min(s.firstAt, m.ts), lastAt: s.messages === 0 ? m.ts : Math.max(s.lastAt, m.ts),
      }),
      // As in Kafka Streams, a record's new session starts from the initializer's empty aggregate, merged with the ones it bridges.
      (_chat, a, c) => (a.messages === 0 ? c : c.messages === 0 ? a
        : { messages: a.messages + c.messages, bytes: a.bytes + c.bytes, firstAt: Math.min(a.firstAt, c.firstAt), lastAt: Math.max(a.lastAt, c.lastAt) }),
      { name: "chat-sessions-store", late: `${t.sessions}.late` },
    )
    .toStream()
    .to(t.sessions);
  return b.build();
}
