/**
 * message-delivery's edge state (main thread, in arrival order; see spec.ts for why it lives here):
 * validation, the per-sender rate limit, presence per user and the route of each valid message.
 * Typed arrays indexed by interned user id; nothing is allocated per record.
 *
 * Sources call annotateMessage/annotatePresence for each record they write into a ring slot (the
 * embedded generator directly, Kafka through MessageEdgeSource with the parsed event).
 */
import {
  ChatMembership, DEFAULT_RATE_LIMIT, KIND_MESSAGE, KIND_PRESENCE, KIND_RECEIPT, ST_READ, MAX_CONTENT_BYTES, PUSH_WITHIN_MS, R_NOT_MEMBER, R_RATE, R_SPAM,
  R_TOO_LARGE, RATE_WINDOW_MS, ST_DELIVERED, ST_PUSHED, ST_STORED, type MessageInputColumns,
} from "./spec.js";

export const PRESENCE_UNKNOWN = 0;
export const PRESENCE_ONLINE = 1;
export const PRESENCE_OFFLINE = 2;
export const RECEIPT_DELIVERED = 1;
export const RECEIPT_READ = 2;
/** Forward lists kept for rendering at most (forwards are rare: one per user coming online with stored messages). */
const FORWARDS_KEPT = 1 << 16;

export interface MessageEdgeOptions {
  membership: ChatMembership;
  /**
   * The string of a message id: a stored message keeps it, since a transient id (the Kafka
   * source's) names its string only while the message is in flight, and a message can wait for
   * its recipient far longer.
   */
  messageName: (id: number) => string;
  /** Messages per sender per minute of event time. */
  rateLimit?: number;
}

export class MessageEdge {
  readonly membership: ChatMembership;
  readonly rateLimit: number;
  private online = new Uint8Array(1024);
  /** Event time of the user's last presence event (NaN: never seen). */
  private lastSeen = new Float64Array(1024).fill(NaN);
  /** Messages stored for the user since they were last forwarded: [messageId's string, chatId, senderId] per message. */
  private readonly stored = new Map<number, Array<string | number>>();
  /**
   * Lists handed to a forward, by the presence record's (partition, offset), until its statuses are
   * rendered (insertion order; the oldest go beyond FORWARDS_KEPT, e.g. when nothing renders them).
   */
  private readonly forwarding = new Map<string, Array<string | number>>();
  private readonly messageName: (id: number) => string;
  private rateMinute = new Float64Array(1024).fill(NaN);
  private rateCount = new Uint32Array(1024);

  constructor(options: MessageEdgeOptions) {
    this.membership = options.membership;
    this.rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.messageName = options.messageName;
  }

  /**
   * Record i of `c` is a message (ids and ts already in the columns). `chat`/`sender` are the
   * membership indices of its chat and sender (-1: not of the chat-<k>/user-<u> shape);
   * `contentBytes` the UTF-8 size of the content (-1: not a string); `spam` the banned-word check.
   */
  annotateMessage(c: MessageInputColumns, i: number, chat: number, sender: number, contentBytes: number, spam: boolean): void {
    c._kind[i] = KIND_MESSAGE;
    c._route[i] = 0;
    c._fwd[i] = 0;
    const t = c.ts[i]!;
    let r = 0;
    if (c.messageId[i] === 0) r = 1;
    else if (c.chatId[i] === 0) r = 2;
    else if (c.senderId[i] === 0) r = 3;
    else if (c.recipientId[i] === 0) r = 4;
    else if (contentBytes < 0) r = 5;
    else if (t - t !== 0) r = 6;
    else if (!this.membership.isMember(chat, sender)) r = R_NOT_MEMBER;
    else if (contentBytes > MAX_CONTENT_BYTES) r = R_TOO_LARGE;
    else if (spam) r = R_SPAM;
    else {
      const s = c.senderId[i]!;
      if (s >= this.online.length) this.grow(s);
      const minute = Math.floor(t / RATE_WINDOW_MS);
      if (this.rateMinute[s] !== minute) { this.rateMinute[s] = minute; this.rateCount[s] = 0; }
      this.rateCount[s] = this.rateCount[s]! + 1;
      if (this.rateCount[s]! > this.rateLimit) r = R_RATE;
    }
    c._reason[i] = r;
    if (r !== 0) return;
    const u = c.recipientId[i]!;
    if (u >= this.online.length) this.grow(u);
    const seen = this.lastSeen[u]!;
    if (this.online[u] === 1) c._route[i] = ST_DELIVERED;
    else if (seen === seen && t - seen < PUSH_WITHIN_MS) c._route[i] = ST_PUSHED;
    else {
      c._route[i] = ST_STORED;
      let list = this.stored.get(u);
      if (!list) this.stored.set(u, (list = []));
      list.push(this.messageName(c.messageId[i]!), c.chatId[i]!, c.senderId[i]!);
    }
  }

  /** Record i of `c` is a confirmation from the recipient; `receipt` RECEIPT_* (0: neither). */
  annotateReceipt(c: MessageInputColumns, i: number, receipt: number): void {
    c._kind[i] = KIND_RECEIPT;
    c._fwd[i] = 0;
    const t = c.ts[i]!;
    let r = 0;
    if (c.messageId[i] === 0) r = 1;
    else if (c.chatId[i] === 0) r = 2;
    else if (c.senderId[i] === 0) r = 3;
    else if (c.recipientId[i] === 0) r = 4;
    else if (receipt !== RECEIPT_DELIVERED && receipt !== RECEIPT_READ) r = 9;
    else if (t - t !== 0) r = 6;
    c._reason[i] = r;
    c._route[i] = r !== 0 ? 0 : receipt === RECEIPT_READ ? ST_READ : ST_DELIVERED;
  }

  /** Record i of `c` is a presence event; `status` PRESENCE_*. */
  annotatePresence(c: MessageInputColumns, i: number, status: number, partition: number): void {
    c._kind[i] = KIND_PRESENCE;
    c._route[i] = 0;
    c._fwd[i] = 0;
    const t = c.ts[i]!;
    const u = c.userId[i]!;
    let r = 0;
    if (u === 0) r = 7;
    else if (status !== PRESENCE_ONLINE && status !== PRESENCE_OFFLINE) r = 8;
    else if (t - t !== 0) r = 6;
    c._reason[i] = r;
    if (r !== 0) return;
    if (u >= this.online.length) this.grow(u);
    this.online[u] = status === PRESENCE_ONLINE ? 1 : 0;
    this.lastSeen[u] = t;
    const list = status === PRESENCE_ONLINE ? this.stored.get(u) : undefined;
    if (list) {
      this.stored.delete(u);
      c._fwd[i] = list.length / 3;
      this.forwarding.set(`${partition}:${c._off[i]!}`, list);
      if (this.forwarding.size > FORWARDS_KEPT) this.forwarding.delete(this.forwarding.keys().next().value!);
    }
  }

  /**
   * Message j of the stored messages forwarded by the presence record at (partition, offset): its
   * id's string, its chatId and senderId ids into `into[0]`, `into[1]`; undefined when no longer kept.
   */
  forwarded(partition: number, offset: number, j: number, into: Float64Array): string | undefined {
    const list = this.forwarding.get(`${partition}:${offset}`);
    if (!list || 3 * j + 2 >= list.length) return undefined;
    into[0] = list[3 * j + 1] as number; into[1] = list[3 * j + 2] as number;
    if (3 * j + 3 === list.length) this.forwarding.delete(`${partition}:${offset}`);
    return list[3 * j] as string;
  }

  /** Users with presence state (for metrics and tests). */
  get capacity(): number {
    return this.online.length;
  }

  private grow(id: number): void {
    let cap = this.online.length;
    while (cap <= id) cap *= 2;
    const on = new Uint8Array(cap); on.set(this.online); this.online = on;
    const ls = new Float64Array(cap).fill(NaN); ls.set(this.lastSeen); this.lastSeen = ls;
    const rm = new Float64Array(cap).fill(NaN); rm.set(this.rateMinute); this.rateMinute = rm;
    const rc = new Uint32Array(cap); rc.set(this.rateCount); this.rateCount = rc;
  }
}

/** Byte length of a string in UTF-8 without encoding it. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++; } else n += 3;
    } else n += 3;
  }
  return n;
}
