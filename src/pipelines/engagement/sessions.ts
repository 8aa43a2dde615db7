/**
 * Per-user inactivity-gap sessions on typed arrays indexed by the interned user id: one open
 * session per user (start, end, views, interactions, up to SESSION_GENRES genre slots with their
 * affinity: +1 per session view, an interaction's weight per interaction), and a binary
 * min-heap of close times with one entry per open session. A heap entry's time may be earlier than
 * its session's real close (the session grew since): it is then pushed again with the real one
 * (lazy update), so extending a session costs nothing. No allocation per view; the arrays double
 * when a new user id exceeds them.
 */
import type { OutputWriter } from "../../ring/output.js";
import { OUT_SESSION, SESSION_GENRES } from "./spec.js";

const G = SESSION_GENRES;
/** Words per open session in a snapshot. */
export const PER_SESSION = 6 + 2 * G;

export class Sessions {
  private start = new Float64Array(1024).fill(NaN);
  private end = new Float64Array(1024);
  private views = new Float64Array(1024);
  private interactions = new Float64Array(1024);
  private nGenres = new Uint8Array(1024);
  private genre = new Uint32Array(1024 * G);
  private genreViews = new Float64Array(1024 * G);
  private inHeap = new Uint8Array(1024);
  private heapAt = new Float64Array(1024);
  private heapUser = new Uint32Array(1024);
  private heapSize = 0;
  /** Sessions open now. */
  open = 0;

  constructor(readonly gapMs: number) {}

  get bytes(): number {
    return this.start.length * (8 * 4 + 1 + 1 + G * 12) + this.heapAt.length * 12;
  }

  /**
   * One view of user u at ts, whose record carries watermark wm; `genre` is the genre index + 1
   * (0: unknown content).
   */
  view(u: number, ts: number, wm: number, genre: number, out: OutputWriter): void {
    this.event(u, ts, wm, genre, 1, 1, out);
  }

  /** One valid interaction of user u with content of `genre`, of affinity weight `weight`. */
  interaction(u: number, ts: number, wm: number, genre: number, weight: number, out: OutputWriter): void {
    this.event(u, ts, wm, genre, weight, 0, out);
  }

  /** A session event: `isView` 1 counts in views, 0 in interactions; `weight` adds to the genre's affinity. */
  private event(u: number, ts: number, wm: number, genre: number, weight: number, isView: number, out: OutputWriter): void {
    if (u >= this.start.length) this.growUsers(u);
    const s = this.start[u]!;
    if (s === s) {
      const end = this.end[u]!;
      if (ts > end + this.gapMs || end + this.gapMs <= wm) {
        this.emit(u, out);
      } else {
        if (ts < s) this.start[u] = ts;
        if (ts > end) this.end[u] = ts;
        this.views[u] += isView;
        this.interactions[u] += 1 - isView;
        this.addGenre(u, genre, weight);
        return;
      }
    }
    this.start[u] = ts;
    this.end[u] = ts;
    this.views[u] = isView;
    this.interactions[u] = 1 - isView;
    this.nGenres[u] = 0;
    this.addGenre(u, genre, weight);
    this.open++;
    if (this.inHeap[u] === 0) this.push(ts + this.gapMs, u);
  }

  private addGenre(u: number, genre: number, weight: number): void {
    if (genre === 0) return;
    const base = u * G;
    const k = this.nGenres[u]!;
    for (let j = 0; j < k; j++) {
      if (this.genre[base + j] === genre) {
        this.genreViews[base + j] += weight;
        return;
      }
    }
    if (k === G) return;
    this.genre[base + k] = genre;
    this.genreViews[base + k] = weight;
    this.nGenres[u] = k + 1;
  }

  /** Emits every session with end + gap ≤ watermark (Infinity: all). */
  closeUpTo(watermark: number, out: OutputWriter): void {
    while (this.heapSize > 0 && this.heapAt[0]! <= watermark) {
      const u = this.heapUser[0]!;
      this.pop();
      this.inHeap[u] = 0;
      const s = this.start[u]!;
      if (s !== s) continue;
      const closeAt = this.end[u]! + this.gapMs;
      if (closeAt <= watermark) this.emit(u, out);
      else this.push(closeAt, u);
    }
  }

  /**
   * The session summary: key user, code interactions, a start, b end, c views, d/e/f the top
   * genres (index + 1, 0: none) with an affinity > 0, by affinity, ties to the genre seen first.
   */
  private emit(u: number, out: OutputWriter): void {
    const base = u * G;
    const k = this.nGenres[u]!;
    let g1 = 0, g2 = 0, g3 = 0;
    let c1 = 0, c2 = 0, c3 = 0;
    for (let j = 0; j < k; j++) {
      const c = this.genreViews[base + j]!;
      const g = this.genre[base + j]!;
      if (c > c1) { g3 = g2; c3 = c2; g2 = g1; c2 = c1; g1 = g; c1 = c; }
      else if (c > c2) { g3 = g2; c3 = c2; g2 = g; c2 = c; }
      else if (c > c3) { g3 = g; c3 = c; }
    }
    out.side(OUT_SESSION, this.interactions[u]!, u, 0, 0, this.start[u]!, this.end[u]!, this.views[u]!, g1, g2, g3);
    this.start[u] = NaN;
    this.open--;
  }

  private push(at: number, u: number): void {
    if (this.heapSize === this.heapAt.length) {
      const a = new Float64Array(this.heapAt.length * 2); a.set(this.heapAt);
      const b = new Uint32Array(this.heapUser.length * 2); b.set(this.heapUser);
      this.heapAt = a;
      this.heapUser = b;
    }
    const at_ = this.heapAt, us = this.heapUser;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (at_[parent]! <= at) break;
      at_[i] = at_[parent]!;
      us[i] = us[parent]!;
      i = parent;
    }
    at_[i] = at;
    us[i] = u;
    this.inHeap[u] = 1;
  }

  private pop(): void {
    const at_ = this.heapAt, us = this.heapUser;
    const n = --this.heapSize;
    if (n === 0) return;
    const at = at_[n]!, u = us[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && at_[c + 1]! < at_[c]!) c++;
      if (at_[c]! >= at) break;
      at_[i] = at_[c]!;
      us[i] = us[c]!;
      i = c;
    }
    at_[i] = at;
    us[i] = u;
  }

  private growUsers(id: number): void {
    let cap = this.start.length;
    while (cap <= id) cap *= 2;
    const f = (a: Float64Array, fill: number, per = 1): Float64Array<ArrayBuffer> => { const b = new Float64Array(cap * per).fill(fill); b.set(a); return b; };
    this.start = f(this.start, NaN);
    this.end = f(this.end, 0);
    this.views = f(this.views, 0);
    this.interactions = f(this.interactions, 0);
    this.genreViews = f(this.genreViews, 0, G);
    const n = new Uint8Array(cap); n.set(this.nGenres); this.nGenres = n;
    const h = new Uint8Array(cap); h.set(this.inHeap); this.inHeap = h;
    const g = new Uint32Array(cap * G); g.set(this.genre); this.genre = g;
  }

  /** Open sessions as (user, start, end, views, n, interactions, genre × G, affinity × G) at `at`; words written or -1. */
  exportTo(out: Float64Array, at: number): number {
    const per = PER_SESSION;
    if (at + this.open * per > out.length) return -1;
    let j = at;
    for (let u = 0; u < this.start.length; u++) {
      const s = this.start[u]!;
      if (s !== s) continue;
      out[j++] = u; out[j++] = s; out[j++] = this.end[u]!; out[j++] = this.views[u]!; out[j++] = this.nGenres[u]!;
      out[j++] = this.interactions[u]!;
      for (let k = 0; k < G; k++) out[j++] = this.genre[u * G + k]!;
      for (let k = 0; k < G; k++) out[j++] = this.genreViews[u * G + k]!;
    }
    return j - at;
  }

  importFrom(from: Float64Array, at: number, sessions: number): void {
    this.start.fill(NaN);
    this.inHeap.fill(0);
    this.heapSize = 0;
    this.open = 0;
    const per = PER_SESSION;
    for (let e = 0, j = at; e < sessions; e++, j += per) {
      const u = from[j]!;
      if (u >= this.start.length) this.growUsers(u);
      this.start[u] = from[j + 1]!;
      this.end[u] = from[j + 2]!;
      this.views[u] = from[j + 3]!;
      this.nGenres[u] = from[j + 4]!;
      this.interactions[u] = from[j + 5]!;
      for (let k = 0; k < G; k++) {
        this.genre[u * G + k] = from[j + 6 + k]!;
        this.genreViews[u * G + k] = from[j + 6 + G + k]!;
      }
      this.open++;
      this.push(this.end[u]! + this.gapMs, u);
    }
  }
}
