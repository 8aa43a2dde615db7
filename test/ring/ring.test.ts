/**
 * BatchRing (src/ring/ring.ts) and OutputWriter (src/ring/output.ts).
 *
 * 1. The single-thread contract: empty/full answers, counts, FIFO order, close, the 32-bit counter
 *    wrap (checked against a model queue), and the interleavings where a wake-up could be lost,
 *    forced deterministically by hooking the ring's Atomics calls.
 * 2. Real worker threads (fixtures/*.mjs load the built ring from dist/): a producer writes seeded
 *    random batch sizes (0 … capacity) with running record numbers in every column type; the
 *    consumer replays the sizes and checks every field and header word, then poisons the slot, so
 *    loss, duplication, reordering, torn or stale batches fail the test. Waits are long (10 s) and
 *    counted when they run to their limit, so a lost wake-up fails the test instead of only
 *    slowing it down. No timing assertions otherwise.
 */
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { RingStalledError } from "../../src/errors.js";
import { CLOSED, CONSUMER_SLEEPING, CONTROL_BYTES, H_COUNT, HEAD, HEADER_WORDS, TAIL } from "../../src/ring/layout.js";
import {
  OUT_ACK, OUT_ANOMALY, OUT_CLOSED, OUT_ENDED, OUT_INVALID, OUT_LATE, OUT_WINDOW, OutputWriter, outputLayout,
} from "../../src/ring/output.js";
import { BatchRing } from "../../src/ring/ring.js";
import {
  batchSize, checkBatch, mulberry32, outputOps, poison, testLayout, writeBatch,
} from "./fixtures/protocol.mjs";

// ── helpers ───────────────────────────────────────────────────────────────────────────────────

interface ProduceResult { batches: number; records: number; fullSeen: number; longWaits: number }
interface ConsumeResult { batches: number; records: number; emptySeen: number; longWaits: number; errors: string[] }
interface Pace { seed: number; waitMs: number; limitMs: number; pauseChance?: number; pauseMs?: number }

/** One wait of a cross-thread test; a wait that runs this long counts as a lost wake-up. */
const WAIT_MS = 10_000;
/** Whole-run limit of one producer or consumer. */
const LIMIT_MS = 60_000;

const running = new Set<Worker>();
afterEach(async () => {
  await Promise.all([...running].map((w) => w.terminate()));
  running.clear();
});

/** Runs fixtures/<file> in a worker thread; `result` settles with its one message or its failure. */
function startWorker<T>(file: string, workerData: unknown): { result: Promise<T>; failed: () => Error | undefined } {
  const worker = new Worker(new URL(`./fixtures/${file}`, import.meta.url), { workerData });
  running.add(worker);
  let failure: Error | undefined;
  let settled = false;
  const result = new Promise<T>((resolve, reject) => {
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      failure = e;
      clearTimeout(timer);
      reject(e);
    };
    const timer = setTimeout(() => {
      fail(new Error(`${file} did not report within ${LIMIT_MS + 10_000} ms`));
      void worker.terminate();
    }, LIMIT_MS + 10_000);
    worker.once("message", (m: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.delete(worker);
      resolve(m);
    });
    worker.once("error", fail);
    worker.once("exit", (code) => fail(new Error(`${file} exited with code ${code} before reporting`)));
  });
  return { result, failed: () => failure };
}

/** A ring of the test layout whose HEAD and TAIL both start at `start` (wrapped to int32). */
function ringAt(slots: number, capacity: number, start = 0, options?: { spin?: number }): BatchRing {
  const created = BatchRing.create(testLayout(capacity), slots);
  const ctrl = new Int32Array(created.buffer, 0, CONTROL_BYTES / 4);
  Atomics.store(ctrl, HEAD, start | 0);
  Atomics.store(ctrl, TAIL, start | 0);
  return new BatchRing(created.handle, options); // the constructor reads the counters
}

function control(ring: BatchRing): Int32Array {
  return new Int32Array(ring.buffer, 0, CONTROL_BYTES / 4);
}

/**
 * The consumer loop of fixtures/protocol.mjs on the main thread, waiting with waitReadableAsync.
 * Like it, stops at the first mismatch and checks the deadline on every pass (a broken ring that
 * never looks empty would otherwise spin here without ever yielding to the event loop).
 */
async function consumeAsync(ring: BatchRing, o: Pace, peerFailed: () => Error | undefined): Promise<ConsumeResult> {
  const rand = mulberry32(o.seed);
  const pace = mulberry32(o.seed ^ 0x2545f491);
  const deadline = Date.now() + o.limitMs;
  const errors: string[] = [];
  let b = 0, records = 0, emptySeen = 0, longWaits = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`main consumer: ring not closed within ${o.limitMs} ms (at batch ${b})`);
    const slot = ring.peek();
    if (slot < 0) {
      if (ring.isClosed() && ring.peek() < 0) break;
      const e = peerFailed();
      if (e) throw e;
      emptySeen++;
      const t0 = performance.now();
      if (!(await ring.waitReadableAsync(o.waitMs)) && !ring.isClosed() && performance.now() - t0 >= 0.9 * o.waitMs) longWaits++;
      continue;
    }
    const n = batchSize(rand, ring.capacity);
    const e = checkBatch(ring, slot, b, records, n);
    if (e) {
      errors.push(e);
      break;
    }
    poison(ring, slot);
    ring.release();
    b++;
    records += n;
    if (o.pauseChance && pace() / 2 ** 32 < o.pauseChance) await sleep(o.pauseMs ?? 1);
  }
  return { batches: b, records, emptySeen, longWaits, errors };
}

/** The producer loop of fixtures/protocol.mjs on the main thread, waiting with waitWritableAsync. */
async function produceAsync(ring: BatchRing, o: Pace & { batches: number }, peerFailed: () => Error | undefined): Promise<ProduceResult> {
  const rand = mulberry32(o.seed);
  const pace = mulberry32(o.seed ^ 0x51ed270b);
  const deadline = Date.now() + o.limitMs;
  let records = 0, fullSeen = 0, longWaits = 0;
  for (let b = 0; b < o.batches; b++) {
    if (Date.now() > deadline) throw new Error(`main producer: ${b} of ${o.batches} batches within ${o.limitMs} ms`);
    let slot = ring.acquire();
    if (slot < 0) fullSeen++;
    while (slot < 0) {
      const e = peerFailed();
      if (e) throw e;
      if (Date.now() > deadline) throw new Error(`main producer: no free slot for batch ${b} within ${o.limitMs} ms`);
      const t0 = performance.now();
      if (!(await ring.waitWritableAsync(o.waitMs)) && performance.now() - t0 >= 0.9 * o.waitMs) longWaits++;
      slot = ring.acquire();
    }
    const n = batchSize(rand, ring.capacity);
    writeBatch(ring, slot, b, records, n);
    ring.publish();
    records += n;
    if (o.pauseChance && pace() / 2 ** 32 < o.pauseChance) await sleep(o.pauseMs ?? 1);
  }
  ring.close();
  return { batches: o.batches, records, fullSeen, longWaits };
}

type WaitResult = "ok" | "not-equal" | "timed-out";
interface Hooked { fired: boolean; waits: WaitResult[]; asyncWaits: Array<Promise<WaitResult> | WaitResult>; restore(): void }

/**
 * Runs `action` right after the (skip+1)-th Atomics.load of control word `index` of `ring`, the
 * load having already returned its value: this puts the peer's move exactly between a waiter's
 * last check and its Atomics.wait. Records what every Atomics.wait / waitAsync returned.
 */
function hookLoad(ring: BatchRing, index: number, skip: number, action: () => void): Hooked {
  const A = Atomics as unknown as Record<string, (...args: unknown[]) => unknown>;
  const load = A["load"]!, wait = A["wait"]!, waitAsync = A["waitAsync"]!;
  let seen = 0;
  const hooked: Hooked = {
    fired: false,
    waits: [],
    asyncWaits: [],
    restore() { A["load"] = load; A["wait"] = wait; A["waitAsync"] = waitAsync; },
  };
  A["load"] = (ta: unknown, i: unknown) => {
    const v = load.call(Atomics, ta, i);
    if (!hooked.fired && (ta as Int32Array).buffer === ring.buffer && i === index && seen++ === skip) {
      hooked.fired = true;
      action();
    }
    return v;
  };
  A["wait"] = (...args: unknown[]) => {
    const r = wait.apply(Atomics, args) as WaitResult;
    hooked.waits.push(r);
    return r;
  };
  A["waitAsync"] = (...args: unknown[]) => {
    const r = waitAsync.apply(Atomics, args) as { async: boolean; value: Promise<WaitResult> | WaitResult };
    hooked.asyncWaits.push(r.value);
    return r;
  };
  return hooked;
}

/** Records what every Atomics.wait / waitAsync returns, without moving any peer. */
function recordWaits(ring: BatchRing): Hooked {
  return hookLoad(ring, -1, 0, () => {});
}

beforeAll(() => {
  // Worker fixtures run the built ring; a stale dist/ would test old code.
  const built = fileURLToPath(new URL("../../dist/src/ring/ring.js", import.meta.url));
  const source = fileURLToPath(new URL("../../src/ring/ring.ts", import.meta.url));
  if (!existsSync(built)) throw new Error("dist/src/ring/ring.js is missing: run `npx tsc -p tsconfig.json` before the ring tests");
  if (statSync(built).mtimeMs < statSync(source).mtimeMs) {
    throw new Error("dist/src/ring/ring.js is older than src/ring/ring.ts: run `npx tsc -p tsconfig.json` before the ring tests");
  }
});

// ── one thread ────────────────────────────────────────────────────────────────────────────────

describe("BatchRing contract (one thread)", () => {
  it("create() accepts only power-of-two slot counts ≥ 2", () => {
    for (const slots of [0, 1, 3, 6, 2.5, -2, NaN]) {
      expect(() => BatchRing.create(testLayout(1), slots)).toThrow(RangeError);
    }
    expect(() => BatchRing.create(testLayout(1), 3)).toThrow(/power of two ≥ 2, got 3/);
    for (const slots of [2, 4, 64]) expect(BatchRing.create(testLayout(1), slots).slots).toBe(slots);
  });

  it("starts empty: peek is -1, acquire gives slot 0, counts are zero", () => {
    const ring = ringAt(4, 3);
    expect(ring.capacity).toBe(3);
    expect(ring.peek()).toBe(-1);
    expect(ring.readable()).toBe(0);
    expect(ring.writable()).toBe(4);
    expect(ring.fill()).toBe(0);
    expect(ring.isClosed()).toBe(false);
    expect(ring.acquire()).toBe(0);
    expect(ring.acquire()).toBe(0); // acquire does not change the ring
    expect(ring.readable()).toBe(0);
    expect(ring.peek()).toBe(-1);
  });

  it("hands out slots in order, counts published batches, and says full with -1", () => {
    const slots = 4;
    const ring = ringAt(slots, 2);
    for (let k = 0; k < slots; k++) {
      expect(ring.acquire()).toBe(k);
      writeBatch(ring, k, k, 10 * k, 2);
      ring.publish();
      expect(ring.readable()).toBe(k + 1);
      expect(ring.writable()).toBe(slots - k - 1);
    }
    expect(ring.acquire()).toBe(-1);
    expect(ring.acquire()).toBe(-1);
    expect(ring.fill()).toBe(1);
    expect(ring.waitWritable(1)).toBe(false); // bounded: times out rather than blocking
    for (let k = 0; k < slots; k++) {
      expect(ring.peek()).toBe(k);
      expect(ring.peek()).toBe(k); // peek does not consume
      expect(checkBatch(ring, k, k, 10 * k, 2)).toBeNull();
      ring.release();
      expect(ring.readable()).toBe(slots - k - 1);
    }
    expect(ring.peek()).toBe(-1);
    expect(ring.waitReadable(1)).toBe(false);
    expect(ring.acquire()).toBe(0); // HEAD = 4 → slot 0 again
  });

  it("frees exactly the released slot, and a producer with a stale view re-reads TAIL only when full", () => {
    const created = ringAt(2, 1);
    const producer = new BatchRing(structuredClone(created.handle));
    const consumer = new BatchRing(structuredClone(created.handle));
    producer.acquire(); producer.publish();
    producer.acquire(); producer.publish();
    expect(producer.acquire()).toBe(-1);
    expect(consumer.readable()).toBe(2);
    expect(consumer.peek()).toBe(0);
    consumer.release();
    expect(producer.acquire()).toBe(0); // re-read TAIL: one slot free
    producer.publish();
    expect(producer.acquire()).toBe(-1);
    expect(consumer.peek()).toBe(1);
    consumer.release();
    expect(consumer.peek()).toBe(0);
    consumer.release();
    expect(consumer.peek()).toBe(-1);
    expect(producer.writable()).toBe(2);
  });

  it("shows a second instance (attached from a cloned handle) the same columns and header", () => {
    const producer = ringAt(4, 5);
    const consumer = new BatchRing(structuredClone(producer.handle));
    for (let b = 0; b < 3; b++) {
      const slot = producer.acquire();
      writeBatch(producer, slot, b, b * 5, b + 1);
      producer.publish();
    }
    for (let b = 0; b < 3; b++) {
      const slot = consumer.peek();
      expect(slot).toBe(b);
      expect(checkBatch(consumer, slot, b, b * 5, b + 1)).toBeNull();
      consumer.release();
    }
  });

  it("close(): batches published before it stay readable; afterwards an empty ring reads as ended without waiting", () => {
    const producer = ringAt(4, 2);
    const consumer = new BatchRing(producer.handle);
    for (let b = 0; b < 2; b++) {
      writeBatch(producer, producer.acquire(), b, 2 * b, 2);
      producer.publish();
    }
    producer.close();
    expect(consumer.isClosed()).toBe(true);
    expect(producer.isClosed()).toBe(true);
    const hooked = recordWaits(consumer);
    try {
      for (let b = 0; b < 2; b++) {
        expect(consumer.waitReadable(WAIT_MS)).toBe(true);
        expect(checkBatch(consumer, consumer.peek(), b, 2 * b, 2)).toBeNull();
        consumer.release();
      }
      expect(consumer.peek()).toBe(-1);
      expect(consumer.waitReadable(WAIT_MS)).toBe(false);
      expect(hooked.waits).toEqual([]); // closed and empty: no Atomics.wait at all
    } finally {
      hooked.restore();
    }
  });

  it("waitReadableAsync on a closed, empty ring resolves false without waiting", async () => {
    const ring = ringAt(2, 1);
    ring.close();
    const hooked = recordWaits(ring);
    try {
      expect(await ring.waitReadableAsync(WAIT_MS)).toBe(false);
      expect(hooked.asyncWaits).toEqual([]);
    } finally {
      hooked.restore();
    }
  });

  it("acquireBlocking returns a free slot at once and throws RingStalledError when the consumer never releases", () => {
    const ring = ringAt(2, 1);
    expect(ring.acquireBlocking(10, "test ring")).toBe(0);
    ring.publish();
    expect(ring.acquireBlocking(10, "test ring")).toBe(1);
    ring.publish();
    let error: unknown;
    try {
      ring.acquireBlocking(60, "test ring");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RingStalledError);
    expect((error as RingStalledError).code).toBe("ERR_RING_STALLED");
    expect((error as Error).message).toMatch(/^test ring: no free slot in 60 ms/);
  });

  describe("32-bit counter wrap", () => {
    /** A seeded walk of acquire/publish and peek/release checked against a model queue. */
    function walk(start: number, slots: number, steps: number, seed: number): void {
      const producer = ringAt(slots, 3, start);
      const consumer = new BatchRing(producer.handle);
      const mask = slots - 1;
      const rand = mulberry32(seed);
      let produced = 0, consumed = 0, records = 0;
      const firsts: number[] = [];
      const sizes: number[] = [];
      for (let k = 0; k < steps; k++) {
        if (rand() % 2 === 0) {
          const slot = producer.acquire();
          if (produced - consumed === slots) {
            expect(slot, `step ${k}: full ring`).toBe(-1);
            continue;
          }
          expect(slot, `step ${k}: producer slot`).toBe((start + produced) & mask);
          const n = rand() % 4;
          writeBatch(producer, slot, produced, records, n);
          firsts.push(records); sizes.push(n);
          records += n;
          producer.publish();
          produced++;
        } else {
          const slot = consumer.peek();
          if (produced === consumed) {
            expect(slot, `step ${k}: empty ring`).toBe(-1);
            continue;
          }
          expect(slot, `step ${k}: consumer slot`).toBe((start + consumed) & mask);
          expect(checkBatch(consumer, slot, consumed, firsts[consumed]!, sizes[consumed]!)).toBeNull();
          consumer.release();
          consumed++;
        }
        expect(consumer.readable()).toBe(produced - consumed);
        expect(producer.writable()).toBe(slots - (produced - consumed));
      }
      const ctrl = control(producer);
      expect(ctrl[HEAD]).toBe((start + produced) | 0);
      expect(ctrl[TAIL]).toBe((start + consumed) | 0);
      // The walk must have crossed the wrap it was placed next to.
      expect(produced).toBeGreaterThan(64);
      expect(consumed).toBeGreaterThan(64);
    }

    it.each([
      ["0", 0],
      ["2^31 (int32 overflow)", 2 ** 31 - 17],
      ["2^32 (back to 0)", 2 ** 32 - 17],
    ])("walks across %s with 2, 4 and 8 slots", (_name, start) => {
      for (const slots of [2, 4, 8]) walk(start, slots, 3000, 0xc0ffee + slots);
    });

    it("reads a full ring correctly when HEAD has wrapped and TAIL has not", () => {
      const created = BatchRing.create(testLayout(1), 4);
      const ctrl = control(created);
      ctrl[HEAD] = 1; // 2^32 + 1 published …
      ctrl[TAIL] = -3; // … 2^32 - 3 released: 4 batches in flight
      const ring = new BatchRing(created.handle);
      expect(ring.readable()).toBe(4);
      expect(ring.writable()).toBe(0);
      expect(ring.acquire()).toBe(-1);
      expect(ring.peek()).toBe(1); // (2^32 - 3) mod 4
      ring.release();
      expect(ring.acquire()).toBe(1); // HEAD 1 → slot 1
      expect(ring.peek()).toBe(2);
    });
  });

  describe("publishDeferred: small batches wake a sleeping consumer once they hold enough records", () => {
    /** A consumer asleep on the flag as waitReadable leaves it; the producer's view of the flag. */
    function sleeping(): { producer: BatchRing; flag: () => number } {
      const producer = ringAt(8, 4);
      const ctrl = new Int32Array(producer.handle.buffer, 0, CONTROL_BYTES / 4);
      Atomics.store(ctrl, CONSUMER_SLEEPING, 1);
      return { producer, flag: () => Atomics.load(ctrl, CONSUMER_SLEEPING) };
    }

    it("leaves the consumer asleep below the threshold (records + 1 per batch) and wakes it at it", () => {
      const { producer, flag } = sleeping();
      producer.acquire(); producer.publishDeferred(3, 10); // 4
      producer.acquire(); producer.publishDeferred(4, 10); // 9
      expect(flag()).toBe(1);
      expect(producer.published).toBe(2); // published all the same: an awake consumer reads them
      producer.acquire(); producer.publishDeferred(0, 10); // 10
      expect(flag()).toBe(0);
    });

    it("wakeDeferred() wakes it for what is pending, and only then", () => {
      const { producer, flag } = sleeping();
      producer.wakeDeferred();
      expect(flag()).toBe(1); // nothing deferred: no notify
      producer.acquire(); producer.publishDeferred(2, 64);
      expect(flag()).toBe(1);
      producer.wakeDeferred();
      expect(flag()).toBe(0);
    });

    it("a publish() wakes it and settles what was deferred", () => {
      const { producer, flag } = sleeping();
      producer.acquire(); producer.publishDeferred(2, 64);
      producer.acquire(); producer.publish();
      expect(flag()).toBe(0);
      const ctrl = new Int32Array(producer.handle.buffer, 0, CONTROL_BYTES / 4);
      Atomics.store(ctrl, CONSUMER_SLEEPING, 1);
      producer.wakeDeferred(); // the count started over at the publish()
      expect(flag()).toBe(1);
    });

    it("a consumer waiting in waitReadableAsync sees the batches once woken", async () => {
      const consumer = ringAt(8, 4);
      const producer = new BatchRing(consumer.handle);
      const waiting = consumer.waitReadableAsync(WAIT_MS);
      const t0 = performance.now();
      setTimeout(() => { producer.acquire(); producer.publishDeferred(1, 64); setTimeout(() => producer.wakeDeferred(), 30); }, 5);
      expect(await waiting).toBe(true);
      expect(performance.now() - t0).toBeLessThan(WAIT_MS);
      expect(consumer.readable()).toBe(1);
    });
  });

  describe("queuedRecords: what the producer has published and the consumer not released", () => {
    it("counts each batch's records until its slot is released, over many laps of the ring", () => {
      const producer = ringAt(4, 8);
      const consumer = new BatchRing(producer.handle);
      const model: number[] = [];
      let next = 1;
      for (let step = 0; step < 200; step++) {
        // Publish while there is room (a batch of 1..8 records), release one or two in between.
        if (step % 3 !== 2 && producer.acquire() >= 0) {
          const n = next++ % 9;
          producer.publish(n);
          model.push(n);
        } else {
          for (let k = 0; k < 1 + (step % 2) && consumer.peek() >= 0; k++) { consumer.release(); model.shift(); }
        }
        expect(producer.queuedRecords()).toBe(model.reduce((a, b) => a + b, 0));
      }
      expect(next).toBeGreaterThan(4 * 8); // many laps
    });

    it("counts publishDeferred() batches, and a slot reused before the producer looked at TAIL", () => {
      const producer = ringAt(2, 8);
      const consumer = new BatchRing(producer.handle);
      producer.acquire(); producer.publishDeferred(3, 64);
      producer.acquire(); producer.publish(5);
      consumer.peek(); consumer.release();
      // acquire() sees the freed slot; the publish into it must not be taken off for the old batch.
      expect(producer.acquire()).toBeGreaterThanOrEqual(0);
      producer.publish(7);
      expect(producer.queuedRecords()).toBe(12);
    });

    it("waitReleaseAsync ends when the consumer releases a batch", async () => {
      const producer = ringAt(8, 4);
      const consumer = new BatchRing(producer.handle);
      producer.acquire(); producer.publish(4);
      expect(producer.queuedRecords()).toBe(4);
      const t0 = performance.now();
      setTimeout(() => { consumer.peek(); consumer.release(); }, 5);
      await producer.waitReleaseAsync(WAIT_MS);
      expect(performance.now() - t0).toBeLessThan(WAIT_MS); // not its timeout: woken by the release
      expect(producer.queuedRecords()).toBe(0);
    });
  });

  describe("no lost wake-up when the peer moves between the last check and the sleep", () => {
    // These hook the order of loads inside the wait methods: if the hook does not fire, the test
    // fails so it is rewritten rather than silently passing.
    it("publish() lands after waitReadable read HEAD", () => {
      const consumer = ringAt(4, 2, 0, { spin: 0 });
      const producer = new BatchRing(consumer.handle);
      const hooked = hookLoad(consumer, HEAD, 0, () => {
        writeBatch(producer, producer.acquire(), 0, 0, 2);
        producer.publish();
      });
      let readable: boolean;
      try {
        readable = consumer.waitReadable(2_000);
      } finally {
        hooked.restore();
      }
      expect(hooked.fired).toBe(true);
      expect(hooked.waits).not.toContain("timed-out");
      expect(readable).toBe(true);
      expect(checkBatch(consumer, consumer.peek(), 0, 0, 2)).toBeNull();
    });

    it("close() lands after waitReadable read CLOSED", () => {
      const consumer = ringAt(4, 2, 0, { spin: 0 });
      const producer = new BatchRing(consumer.handle);
      const hooked = hookLoad(consumer, CLOSED, 0, () => producer.close());
      let readable: boolean;
      try {
        readable = consumer.waitReadable(2_000);
      } finally {
        hooked.restore();
      }
      expect(hooked.fired).toBe(true);
      expect(hooked.waits).not.toContain("timed-out");
      expect(readable).toBe(false);
      expect(consumer.isClosed()).toBe(true);
    });

    it("release() lands after waitWritable read TAIL", () => {
      const producer = ringAt(2, 1, 0, { spin: 0 });
      const consumer = new BatchRing(producer.handle);
      producer.acquire(); producer.publish();
      producer.acquire(); producer.publish();
      const hooked = hookLoad(producer, TAIL, 0, () => {
        consumer.peek();
        consumer.release();
      });
      let writable: boolean;
      try {
        writable = producer.waitWritable(2_000);
      } finally {
        hooked.restore();
      }
      expect(hooked.fired).toBe(true);
      expect(hooked.waits).not.toContain("timed-out");
      expect(writable).toBe(true);
      expect(producer.acquire()).toBe(0);
    });

    it("publish() lands after waitReadableAsync read HEAD", async () => {
      const consumer = ringAt(4, 2);
      const producer = new BatchRing(consumer.handle);
      // skip 1: the first HEAD load is the peek() that waitReadableAsync starts with.
      const hooked = hookLoad(consumer, HEAD, 1, () => {
        writeBatch(producer, producer.acquire(), 0, 0, 1);
        producer.publish();
      });
      let pending: Promise<boolean>;
      try {
        pending = consumer.waitReadableAsync(2_000);
      } finally {
        hooked.restore();
      }
      expect(await pending).toBe(true);
      expect(hooked.fired).toBe(true);
      for (const r of hooked.asyncWaits) expect(await r).not.toBe("timed-out");
    });

    it("close() lands after waitReadableAsync read CLOSED", async () => {
      const consumer = ringAt(4, 2);
      const producer = new BatchRing(consumer.handle);
      const hooked = hookLoad(consumer, CLOSED, 0, () => producer.close());
      let pending: Promise<boolean>;
      try {
        pending = consumer.waitReadableAsync(2_000);
      } finally {
        hooked.restore();
      }
      expect(await pending).toBe(false);
      expect(hooked.fired).toBe(true);
      for (const r of hooked.asyncWaits) expect(await r).not.toBe("timed-out");
    });

    it("release() lands after waitWritableAsync read TAIL", async () => {
      const producer = ringAt(2, 1);
      const consumer = new BatchRing(producer.handle);
      producer.acquire(); producer.publish();
      producer.acquire(); producer.publish();
      // skip 1: the first TAIL load is the acquire() that waitWritableAsync starts with.
      const hooked = hookLoad(producer, TAIL, 1, () => {
        consumer.peek();
        consumer.release();
      });
      let pending: Promise<boolean>;
      try {
        pending = producer.waitWritableAsync(2_000);
      } finally {
        hooked.restore();
      }
      expect(await pending).toBe(true);
      expect(hooked.fired).toBe(true);
      for (const r of hooked.asyncWaits) expect(await r).not.toBe("timed-out");
    });
  });

  describe("async waits woken by the peer (same thread, from a timer)", () => {
    async function wokenBy(ring: BatchRing, wait: () => Promise<boolean>, peer: () => void): Promise<{ result: boolean; woke: WaitResult[] }> {
      const hooked = recordWaits(ring);
      let pending: Promise<boolean>;
      try {
        pending = wait();
      } finally {
        hooked.restore();
      }
      setTimeout(peer, 5);
      const result = await pending;
      return { result, woke: await Promise.all(hooked.asyncWaits) };
    }

    it("waitReadableAsync wakes on publish", async () => {
      const consumer = ringAt(2, 1);
      const producer = new BatchRing(consumer.handle);
      const r = await wokenBy(consumer, () => consumer.waitReadableAsync(WAIT_MS), () => { producer.acquire(); producer.publish(); });
      expect(r).toEqual({ result: true, woke: ["ok"] });
    });

    it("waitReadableAsync wakes on close", async () => {
      const consumer = ringAt(2, 1);
      const producer = new BatchRing(consumer.handle);
      const r = await wokenBy(consumer, () => consumer.waitReadableAsync(WAIT_MS), () => producer.close());
      expect(r).toEqual({ result: false, woke: ["ok"] });
    });

    it("waitWritableAsync wakes on release", async () => {
      const producer = ringAt(2, 1);
      const consumer = new BatchRing(producer.handle);
      producer.acquire(); producer.publish();
      producer.acquire(); producer.publish();
      const r = await wokenBy(producer, () => producer.waitWritableAsync(WAIT_MS), () => { consumer.peek(); consumer.release(); });
      expect(r).toEqual({ result: true, woke: ["ok"] });
    });
  });
});

describe("OutputWriter (one thread)", () => {
  it("publishes a slot when it fills, flush() publishes the rest, an empty flush() publishes nothing", () => {
    const ring = BatchRing.create(outputLayout(3), 4);
    const reader = new BatchRing(ring.handle);
    const out = new OutputWriter(ring, 1_000);
    for (let k = 0; k < 7; k++) out.window(k, 60_000 * k, k + 1, 10 * k, k, -k, k);
    expect(reader.readable()).toBe(2);
    out.flush();
    expect(reader.readable()).toBe(3);
    out.flush();
    expect(reader.readable()).toBe(3);
    const counts: number[] = [];
    let k = 0;
    for (let slot = reader.peek(); slot >= 0; slot = reader.peek()) {
      const n = reader.header[slot * HEADER_WORDS + H_COUNT]!;
      counts.push(n);
      const c = reader.columns[slot]!;
      for (let i = 0; i < n; i++, k++) {
        expect([c["kind"]![i], c["key"]![i], c["a"]![i], c["b"]![i], c["c"]![i], c["d"]![i], c["e"]![i], c["f"]![i]])
          .toEqual([OUT_WINDOW, k, 60_000 * k, k + 1, 10 * k, k, -k, k]);
      }
      reader.release();
    }
    expect(counts).toEqual([3, 3, 1]);
  });

  it("throws RingStalledError naming the output ring when nobody drains it", () => {
    const ring = BatchRing.create(outputLayout(1), 2);
    const out = new OutputWriter(ring, 50);
    out.marker(OUT_CLOSED, 1);
    out.marker(OUT_CLOSED, 2);
    expect(() => out.marker(OUT_CLOSED, 3)).toThrow(RingStalledError);
    expect(() => out.marker(OUT_CLOSED, 3)).toThrow(/output ring: no free slot in 50 ms/);
  });
});

// ── real threads ──────────────────────────────────────────────────────────────────────────────

describe("BatchRing across worker threads", () => {
  interface Case {
    name: string; slots: number; capacity: number; batches: number; start?: number;
    producer?: Partial<Pace> & { acquireBlocking?: boolean }; consumer?: Partial<Pace>;
    expectProducerBlocked?: boolean; expectConsumerWaited?: boolean;
  }

  const cases: Case[] = [
    { name: "2 slots × 1 record", slots: 2, capacity: 1, batches: 20_000 },
    { name: "2 slots × 2 records", slots: 2, capacity: 2, batches: 20_000 },
    { name: "2 slots × 3 records", slots: 2, capacity: 3, batches: 20_000 },
    { name: "8 slots × 64 records", slots: 8, capacity: 64, batches: 6_000 },
    { name: "2 slots × 3 records, counters from 2^31 - 5000", slots: 2, capacity: 3, batches: 10_000, start: 2 ** 31 - 5_000 },
    { name: "8 slots × 64 records, counters from 2^32 - 2000", slots: 8, capacity: 64, batches: 4_000, start: 2 ** 32 - 2_000 },
    {
      name: "slow consumer: the producer finds the ring full and sleeps (4 × 16)", slots: 4, capacity: 16, batches: 3_000,
      consumer: { pauseChance: 0.02, pauseMs: 1 }, expectProducerBlocked: true,
    },
    {
      name: "slow consumer, producer in acquireBlocking (2 × 3)", slots: 2, capacity: 3, batches: 3_000,
      consumer: { pauseChance: 0.02, pauseMs: 1 }, producer: { acquireBlocking: true }, expectProducerBlocked: true,
    },
    {
      name: "slow producer: the consumer finds the ring empty and sleeps (4 × 16)", slots: 4, capacity: 16, batches: 3_000,
      producer: { pauseChance: 0.02, pauseMs: 1 }, expectConsumerWaited: true,
    },
  ];

  it.each(cases)("$name: no loss, duplication or reordering", async (c) => {
    const ring = ringAt(c.slots, c.capacity, c.start ?? 0);
    const seed = 0x5eed + c.slots * 131 + c.capacity;
    const base = { handle: ring.handle, seed, waitMs: WAIT_MS, limitMs: LIMIT_MS };
    const consumer = startWorker<ConsumeResult>("consumer.mjs", { ...base, ...c.consumer });
    const producer = startWorker<ProduceResult>("producer.mjs", { ...base, batches: c.batches, ...c.producer });
    // The consumer's report first (it stops at the first mismatch); a producer failure ends the wait at once.
    const r = await Promise.race([consumer.result, producer.result.then(() => consumer.result)]);
    expect(r.errors).toEqual([]);
    const p = await producer.result;
    expect(r.batches).toBe(c.batches);
    expect(r.records).toBe(p.records);
    expect(p.longWaits).toBe(0);
    expect(r.longWaits).toBe(0);
    // The ring went round at least 100 times, and its counters are where the batches put them.
    expect(c.batches / c.slots).toBeGreaterThanOrEqual(100);
    const ctrl = control(ring);
    expect(ctrl[HEAD]).toBe(((c.start ?? 0) + c.batches) | 0);
    expect(ctrl[TAIL]).toBe(((c.start ?? 0) + c.batches) | 0);
    if (c.expectProducerBlocked) expect(p.fullSeen).toBeGreaterThan(0);
    if (c.expectConsumerWaited) expect(r.emptySeen).toBeGreaterThan(0);
  });

  it.each([
    { name: "2 × 2, worker producer at full speed", slots: 2, capacity: 2, batches: 5_000, producer: {} },
    { name: "8 × 64, worker producer at full speed", slots: 8, capacity: 64, batches: 2_000, producer: {} },
    { name: "4 × 8, slow worker producer", slots: 4, capacity: 8, batches: 1_000, producer: { pauseChance: 0.05, pauseMs: 1 } },
  ])("main-thread consumer in waitReadableAsync, $name", async (c) => {
    const ring = ringAt(c.slots, c.capacity, 2 ** 32 - 500);
    const seed = 0xa5c + c.capacity;
    const base = { handle: ring.handle, seed, waitMs: WAIT_MS, limitMs: LIMIT_MS };
    const producer = startWorker<ProduceResult>("producer.mjs", { ...base, batches: c.batches, ...c.producer });
    const r = await consumeAsync(ring, { seed, waitMs: WAIT_MS, limitMs: LIMIT_MS }, producer.failed);
    expect(r.errors).toEqual([]);
    const p = await producer.result;
    expect(r.batches).toBe(c.batches);
    expect(r.records).toBe(p.records);
    expect(r.longWaits).toBe(0);
    expect(p.longWaits).toBe(0);
    expect(r.emptySeen).toBeGreaterThan(0); // the main thread did wait for the worker
  });

  it.each([
    { name: "2 × 1, slow worker consumer", slots: 2, capacity: 1, batches: 2_000, consumer: { pauseChance: 0.05, pauseMs: 1 } },
    { name: "8 × 64, worker consumer at full speed", slots: 8, capacity: 64, batches: 3_000, consumer: {} },
  ])("main-thread producer in waitWritableAsync, $name", async (c) => {
    const ring = ringAt(c.slots, c.capacity, 2 ** 31 - 500);
    const seed = 0xb0b + c.capacity;
    const base = { handle: ring.handle, seed, waitMs: WAIT_MS, limitMs: LIMIT_MS };
    const consumer = startWorker<ConsumeResult>("consumer.mjs", { ...base, ...c.consumer });
    const p = await produceAsync(ring, { seed, waitMs: WAIT_MS, limitMs: LIMIT_MS, batches: c.batches }, consumer.failed);
    const r = await consumer.result;
    expect(r.errors).toEqual([]);
    expect(r.batches).toBe(c.batches);
    expect(r.records).toBe(p.records);
    expect(p.longWaits).toBe(0);
    expect(r.longWaits).toBe(0);
    expect(p.fullSeen).toBeGreaterThan(0); // the main thread did wait for the worker
  });

  it("a consumer asleep in waitReadable is woken by publish and by close", async () => {
    const rings = Array.from({ length: 40 }, () => ringAt(2, 1));
    const sync = new Int32Array(new SharedArrayBuffer(4));
    const sleeper = startWorker<Array<{ readable: boolean; closed: boolean; ms: number }>>("sleeper.mjs", {
      handles: rings.map((r) => r.handle), sync: sync.buffer, waitMs: WAIT_MS,
    });
    const rand = mulberry32(7);
    for (let i = 0; i < rings.length; i++) {
      // Wait (bounded) until the worker is about to sleep on ring i, then sometimes give it time to fall asleep.
      const deadline = Date.now() + LIMIT_MS;
      while (Atomics.load(sync, 0) !== i + 1) {
        const e = sleeper.failed();
        if (e) throw e;
        if (Date.now() > deadline) throw new Error(`sleeper did not reach ring ${i} in ${LIMIT_MS} ms`);
        await sleep(0);
      }
      if (rand() % 2 === 0) await sleep(1 + (rand() % 3));
      if (i % 2 === 0) {
        rings[i]!.acquire();
        rings[i]!.publish();
      } else {
        rings[i]!.close();
      }
    }
    const results = await sleeper.result;
    results.forEach((r, i) => {
      expect(r.readable, `ring ${i}`).toBe(i % 2 === 0);
      expect(r.closed, `ring ${i}`).toBe(i % 2 === 1);
      expect(r.ms, `ring ${i}: the wait ran to its ${WAIT_MS} ms limit`).toBeLessThan(0.9 * WAIT_MS);
    });
  });

  it("OutputWriter in a worker: every window, side, ack and marker record comes back exactly, in order", async () => {
    const capacity = 7;
    const ring = BatchRing.create(outputLayout(capacity), 4);
    const kinds = { side: [OUT_INVALID, OUT_ANOMALY, OUT_LATE], marker: [OUT_CLOSED, OUT_ENDED] };
    const count = 20_000;
    const ops = outputOps(0x5157, count, kinds) as Array<[string, ...number[]]>;

    // Reference: what OutputWriter's documented table says each call writes, and where batches end.
    const want: number[][] = [];
    const batches: number[] = [];
    let open = 0;
    for (const [op, ...a] of ops) {
      if (op === "flush") {
        if (open > 0) batches.push(open);
        open = 0;
        continue;
      }
      if (open === capacity) { batches.push(open); open = 0; }
      open++;
      //                              kind        code  key   part  off   a     b     c     d     e     f
      if (op === "window") want.push([OUT_WINDOW, 0, a[0]!, 0, 0, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!]);
      else if (op === "side") want.push([a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!]);
      else if (op === "ack") want.push([OUT_ACK, 0, 0, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, 0]);
      else if (op === "marker") want.push([a[0]!, 0, 0, 0, 0, a[1]!, 0, 0, 0, 0, 0]);
      else throw new Error(`unknown op ${op}`);
    }
    if (open > 0) batches.push(open);
    expect(batches.length / 4).toBeGreaterThanOrEqual(100); // wraps the ring ≥ 100 times

    const writer = startWorker<{ done: boolean }>("output-writer.mjs", { handle: ring.handle, seed: 0x5157, count, kinds, stallLimitMs: LIMIT_MS });
    const fields = ["kind", "code", "key", "part", "off", "a", "b", "c", "d", "e", "f"];
    const pace = mulberry32(99);
    const deadline = Date.now() + LIMIT_MS;
    let batch = 0, record = 0, longWaits = 0;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`output ring not closed within ${LIMIT_MS} ms`);
      const slot = ring.peek();
      if (slot < 0) {
        if (ring.isClosed() && ring.peek() < 0) break;
        const e = writer.failed();
        if (e) throw e;
        const t0 = performance.now();
        if (!(await ring.waitReadableAsync(WAIT_MS)) && !ring.isClosed() && performance.now() - t0 >= 0.9 * WAIT_MS) longWaits++;
        continue;
      }
      const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
      expect(n, `batch ${batch}`).toBe(batches[batch]);
      const cols = ring.columns[slot]!;
      for (let i = 0; i < n; i++, record++) {
        const got = fields.map((f) => cols[f]![i]!);
        const exp = want[record]!;
        for (let f = 0; f < fields.length; f++) {
          if (!Object.is(got[f], exp[f])) expect.fail(`record ${record} (batch ${batch}) field ${fields[f]}: got ${got[f]}, want ${exp[f]}`);
        }
      }
      poison(ring, slot);
      ring.release();
      batch++;
      if (pace() % 64 === 0) await sleep(1); // a slow reader now and then: the writer blocks in acquireBlocking
    }
    await writer.result;
    expect(batch).toBe(batches.length);
    expect(record).toBe(want.length);
    expect(longWaits).toBe(0);
  });
});
