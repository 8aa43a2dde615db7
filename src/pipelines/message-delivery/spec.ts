/**
 * message-delivery (seed §4, WhatsApp-style delivery): two input streams as one record layout,
 *
 *   incoming-messages {messageId, chatId, senderId, recipientId, content, ts}  (keyed by chatId) → KIND_MESSAGE
 *   presence          {userId, status: "online"|"offline", ts}                (keyed by userId) → KIND_PRESENCE
 *   confirmations     {messageId, chatId, senderId, recipientId, receipt: "delivered"|"read", ts}
 *                     (on incoming-messages, keyed by chatId: the recipient's client confirms)  → KIND_RECEIPT
 *                     → a status DELIVERED or READ with `receipt: true` (the seed's read receipt to
 *                     the sender); passed through, not checked against the messages sent
 *
 * What is decided where:
 *   - the edge (main thread, src/pipelines/message-delivery/edge-state.ts), in arrival order, before
 *     a record enters a ring: the schema checks (invalid side output), sender permission (the
 *     membership rule below), the content checks (≤ 64 KiB UTF-8, banned words), the per-sender
 *     rate limit (per minute of event time) and, for valid messages, the route by the recipient's
 *     presence (online → WebSocket, seen within the hour of event time → push, else store). That
 *     state is keyed by user, not by chat: in a chat-partitioned job Kafka Streams would hold it in a
 *     GlobalKTable (presence) or behind a repartition by sender (rate limit); the edge is this
 *     engine's one global place, so routing does not depend on the worker count.
 *   - the shards (keyed by chat): statuses and the per-recipient channel records, and chat sessions
 *     (30-minute gap of event time, closed by the watermark) in typed arrays by interned chat id.
 *   - the sink edge: content is encrypted (AES-256-GCM, random 12-byte IV per message) when a
 *     channel record becomes an output object; the key never enters a ring or a log.
 *
 * Content and the presence status are never interned: the edge reads them from the event itself.
 */
import { compileLayout, defineSchema, type RecordLayout } from "../../schema/schema.js";

export const PIPELINE = "message-delivery";

export const MESSAGE_EVENT = defineSchema("message-event", {
  messageId: "string",
  chatId: "string",
  senderId: "string",
  recipientId: "string",
  userId: "string",
  ts: "f64",
}, { transient: ["messageId"] }); // a new id per message: not kept beyond its outputs (a stored message keeps its string)

export const KIND_MESSAGE = 1;
export const KIND_PRESENCE = 2;
export const KIND_RECEIPT = 3;

export const MAX_CONTENT_BYTES = 64 * 1024;
export const SESSION_GAP_MS = 30 * 60_000;
export const PUSH_WITHIN_MS = 60 * 60_000;
export const RATE_WINDOW_MS = 60_000;
/** Messages per sender per minute of event time (default of --rate-limit). */
export const DEFAULT_RATE_LIMIT = 12;
/** The spam filter's banned words (whole-word, case-insensitive). */
export const BANNED_WORDS: readonly string[] = ["buy-followers", "free-crypto", "click-here-now"];

/** Output kinds (pipeline-specific records start at OUT_PIPELINE_BASE = 16). */
export const OUT_STATUS = 16;
export const OUT_DELIVER = 17;
export const OUT_PUSH = 18;
export const OUT_STORE = 19;
export const OUT_FORWARD = 20;
export const OUT_SESSION = 21;

/** Delivery status codes (the `code` of a status record). */
export const ST_SENT = 1;
export const ST_DELIVERED = 2;
export const ST_PUSHED = 3;
export const ST_STORED = 4;
export const ST_FAILED = 5;
export const ST_READ = 6;
export const STATUS_NAMES: readonly string[] = ["", "SENT", "DELIVERED", "PUSHED", "STORED", "FAILED", "READ"];
/** The channel record kind of a route status. */
export const ROUTE_KIND: readonly number[] = [0, 0, OUT_DELIVER, OUT_PUSH, OUT_STORE];

/** Reason codes: 1..9 invalid (side output), ≥ 10 a FAILED delivery status. */
export const R_INVALID_MAX = 9;
export const R_NOT_MEMBER = 10;
export const R_TOO_LARGE = 11;
export const R_SPAM = 12;
export const R_RATE = 13;
export const REASONS: readonly string[] = [
  "",
  "messageId must be a non-empty string",
  "chatId must be a non-empty string",
  "senderId must be a non-empty string",
  "recipientId must be a non-empty string",
  "content must be a string",
  "ts must be a finite number",
  "userId must be a non-empty string",
  "status must be \"online\" or \"offline\"",
  "receipt must be \"delivered\" or \"read\"",
  "sender is not a member of the chat",
  `content is larger than ${MAX_CONTENT_BYTES} bytes`,
  "spam filter: banned word",
  "rate limit: too many messages from the sender this minute",
];

export const MESSAGE_SYSTEM_FIELDS = [
  { name: "_off", type: "f64" },
  { name: "_wm", type: "f64" },
  { name: "_reason", type: "u8" },
  { name: "_kind", type: "u8" },
  /** The route status (ST_DELIVERED/PUSHED/STORED) of a valid message; a receipt's status (DELIVERED/READ). */
  { name: "_route", type: "u8" },
  /** Presence online: how many stored messages the user now gets forwarded (0: none). */
  { name: "_fwd", type: "f64" },
] as const;

export function messageInputLayout(capacity: number): RecordLayout {
  return compileLayout([...MESSAGE_EVENT.fields, ...MESSAGE_SYSTEM_FIELDS], capacity);
}

export interface MessageInputColumns {
  messageId: Uint32Array;
  chatId: Uint32Array;
  senderId: Uint32Array;
  recipientId: Uint32Array;
  userId: Uint32Array;
  ts: Float64Array;
  _off: Float64Array;
  _wm: Float64Array;
  _reason: Uint8Array;
  _kind: Uint8Array;
  _route: Uint8Array;
  _fwd: Float64Array;
}

/** A 32-bit mix (murmur3 finaliser) for the membership rule and the generator. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Chat membership: chat `chat-<k>` has 2–5 members `user-<u>`, u = mix(seed, k, j) mod users (the
 * table the generator and loadgen write traffic for). A rule, not a list, so that any chat id of
 * that shape can be checked without a lookup table; other ids have no members.
 */
export class ChatMembership {
  constructor(readonly seed: number, readonly users: number) {}

  size(chat: number): number {
    return 2 + (mix32(chat * 2654435761 + this.seed) % 4);
  }

  member(chat: number, j: number): number {
    return mix32(mix32(chat + 0x9e3779b9 * (this.seed + 1)) + j * 0x27d4eb2f) % this.users;
  }

  isMember(chat: number, user: number): boolean {
    if (chat < 0 || user < 0) return false;
    const m = this.size(chat);
    for (let j = 0; j < m; j++) if (this.member(chat, j) === user) return true;
    return false;
  }

  /** `chat-<k>` → k, else -1. */
  static chatIndex(s: string): number {
    return indexOf(s, "chat-");
  }

  /** `user-<u>` → u, else -1. */
  static userIndex(s: string): number {
    return indexOf(s, "user-");
  }
}

function indexOf(s: string, prefix: string): number {
  if (!s.startsWith(prefix) || s.length === prefix.length || s.length > prefix.length + 9) return -1;
  let v = 0;
  for (let i = prefix.length; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

const BANNED = new RegExp(`(^|[^a-z0-9-])(${BANNED_WORDS.map((w) => w.replace(/[-]/g, "\\-")).join("|")})(?![a-z0-9-])`, "i");

/** The spam filter's word check. */
export function hasBannedWord(content: string): boolean {
  return BANNED.test(content);
}
