/**
 * message-delivery inside a shard worker (see spec.ts), per record of a batch:
 *   invalid (reason 1..9)   → invalid side output
 *   message, reason ≥ 10    → a FAILED status
 *   message, valid          → SENT status, the route status (DELIVERED/PUSHED/STORED) and the
 *                             channel record (deliver/push/store) the sink edge encrypts; the chat's
 *                             session (30-minute gap) is extended or closed and a new one opened
 *   presence with _fwd > 0  → a DELIVERED status per stored message (f = 2: forwarded) and a
 *                             forward record (the user came online with stored messages)
 *   receipt                 → its DELIVERED/READ status (f = 1: from a confirmation)
 * Sessions live in typed arrays by interned chat id and are closed by the watermark in advance().
 * Nothing is allocated per record.
 */
import { OUT_INVALID, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import {
  KIND_PRESENCE, KIND_RECEIPT, OUT_FORWARD, OUT_SESSION, OUT_STATUS, R_INVALID_MAX, ROUTE_KIND, SESSION_GAP_MS, ST_DELIVERED, ST_FAILED, ST_SENT,
  type MessageInputColumns,
} from "./spec.js";

export class MessageDeliveryShard implements ShardProcessor {
  /** Per chat id: open session's first and last message time (NaN: none open) and message count. */
  private start = new Float64Array(1024).fill(NaN);
  private last = new Float64Array(1024).fill(NaN);
  private count = new Float64Array(1024);
  private open = 0;
  /** No open session can close before this watermark (recomputed by each scan). */
  private nextClose = Infinity;

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const c = columns as unknown as MessageInputColumns;
    const { messageId, chatId, senderId, recipientId, userId, ts, _off, _reason, _kind, _route, _fwd } = c;
    for (let i = 0; i < n; i++) {
      const r = _reason[i]!;
      const kind = _kind[i]!;
      const off = _off[i]!;
      const t = ts[i]!;
      if (kind === KIND_PRESENCE) {
        if (r !== 0) out.side(OUT_INVALID, r, userId[i]!, partition, off, 0, 0, 0, t, kind, 0);
        else if (_fwd[i]! > 0) {
          // The user came online with stored messages: each is delivered now (the sink edge names
          // message j of this record's forward list), then the forward itself.
          const k = _fwd[i]!;
          for (let j = 0; j < k; j++) out.side(OUT_STATUS, ST_DELIVERED, userId[i]!, partition, off, j, 0, 0, t, 0, 2);
          out.side(OUT_FORWARD, 0, userId[i]!, partition, off, k, 0, 0, t, 0, 0);
        }
        continue;
      }
      const m = messageId[i]!;
      const chat = chatId[i]!;
      const s = senderId[i]!;
      const rc = recipientId[i]!;
      if (kind === KIND_RECEIPT) {
        if (r !== 0) out.side(OUT_INVALID, r, m, partition, off, chat, s, rc, t, kind, 0);
        else out.side(OUT_STATUS, _route[i]!, m, partition, off, chat, s, rc, t, 0, 1);
        continue;
      }
      if (r !== 0) {
        if (r <= R_INVALID_MAX) out.side(OUT_INVALID, r, m, partition, off, chat, s, rc, t, kind, 0);
        else out.side(OUT_STATUS, ST_FAILED, m, partition, off, chat, s, rc, t, r, 0);
        continue;
      }
      this.session(chat, t, out);
      const route = _route[i]!;
      out.side(OUT_STATUS, ST_SENT, m, partition, off, chat, s, rc, t, 0, 0);
      out.side(OUT_STATUS, route, m, partition, off, chat, s, rc, t, 0, 0);
      out.side(ROUTE_KIND[route]!, route, m, partition, off, chat, s, rc, t, 0, 0);
    }
  }

  private session(chat: number, t: number, out: OutputWriter): void {
    if (chat >= this.start.length) this.grow(chat);
    const last = this.last[chat]!;
    if (last === last) {
      if (t - last < SESSION_GAP_MS && this.start[chat]! - t < SESSION_GAP_MS) {
        if (t > last) this.last[chat] = t;
        if (t < this.start[chat]!) this.start[chat] = t;
        this.count[chat] = this.count[chat]! + 1;
        const close = this.last[chat]! + SESSION_GAP_MS;
        if (close < this.nextClose) this.nextClose = close;
        return;
      }
      this.emit(chat, out); // a gap: the open session ends here
    }
    this.start[chat] = t;
    this.last[chat] = t;
    this.count[chat] = 1;
    this.open++;
    if (t + SESSION_GAP_MS < this.nextClose) this.nextClose = t + SESSION_GAP_MS;
  }

  private emit(chat: number, out: OutputWriter): void {
    out.side(OUT_SESSION, 0, chat, 0, 0, this.start[chat]!, this.last[chat]!, this.count[chat]!, 0, 0, 0);
    this.start[chat] = NaN;
    this.last[chat] = NaN;
    this.count[chat] = 0;
    this.open--;
  }

  /** Closes every session whose gap has passed by `watermark` (a session ends when watermark ≥ last + gap). */
  advance(watermark: number, out: OutputWriter): void {
    if (this.open === 0 || watermark < this.nextClose) return;
    let next = Infinity;
    const L = this.last.length;
    for (let chat = 0; chat < L && this.open > 0; chat++) {
      const last = this.last[chat]!;
      if (last !== last) continue;
      if (last + SESSION_GAP_MS <= watermark) this.emit(chat, out);
      else if (last + SESSION_GAP_MS < next) next = last + SESSION_GAP_MS;
    }
    this.nextClose = next;
  }

  stateBytes(): number {
    return this.start.length * 24;
  }

  stateEntries(): number {
    return this.open;
  }

  /** Layout: [L, start × L, last × L, count × L]. */
  snapshot(into: Float64Array): number {
    const L = this.start.length;
    const words = 1 + 3 * L;
    if (words > into.length) return -1;
    into[0] = L;
    into.set(this.start, 1);
    into.set(this.last, 1 + L);
    into.set(this.count, 1 + 2 * L);
    return words;
  }

  restore(from: Float64Array, _words: number): void {
    const L = from[0]!;
    this.start = from.slice(1, 1 + L);
    this.last = from.slice(1 + L, 1 + 2 * L);
    this.count = from.slice(1 + 2 * L, 1 + 3 * L);
    this.open = 0;
    this.nextClose = Infinity;
    for (let chat = 0; chat < L; chat++) {
      const last = this.last[chat]!;
      if (last !== last) continue;
      this.open++;
      if (last + SESSION_GAP_MS < this.nextClose) this.nextClose = last + SESSION_GAP_MS;
    }
  }

  private grow(id: number): void {
    let cap = this.start.length;
    while (cap <= id) cap *= 2;
    const s = new Float64Array(cap).fill(NaN); s.set(this.start); this.start = s;
    const l = new Float64Array(cap).fill(NaN); l.set(this.last); this.last = l;
    const k = new Float64Array(cap); k.set(this.count); this.count = k;
  }
}
