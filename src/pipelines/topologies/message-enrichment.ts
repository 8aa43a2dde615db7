/**
 * message-enrichment (seed §7) on the DSL: messages (keyed by sender) joined with the user-profiles
 * table (keyed by user id, co-partitioned with the messages), to enriched-messages; a message whose
 * sender has no profile is dropped, as Kafka Streams' inner stream-table join does. This module is
 * what every shard worker imports; topic names take RIPTIDE_TOPIC_PREFIX in front (`--topic-prefix`).
 */
import { StreamsBuilder } from "../../dsl/builder.js";
import { defineSchema } from "../../schema/schema.js";

// Ids and names with a value per message or user are `text` (carried by value, any number of
// them); the sender, the key, and the country are interned.
export const messageSchema = defineSchema("message", { messageId: "text", chatId: "text", senderId: "string", bytes: "u32", ts: "f64" });
export const profileSchema = defineSchema("user-profile", { userId: "string", name: "text", country: "string", premium: "u8" });

export function topics(prefix = process.env["RIPTIDE_TOPIC_PREFIX"] ?? "") {
  return { messages: `${prefix}messages`, profiles: `${prefix}user-profiles`, enriched: `${prefix}enriched-messages` };
}

interface Msg { messageId: string; chatId: string; senderId: string; bytes: number; ts: number }
interface Profile { userId: string; name: string; country: string; premium: number }

export default function topology() {
  const t = topics();
  const b = new StreamsBuilder();
  const profiles = b.table<Profile, string>(t.profiles, { schema: profileSchema, key: "userId", name: "user-profiles-store" });
  b.stream<Msg, string>(t.messages, { schema: messageSchema, key: "senderId", timestamp: "ts" })
    .join(profiles, (m: Msg, p: Profile) => ({
      messageId: m.messageId, chatId: m.chatId, senderId: m.senderId, bytes: m.bytes, sentAt: m.ts,
      sender: { name: p.name, country: p.country, premium: p.premium === 1 },
    }), "enrich-with-profile")
    .to(t.enriched);
  return b.build();
}
