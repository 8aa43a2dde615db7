/**
 * Seeded chat traffic (message-delivery): messages and presence events in `partitions` partitions.
 * Chat k (`chat-<k>`) lives on partition k mod partitions, so its messages stay in order; its
 * members are the ChatMembership rule's (2–5 of `users` users, `user-<u>`). In each 40-minute
 * stretch of event time three of a partition's chats are active (one of them busy, sometimes with
 * one chatty member sending everything), so chats fall silent for longer
 * than the 30-minute session gap. Per record: one in eight is a presence event (user u on partition
 * u mod partitions, online or offline; a few with an unknown status); messages come from a member
 * (one in 40 from a non-member) to another member, with some spam (a banned word), some oversized
 * (> 64 KiB) and a few invalid (empty recipient); one in eight is a confirmation (delivered or
 * read) from the recipient of an earlier message of the partition.
 *
 * Every event is a pure function of (seed, partition, offset), so a side output or an encrypted
 * channel record gets its content back from its (partition, offset) without the source keeping it.
 * Ids are generated, not interned: message (p, off) is id off·partitions + p + 1, chat k id k + 1,
 * user u id u + 1 (0 = empty string).
 */
import { ChatMembership, MAX_CONTENT_BYTES, mix32, type MessageInputColumns } from "../pipelines/message-delivery/spec.js";
import { MessageEdge, PRESENCE_OFFLINE, PRESENCE_ONLINE, PRESENCE_UNKNOWN, RECEIPT_DELIVERED, RECEIPT_READ, utf8Bytes } from "../pipelines/message-delivery/edge-state.js";
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { Source } from "./source.js";

export interface MessageGeneratorOptions {
  seed: number;
  users: number;
  chats: number;
  partitions: number;
  /** Event time of offset 0, ms. */
  startTs: number;
  /** Event time between two records of a partition, ms. */
  stepMs: number;
  /** Messages per sender per minute before the rate limit (the edge's). */
  rateLimit: number;
}

export const MESSAGE_DEFAULTS: MessageGeneratorOptions = {
  seed: 42, users: 1000, chats: 400, partitions: 4, startTs: 1_700_000_000_000, stepMs: 1000, rateLimit: 12,
};

const PERIOD_MS = 40 * 60_000;
/** The active chat a message goes to: the first of three gets half of the partition's messages. */
const PICK = [0, 0, 1, 2];
const WORDS = ["hi", "see", "you", "at", "the", "station", "tonight", "café", "lunch", "ok", "👋", "thanks", "running", "late", "where", "are", "we", "meeting"];
const WORD_BYTES = WORDS.map(utf8Bytes);
export const SPAM_TEXT = "free followers today buy-followers now";

/** One generated event, decoded (the generator's own view). */
export interface GeneratedEvent {
  kind: "message" | "presence" | "receipt";
  messageId: number; chat: number; sender: number; recipient: number; user: number;
  status: number; ts: number;
  /** Content class: 0 words, 1 spam, 2 oversized. */
  contentClass: number; words: number; seed: number;
}

export class MessageGenerator {
  readonly options: MessageGeneratorOptions;
  readonly membership: ChatMembership;
  private readonly e: GeneratedEvent = {
    kind: "message", messageId: 0, chat: 0, sender: 0, recipient: 0, user: 0, status: 0, ts: 0, contentClass: 0, words: 0, seed: 0,
  };

  constructor(options: Partial<MessageGeneratorOptions> = {}) {
    const o = { ...MESSAGE_DEFAULTS, ...options };
    for (const k of ["users", "chats", "partitions"] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k} must be a positive integer, got ${o[k]}`);
    }
    if (o.chats < o.partitions) throw new RangeError(`chats (${o.chats}) must be at least partitions (${o.partitions})`);
    if (o.users < o.partitions) throw new RangeError(`users (${o.users}) must be at least partitions (${o.partitions})`);
    this.options = o;
    this.membership = new ChatMembership(o.seed, o.users);
  }

  get partitions(): number {
    return this.options.partitions;
  }

  private hash0(p: number, off: number): number {
    return mix32(mix32(this.options.seed * 7919 + p * 104729 + 1) ^ mix32(off + 0x632be5ab));
  }

  /** Record `off` of partition p (the returned object is reused by the next call). */
  at(p: number, off: number): GeneratedEvent {
    const { users, partitions: P, startTs, stepMs } = this.options;
    const e = this.e;
    const h0 = this.hash0(p, off);
    const h1 = mix32(h0 + 1), h2 = mix32(h0 + 2);
    e.ts = startTs + off * stepMs + p;
    e.messageId = 0; e.chat = -1; e.sender = -1; e.recipient = -1; e.user = -1; e.status = 0; e.contentClass = 0; e.words = 0; e.seed = 0;
    if (h0 % 8 === 1) {
      // A confirmation from the recipient of an earlier message of this partition (delivered or
      // read; one in 97 with an unknown receipt).
      for (let back = off - 1 - (h1 % 20), k = 0; back >= 0 && k < 40; back--, k++) {
        const hb = this.hash0(p, back);
        if (hb % 8 < 2) continue;
        this.message(p, back, hb);
        e.kind = "receipt";
        e.status = h2 % 97 === 5 ? 0 : h2 % 3 === 0 ? RECEIPT_DELIVERED : RECEIPT_READ;
        e.contentClass = 0; e.words = 0; e.seed = 0;
        return e;
      }
    }
    if (h0 % 8 === 0) {
      e.kind = "presence";
      const perPartition = Math.floor((users - 1 - p) / P) + 1;
      e.user = p + P * (h1 % perPartition);
      e.status = h1 % 61 === 0 ? PRESENCE_UNKNOWN : (h2 & 1) === 1 ? PRESENCE_ONLINE : PRESENCE_OFFLINE;
      return e;
    }
    this.message(p, off, h0);
    return e;
  }

  /** The message fields of record `off` of partition p (hash h0) into the shared event. */
  private message(p: number, off: number, h0: number): void {
    const { seed, users, chats, partitions: P, stepMs } = this.options;
    const e = this.e;
    const h1 = mix32(h0 + 1), h2 = mix32(h0 + 2), h3 = mix32(h0 + 3), h4 = mix32(h0 + 4);
    e.seed = h4;
    e.kind = "message";
    e.messageId = off * P + p + 1;
    const period = Math.floor((off * stepMs) / PERIOD_MS);
    const chatsHere = Math.floor((chats - 1 - p) / P) + 1;
    e.chat = p + P * (mix32(mix32(seed + period * 31 + p * 131) + PICK[h1 % 4]!) % chatsHere);
    const m = this.membership.size(e.chat);
    // In one stretch of four a chat has a chatty member who sends everything (the rate limit's case).
    const j = mix32(e.chat * 977 + period * 7 + seed) % 4 === 0 ? 0 : h2 % m;
    e.sender = h3 % 40 === 0 ? h3 % users : this.membership.member(e.chat, j);
    e.recipient = h0 % 499 === 7 ? -1 : this.membership.member(e.chat, (j + 1) % m);
    const c = h4 % 100;
    e.contentClass = c === 0 ? 2 : c <= 2 ? 1 : 0;
    e.words = 1 + (h4 >>> 8) % 12;
  }

  /** UTF-8 bytes of the content of the last at() (without building it). */
  contentBytes(e: GeneratedEvent): number {
    if (e.contentClass === 2) return MAX_CONTENT_BYTES + 1 + (e.seed % 1000);
    if (e.contentClass === 1) return SPAM_TEXT.length;
    let n = e.words - 1;
    for (let w = 0; w < e.words; w++) n += WORD_BYTES[mix32(e.seed + w) % WORDS.length]!;
    return n;
  }

  content(e: GeneratedEvent): string {
    if (e.contentClass === 2) return "x".repeat(MAX_CONTENT_BYTES + 1 + (e.seed % 1000));
    if (e.contentClass === 1) return SPAM_TEXT;
    const parts: string[] = [];
    for (let w = 0; w < e.words; w++) parts.push(WORDS[mix32(e.seed + w) % WORDS.length]!);
    return parts.join(" ");
  }

  /** Event (p, off) as JSON would carry it (loadgen writes these). */
  event(p: number, off: number): Record<string, unknown> {
    const e = this.at(p, off);
    if (e.kind === "presence") {
      return { userId: userName(e.user + 1), status: e.status === PRESENCE_ONLINE ? "online" : e.status === PRESENCE_OFFLINE ? "offline" : "away", ts: e.ts };
    }
    if (e.kind === "receipt") {
      return {
        messageId: messageName(e.messageId), chatId: chatName(e.chat + 1), senderId: userName(e.sender + 1), recipientId: userName(e.recipient + 1),
        receipt: e.status === RECEIPT_DELIVERED ? "delivered" : e.status === RECEIPT_READ ? "read" : "seen", ts: e.ts,
      };
    }
    return {
      messageId: messageName(e.messageId), chatId: chatName(e.chat + 1), senderId: userName(e.sender + 1),
      recipientId: userName(e.recipient + 1), content: this.content(e), ts: e.ts,
    };
  }
}

export function userName(id: number): string {
  return id === 0 ? "" : `user-${id - 1}`;
}
export function chatName(id: number): string {
  return id === 0 ? "" : `chat-${id - 1}`;
}
export function messageName(id: number): string {
  return id === 0 ? "" : `msg-${id - 1}`;
}

/** The generator as a source: records written straight into ring slots, annotated by the edge. */
export class MessageGeneratorSource implements Source {
  readonly partitions: number;
  readonly maxInFlight = Infinity;
  readonly edge: MessageEdge;
  private remaining: number;
  private readonly next: Float64Array;

  /** `limit`: total events over all partitions (Infinity: unbounded). */
  constructor(readonly generator: MessageGenerator, limit = Infinity) {
    this.partitions = generator.partitions;
    this.remaining = limit;
    this.next = new Float64Array(generator.partitions);
    this.edge = new MessageEdge({
      membership: generator.membership, rateLimit: generator.options.rateLimit, messageName,
    });
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.remaining);
    if (n <= 0) return 0;
    const c = columns as unknown as MessageInputColumns;
    const base = this.next[p]!;
    for (let i = 0; i < n; i++) {
      const e = this.generator.at(p, base + i);
      c._off[i] = base + i;
      c.ts[i] = e.ts;
      c.messageId[i] = e.messageId;
      c.chatId[i] = e.chat + 1;
      c.senderId[i] = e.sender + 1;
      c.recipientId[i] = e.recipient + 1;
      c.userId[i] = e.user + 1;
      if (e.kind === "presence") this.edge.annotatePresence(c, i, e.status, p);
      else if (e.kind === "receipt") this.edge.annotateReceipt(c, i, e.status);
      else this.edge.annotateMessage(c, i, e.chat, e.sender, this.generator.contentBytes(e), e.contentClass === 1);
    }
    this.next[p] = base + n;
    this.remaining -= n;
    return n;
  }

  exhausted(): boolean {
    return this.remaining <= 0;
  }

  event(out: OutputColumns, i: number): unknown {
    return this.generator.event(out.part[i]!, out.off[i]!);
  }

  idName(field: string, id: number): string {
    if (field === "messageId") return messageName(id);
    if (field === "chatId") return chatName(id);
    return userName(id);
  }

  async close(): Promise<void> {}
}
