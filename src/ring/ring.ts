/**
 * BatchRing: a single-producer single-consumer ring of record batches over a SharedArrayBuffer.
 *
 *     producer thread                                   consumer thread
 *     ───────────────                                   ───────────────
 *     s = acquire()      ─┐                         ┌─  s = peek()
 *     write columns[s],   │   slots: [ b0 | b1 | … ]│   read columns[s], header
 *     header fields       │   HEAD ──► published    │
 *     publish()  ─────────┘   TAIL ──► released     └─  release()
 *
 * Contract (who may call what):
 * - Only the producer calls acquire/publish/close/waitWritable*; only the consumer calls
 *   peek/release/waitReadable*. Both may read `readable()`/`fill()` (a snapshot, may be stale).
 * - One Atomics.store publishes a whole batch: the columns and header of a slot are written with
 *   plain stores *before* HEAD moves, and Atomics (sequentially consistent) orders them.
 * - The producer's cached TAIL and the consumer's cached HEAD may be stale; stale only ever means
 *   "less room" or "fewer batches", never a torn batch. Each side re-reads the peer's counter only
 *   when its cached value says full / empty.
 * - Hot-path calls return counts or -1; they never throw and never allocate.
 *
 * Waiting on 2 cores: a waiting side spins briefly (the peer is often mid-batch on the other
 * core), then sets its SLEEPING flag and sleeps in Atomics.wait with a bound. The peer notifies
 * only when that flag is set, so a busy pipeline makes no futex calls at all. The flag is set
 * before the last re-check and read after the counter store (both seq-cst), so a wake-up cannot
 * be lost: either the sleeper sees the new counter or the peer sees the flag.
 * Both sides sleep on their own flag word, and the waker clears the flag before notifying, so a
 * sleep costs at most one notify however many batches move meanwhile. For the consumer it also
 * matters because two things wake it: publish() and close(). close() does not move HEAD, so a consumer waiting on HEAD that read CLOSED = 0 just
 * before close() would miss the notify and sleep its whole timeout. Instead the waker clears the
 * flag and then notifies: Atomics.wait(flag, 1) either sees 0 or is already queued for the notify.
 * A producer of many small batches may put the notify off (publishDeferred) until they hold
 * enough records to be worth one (waking a sleeper costs its thread 18–25 µs on this VM,
 * bench/ring/notify-cost.ts); it then wakes the consumer itself (wakeDeferred) before it waits
 * on anything.
 */
import { RingStalledError } from "../errors.js";
import { bindColumns, type ColumnArray, type RecordLayout } from "../schema/schema.js";
import {
  CLOSED, CONSUMER_SLEEPING, HEAD, HEADER_WORDS, PRODUCER_SLEEPING, TAIL,
  CONTROL_BYTES, ringBytes, slotDataOffset,
} from "./layout.js";

/** What another thread needs to attach to the same ring (structured-cloneable). */
export interface RingHandle {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly layout: RecordLayout;
}

export interface RingOptions {
  /**
   * Checks of the peer's counter before sleeping.
   * @default 128
   */
  spin?: number;
}

export class BatchRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly layout: RecordLayout;
  /** Records per slot. */
  readonly capacity: number;
  /** Per-slot header words: `header[slot * HEADER_WORDS + H_*]`. */
  readonly header: Float64Array;
  /** Per-slot column views, made once: `columns[slot][field]`. */
  readonly columns: ReadonlyArray<Record<string, ColumnArray>>;
  private readonly ctrl: Int32Array;
  private readonly mask: number;
  private readonly spin: number;
  /** What publishDeferred() published since the consumer was last woken: records + 1 per batch (producer side). */
  private deferred = 0;
  // Producer-local state.
  private head = 0;
  private tailCache = 0;
  /** Records of each published slot (as publish() was told), their sum, and the TAIL they are counted to. */
  private readonly slotRecords: Int32Array;
  private queued = 0;
  private countedTail = 0;
  // Consumer-local state.
  private tail = 0;
  private headCache = 0;

  /** Allocates a new ring of `slots` batches (a power of two) laid out by `layout`. */
  static create(layout: RecordLayout, slots: number, options?: RingOptions): BatchRing {
    if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0) {
      throw new RangeError(`ring slots must be a power of two ≥ 2, got ${slots}`);
    }
    const buffer = new SharedArrayBuffer(ringBytes(slots, layout.bytesPerSlot));
    return new BatchRing({ buffer, slots, layout }, options);
  }

  /** Attaches to a ring created elsewhere (e.g. in another thread). */
  constructor(handle: RingHandle, options: RingOptions = {}) {
    this.buffer = handle.buffer;
    this.slots = handle.slots;
    this.layout = handle.layout;
    this.capacity = handle.layout.capacity;
    this.mask = handle.slots - 1;
    this.spin = options.spin ?? 128;
    this.slotRecords = new Int32Array(handle.slots);
    this.ctrl = new Int32Array(handle.buffer, 0, CONTROL_BYTES / 4);
    this.header = new Float64Array(handle.buffer, CONTROL_BYTES, handle.slots * HEADER_WORDS);
    const cols: Record<string, ColumnArray>[] = [];
    for (let s = 0; s < handle.slots; s++) {
      cols.push(bindColumns(handle.buffer, slotDataOffset(handle.slots, handle.layout.bytesPerSlot, s), handle.layout));
    }
    this.columns = cols;
    // Resume where the ring is (a restarted worker attaches to a ring that has already moved).
    this.head = this.headCache = Atomics.load(this.ctrl, HEAD);
    this.tail = this.tailCache = this.countedTail = Atomics.load(this.ctrl, TAIL);
  }

  get handle(): RingHandle {
    return { buffer: this.buffer, slots: this.slots, layout: this.layout };
  }

  // ── producer ────────────────────────────────────────────────────────────────────────────

  /** The slot to write next, or -1 when the ring is full. Does not change the ring. */
  acquire(): number {
    if (((this.head - this.tailCache) | 0) >= this.slots) {
      this.tailCache = Atomics.load(this.ctrl, TAIL);
      if (((this.head - this.tailCache) | 0) >= this.slots) return -1;
    }
    return this.head & this.mask;
  }

  /**
   * Publishes the slot returned by the last acquire(), a batch of `records` (counted in
   * queuedRecords()); wakes the consumer only if it sleeps.
   */
  publish(records = 0): void {
    this.count(records);
    this.head = (this.head + 1) | 0;
    Atomics.store(this.ctrl, HEAD, this.head);
    if (Atomics.load(this.ctrl, CONSUMER_SLEEPING) !== 0) this.wakeConsumer();
    this.deferred = 0;
  }

  /**
   * Publishes the slot returned by the last acquire(), a batch of `records`, and leaves a sleeping
   * consumer asleep until the records so published reach `wakeAt` (or wakeDeferred()). For a
   * producer of many small batches in a row: waking a sleeper costs its thread 18–25 µs on this VM,
   * more than a batch of a few records costs the consumer. The producer must call wakeDeferred()
   * before it waits on anything.
   */
  publishDeferred(records: number, wakeAt: number): void {
    this.count(records);
    this.head = (this.head + 1) | 0;
    Atomics.store(this.ctrl, HEAD, this.head);
    this.deferred += records + 1;
    if (this.deferred >= wakeAt) this.wakeDeferred();
  }

  /** The slot about to be published holds `records`; a slot released since is uncounted first. */
  private count(records: number): void {
    this.settle(this.tailCache); // acquire() saw this slot released
    this.slotRecords[this.head & this.mask] = records;
    this.queued += records;
  }

  private settle(tail: number): void {
    while (this.countedTail !== tail) {
      this.queued -= this.slotRecords[this.countedTail & this.mask]!;
      this.countedTail = (this.countedTail + 1) | 0;
    }
  }

  /** Records in published batches the consumer has not released yet (producer side; as publish() was told). */
  queuedRecords(): number {
    this.tailCache = Atomics.load(this.ctrl, TAIL);
    this.settle(this.tailCache);
    return this.queued;
  }

  /**
   * Waits, without blocking the event loop, until the consumer releases a batch beyond those
   * queuedRecords() last saw released (or `timeoutMs`). For a producer holding back while its
   * queued records are over a budget of its own, with slots still free (main thread).
   */
  async waitReleaseAsync(timeoutMs: number): Promise<void> {
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 1);
    if (Atomics.load(this.ctrl, TAIL) === this.countedTail) {
      const r = Atomics.waitAsync(this.ctrl, PRODUCER_SLEEPING, 1, timeoutMs);
      if (r.async) await r.value;
    }
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 0);
  }

  /** Wakes the consumer if it sleeps while batches published by publishDeferred() wait. */
  wakeDeferred(): void {
    if (this.deferred === 0) return;
    this.deferred = 0;
    if (Atomics.load(this.ctrl, CONSUMER_SLEEPING) !== 0) this.wakeConsumer();
  }

  /** The producer's publish counter (HEAD): batches published so far. */
  get published(): number {
    return this.head;
  }

  /** No more batches will be published. */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    this.wakeConsumer();
  }

  /** Clears the consumer's flag, then notifies: the consumer sleeps on that flag (see top). */
  private wakeConsumer(): void {
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 0);
    Atomics.notify(this.ctrl, CONSUMER_SLEEPING);
  }

  /** Free slots as the producer sees them (may under-count). */
  writable(): number {
    this.tailCache = Atomics.load(this.ctrl, TAIL);
    return this.slots - ((this.head - this.tailCache) | 0);
  }

  /** Blocks (spin, then a bounded sleep) until a slot is free; false on timeout. Worker threads only. */
  waitWritable(timeoutMs: number): boolean {
    for (let i = 0; i < this.spin; i++) if (this.acquire() >= 0) return true;
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 1);
    const seen = Atomics.load(this.ctrl, TAIL);
    if (((this.head - seen) | 0) >= this.slots) Atomics.wait(this.ctrl, PRODUCER_SLEEPING, 1, timeoutMs);
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 0);
    return this.acquire() >= 0;
  }

  /** Like waitWritable, without blocking the event loop (main thread). */
  async waitWritableAsync(timeoutMs: number): Promise<boolean> {
    if (this.acquire() >= 0) return true;
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 1);
    const seen = Atomics.load(this.ctrl, TAIL);
    if (((this.head - seen) | 0) >= this.slots) {
      const r = Atomics.waitAsync(this.ctrl, PRODUCER_SLEEPING, 1, timeoutMs);
      if (r.async) await r.value;
    }
    Atomics.store(this.ctrl, PRODUCER_SLEEPING, 0);
    return this.acquire() >= 0;
  }

  /**
   * Blocks until a slot is free or throws after `limitMs` (the consumer is stalled).
   * Waits in bounded steps so a stuck peer is reported, not waited on forever.
   */
  acquireBlocking(limitMs: number, what: string): number {
    let s = this.acquire();
    if (s >= 0) return s;
    const deadline = Date.now() + limitMs;
    while (!this.waitWritable(50)) {
      if (Date.now() > deadline) throw new RingStalledError(`${what}: no free slot in ${limitMs} ms; its consumer is stalled or dead`);
    }
    s = this.acquire();
    return s;
  }

  // ── consumer ────────────────────────────────────────────────────────────────────────────

  /** The slot to read next, or -1 when no batch is published. */
  peek(): number {
    if (this.tail === this.headCache) {
      this.headCache = Atomics.load(this.ctrl, HEAD);
      if (this.tail === this.headCache) return -1;
    }
    return this.tail & this.mask;
  }

  /** Gives the slot returned by peek() back to the producer; wakes it only if it sleeps. */
  release(): void {
    this.tail = (this.tail + 1) | 0;
    Atomics.store(this.ctrl, TAIL, this.tail);
    if (Atomics.load(this.ctrl, PRODUCER_SLEEPING) !== 0) {
      // Clear, then notify: one wake-up per sleep, however many slots free up before the
      // producer runs (a main-thread producer wakes through its event loop, which takes a while).
      Atomics.store(this.ctrl, PRODUCER_SLEEPING, 0);
      Atomics.notify(this.ctrl, PRODUCER_SLEEPING);
    }
  }

  /**
   * The slot of the k-th published batch after the oldest unreleased one (k = 0 is peek()), or -1
   * when fewer than k + 1 are published. Lets a consumer process ahead and release later (at a
   * checkpoint), so the ring itself keeps what must be replayed after a crash.
   */
  peekAt(k: number): number {
    if (((this.headCache - this.tail) | 0) <= k) {
      this.headCache = Atomics.load(this.ctrl, HEAD);
      if (((this.headCache - this.tail) | 0) <= k) return -1;
    }
    return (this.tail + k) & this.mask;
  }

  /** Releases the k oldest unreleased batches at once (one store; wakes a sleeping producer). */
  releaseMany(k: number): void {
    if (k <= 0) return;
    this.tail = (this.tail + k - 1) | 0;
    this.release();
  }

  /** The consumer's release counter (TAIL), e.g. to record in a checkpoint. */
  get released(): number {
    return this.tail;
  }

  /** Published batches not yet released (a snapshot; may be stale by the time it is used). */
  readable(): number {
    return (Atomics.load(this.ctrl, HEAD) - Atomics.load(this.ctrl, TAIL)) | 0;
  }

  /** Fill ratio 0..1 (a snapshot). */
  fill(): number {
    return this.readable() / this.slots;
  }

  /** True once the producer closed the ring (batches may still be left to read). */
  isClosed(): boolean {
    return Atomics.load(this.ctrl, CLOSED) !== 0;
  }

  /** Blocks (spin, then a bounded sleep) until a batch is published or the ring closes. Worker threads only. */
  waitReadable(timeoutMs: number): boolean {
    for (let i = 0; i < this.spin; i++) if (this.peek() >= 0) return true;
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 1);
    const seen = Atomics.load(this.ctrl, HEAD);
    if (seen === this.tail && Atomics.load(this.ctrl, CLOSED) === 0) Atomics.wait(this.ctrl, CONSUMER_SLEEPING, 1, timeoutMs);
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 0);
    return this.peek() >= 0;
  }

  /**
   * Blocks until more than k batches are published past the oldest unreleased one (peekAt(k) ≥ 0)
   * or the ring closes; bounded like waitReadable. For a consumer holding k processed batches.
   */
  waitReadableAt(k: number, timeoutMs: number): boolean {
    for (let i = 0; i < this.spin; i++) if (this.peekAt(k) >= 0) return true;
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 1);
    const seen = Atomics.load(this.ctrl, HEAD);
    if (((seen - this.tail) | 0) <= k && Atomics.load(this.ctrl, CLOSED) === 0) Atomics.wait(this.ctrl, CONSUMER_SLEEPING, 1, timeoutMs);
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 0);
    return this.peekAt(k) >= 0;
  }

  /** Like waitReadable, without blocking the event loop (main thread). */
  async waitReadableAsync(timeoutMs: number): Promise<boolean> {
    if (this.peek() >= 0) return true;
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 1);
    const seen = Atomics.load(this.ctrl, HEAD);
    if (seen === this.tail && Atomics.load(this.ctrl, CLOSED) === 0) {
      const r = Atomics.waitAsync(this.ctrl, CONSUMER_SLEEPING, 1, timeoutMs);
      if (r.async) await r.value;
    }
    Atomics.store(this.ctrl, CONSUMER_SLEEPING, 0);
    return this.peek() >= 0;
  }
}

export { HEADER_WORDS };
