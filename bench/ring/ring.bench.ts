// Thread handoff: records moved from the main thread to one worker thread and counted there.
//
//   main thread (producer)                             worker thread (counts records, sums lat)
//   ──────────────────────                             ────────────────────────────────────────
//   (a) postMessage({driverId, lat, lon, ts})   ──►    'message' handler, once per record
//   (b) piscina.run(Float64Array, transfer)     ──►    task function, once per 1024 records
//   (c) ringbuf.js RingBuffer.push(Float64[])   ──►    pop() into a scratch array (SAB; polls)
//   (d) BatchRing acquire · copy · publish      ──►    peek · sum a column · release (SAB)
//   (e) (d) with the driver-tracking input layout (8 columns copied per record)
//
// Figure = records / wall time from the start of a run until the worker reports that it has them
// all (and their lat sum matches: lat values are quarter degrees, so the sum is exact). tinybench
// does not fit a cross-thread pipeline (a "call" would be a whole run), so each variant gets one
// warm-up run and 3 timed runs on the same worker; the median is reported.
//
//   npm run build && node dist/bench/ring/ring.bench.js [--quick]

import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import { RingBuffer } from "ringbuf.js";
import { formatTable, machine, machineLine, type BenchRow } from "../harness.js";
import { inputLayout } from "../../src/pipelines/driver-tracking/spec.js";
import { H_COUNT, HEADER_WORDS } from "../../src/ring/layout.js";
import { BatchRing } from "../../src/ring/ring.js";
import { compileLayout, type ColumnArray, type FieldSpec, type RecordLayout } from "../../src/schema/schema.js";
import type { HandoffDone, HandoffStart } from "./handoff-worker.js";

/** The groups this module reports (the suite runner's --only filter reads it). */
export const groups = ["thread handoff"] as const;

const GROUP = groups[0];
/** Records of the source pool the producers copy from, cyclically (a multiple of every batch). */
const POOL = 65_536;
const RING_BATCH = 2048;
const RING_SLOTS = 8;
const PISCINA_BATCH = 1024;
/** Piscina tasks in flight at once (enough to keep its one thread busy). */
const PISCINA_WINDOW = 8;
/** ringbuf.js capacity in Float64 elements: the same bytes as an 8 × 2048 × 4-column BatchRing. */
const RINGBUF_ELEMENTS = RING_SLOTS * RING_BATCH * 4;
/** Limit of one run (every wait on the other thread is bounded by it). */
const RUN_LIMIT_MS = 120_000;
const TIMED_RUNS = 3;

/** The 4-field record of (a)–(d): an interned driver id and three f64. */
const FOUR_FIELDS: readonly FieldSpec[] = [
  { name: "driverId", type: "string" },
  { name: "lat", type: "f64" },
  { name: "lon", type: "f64" },
  { name: "ts", type: "f64" },
];

/** Records per run, by variant (quick runs aim at ~1 s each on a 2-core machine). */
function recordsPerRun(quick: boolean): Record<"post" | "piscina" | "ringbuf" | "batchring" | "driver", number> {
  const k = quick ? 1 : 4;
  return { post: k * 262_144, piscina: k * 4_194_304, ringbuf: k * 8_388_608, batchring: k * 67_108_864, driver: k * 33_554_432 };
}

/** Source columns for every field any variant copies: POOL records, seeded, lat in quarter degrees. */
function sourcePool(): Record<string, ColumnArray> {
  const pool: Record<string, ColumnArray> = {};
  const fields = [...FOUR_FIELDS, ...inputLayout(1).columns.map((c) => ({ name: c.name, type: c.type }))];
  for (const f of fields) {
    if (pool[f.name]) continue;
    pool[f.name] = f.type === "u8" ? new Uint8Array(POOL) : f.type === "string" || f.type === "u32" ? new Uint32Array(POOL) : new Float64Array(POOL);
  }
  for (let r = 0; r < POOL; r++) {
    pool["driverId"]![r] = 1 + ((r * 2654435761) >>> 0) % 50_000;
    pool["lat"]![r] = ((r * 7) % 721) / 4 - 90;
    pool["lon"]![r] = ((r * 13) % 1441) / 4 - 180;
    pool["ts"]![r] = 1.7e12 + r * 10;
    pool["speedKmh"]![r] = (r % 1200) / 10;
    pool["_off"]![r] = r;
    pool["_wm"]![r] = 1.7e12 + r * 10 - 5_000;
  }
  return pool;
}

/** The lat sum the worker must report for `records` records taken cyclically from the pool. */
function expectedLatSum(lat: Float64Array, records: number): number {
  let pool = 0;
  for (let r = 0; r < POOL; r++) pool += lat[r]!;
  let rest = 0;
  for (let r = 0; r < records % POOL; r++) rest += lat[r]!;
  return pool * Math.floor(records / POOL) + rest;
}

/** A worker running handoff-worker.js; `next()` resolves with its next reply or rejects if it dies. */
class HandoffWorker {
  private readonly worker = new Worker(new URL("./handoff-worker.js", import.meta.url));
  private waiting: { resolve: (d: HandoffDone) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor() {
    this.worker.on("message", (d: HandoffDone) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve(d);
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      this.waiting?.reject(e);
      this.waiting = undefined;
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`handoff worker exited with code ${code}`)));
  }

  /** Sends the start of a run; the returned promise settles with the worker's reply (bounded). */
  start(msg: HandoffStart): Promise<HandoffDone> {
    if (this.failure) return Promise.reject(this.failure);
    const done = new Promise<HandoffDone>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`handoff worker did not report within ${RUN_LIMIT_MS} ms`)), RUN_LIMIT_MS);
      this.waiting = {
        resolve: (d) => { clearTimeout(timer); resolve(d); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
    this.worker.postMessage(msg);
    return done;
  }

  post(value: unknown): void {
    this.worker.postMessage(value);
  }

  failed(): Error | undefined {
    return this.failure;
  }

  async close(): Promise<void> {
    this.waiting = undefined;
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

/** One run of a variant: moves `records` records and resolves with what the worker counted. */
type RunOnce = (records: number) => Promise<HandoffDone>;

interface Measured { eventsPerSec: number; runs: number[] }

/** One warm-up run (1/8 of the records), then TIMED_RUNS timed runs; checks every reply. */
async function measure(name: string, records: number, once: RunOnce, lat: Float64Array): Promise<Measured> {
  const check = (d: HandoffDone, n: number): void => {
    if (d.records !== n || d.latSum !== expectedLatSum(lat, n)) {
      throw new Error(`${name}: the worker counted ${d.records} records (lat sum ${d.latSum}); sent ${n} (lat sum ${expectedLatSum(lat, n)})`);
    }
  };
  const warm = Math.max(POOL, records / 8);
  check(await once(warm), warm);
  const runs: number[] = [];
  for (let k = 0; k < TIMED_RUNS; k++) {
    const t0 = performance.now();
    const d = await once(records);
    const seconds = (performance.now() - t0) / 1000;
    check(d, records);
    runs.push(records / seconds);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { eventsPerSec: sorted[Math.floor(sorted.length / 2)]!, runs };
}

function note(records: number, m: Measured, how: string): string {
  const runs = m.runs.map((r) => (r / 1e6).toFixed(r >= 1e7 ? 1 : 2)).join(", ");
  return `median of ${TIMED_RUNS} timed runs × ${(records / 2 ** 20).toFixed(records >= 2 ** 20 ? 0 : 2)} Mi records (${runs} M/s); ${how}`;
}

// ── (a) postMessage per record ───────────────────────────────────────────────────────────────

function postMessageRun(worker: HandoffWorker, pool: Record<string, ColumnArray>): RunOnce {
  const { driverId, lat, lon, ts } = pool as Record<string, Float64Array>;
  return async (records) => {
    const done = worker.start({ mode: "post", records });
    for (let r = 0; r < records; r++) {
      const i = r & (POOL - 1);
      worker.post({ driverId: driverId![i]!, lat: lat![i]!, lon: lon![i]!, ts: ts![i]! });
    }
    return done;
  };
}

// ── (b) Piscina, one task per batch ──────────────────────────────────────────────────────────

function piscinaRun(pool: Piscina, source: Record<string, ColumnArray>): RunOnce {
  const { driverId, lat, lon, ts } = source as Record<string, Float64Array>;
  return async (records) => {
    const inFlight: Array<Promise<HandoffDone>> = [];
    let got = 0;
    let latSum = 0;
    const take = async (): Promise<void> => {
      const d = await inFlight.shift()!;
      got += d.records;
      latSum += d.latSum;
    };
    for (let r = 0; r < records; r += PISCINA_BATCH) {
      if (inFlight.length >= PISCINA_WINDOW) await take();
      const batch = new Float64Array(PISCINA_BATCH * 4); // transferred away: a fresh one per task
      for (let k = 0, i = r & (POOL - 1); k < batch.length; k += 4, i++) {
        batch[k] = driverId![i]!; batch[k + 1] = lat![i]!; batch[k + 2] = lon![i]!; batch[k + 3] = ts![i]!;
      }
      inFlight.push(pool.run(batch, { transferList: [batch.buffer] }) as Promise<HandoffDone>);
    }
    while (inFlight.length > 0) await take();
    return { records: got, latSum };
  };
}

// ── (c) ringbuf.js ───────────────────────────────────────────────────────────────────────────

function ringbufRun(worker: HandoffWorker, pool: Record<string, ColumnArray>): RunOnce {
  const { driverId, lat, lon, ts } = pool as Record<string, Float64Array>;
  const scratch = new Float64Array(RING_BATCH * 4);
  return async (records) => {
    const sab = RingBuffer.getStorageForCapacity(RINGBUF_ELEMENTS, Float64Array);
    const rb = new RingBuffer(sab, Float64Array);
    const done = worker.start({ mode: "ringbuf", records, sab, limitMs: RUN_LIMIT_MS });
    const deadline = Date.now() + RUN_LIMIT_MS;
    let idle = 0;
    for (let r = 0; r < records; r += RING_BATCH) {
      for (let k = 0, i = r & (POOL - 1); k < scratch.length; k += 4, i++) {
        scratch[k] = driverId![i]!; scratch[k + 1] = lat![i]!; scratch[k + 2] = lon![i]!; scratch[k + 3] = ts![i]!;
      }
      // push() takes what fits; poll for the rest (ringbuf.js has no wait). Bounded by the run limit.
      for (let off = 0; off < scratch.length;) {
        const n = rb.push(scratch, scratch.length - off, off);
        off += n;
        if (n === 0 && (++idle & 0xffff) === 0) {
          const e = worker.failed();
          if (e) throw e;
          if (Date.now() > deadline) throw new Error(`ringbuf.js producer: no room within ${RUN_LIMIT_MS} ms; the consumer stalled`);
        }
      }
    }
    return done;
  };
}

// ── (d), (e) BatchRing ───────────────────────────────────────────────────────────────────────

function batchRingRun(worker: HandoffWorker, layout: RecordLayout, pool: Record<string, ColumnArray>): RunOnce {
  // Source views per pool offset and column, made once: the hot loop copies with set() and allocates nothing.
  const sources: ColumnArray[][] = [];
  for (let o = 0; o < POOL; o += layout.capacity) {
    sources.push(layout.columns.map((c) => pool[c.name]!.subarray(o, o + layout.capacity)));
  }
  return async (records) => {
    const ring = BatchRing.create(layout, RING_SLOTS);
    const targets = ring.columns.map((cols) => layout.columns.map((c) => cols[c.name]!));
    const header = ring.header;
    const done = worker.start({ mode: "batchring", records, handle: ring.handle, limitMs: RUN_LIMIT_MS });
    const deadline = Date.now() + RUN_LIMIT_MS;
    for (let r = 0, b = 0; r < records; r += layout.capacity, b++) {
      let slot = ring.acquire();
      while (slot < 0) {
        // The coordinator's way: wait without blocking the event loop, bounded.
        await ring.waitWritableAsync(50);
        slot = ring.acquire();
        if (slot < 0) {
          const e = worker.failed();
          if (e) throw e;
          if (Date.now() > deadline) throw new Error(`BatchRing producer: no free slot within ${RUN_LIMIT_MS} ms; the consumer stalled`);
        }
      }
      const to = targets[slot]!;
      const from = sources[b % sources.length]!;
      for (let c = 0; c < to.length; c++) to[c]!.set(from[c]!);
      header[slot * HEADER_WORDS + H_COUNT] = layout.capacity;
      ring.publish();
    }
    ring.close();
    return done;
  };
}

// ── the module ───────────────────────────────────────────────────────────────────────────────

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const pool = sourcePool();
  const lat = pool["lat"] as Float64Array;
  const n = recordsPerRun(opts.quick);
  const rows: BenchRow[] = [];

  const onWorker = async (fn: (w: HandoffWorker) => Promise<void>): Promise<void> => {
    const w = new HandoffWorker();
    try {
      await fn(w);
    } finally {
      await w.close();
    }
  };

  await onWorker(async (w) => {
    const m = await measure("postMessage", n.post, postMessageRun(w, pool), lat);
    rows.push({
      group: GROUP, name: "postMessage, one message per record", baseline: true, eventsPerSec: m.eventsPerSec,
      note: note(n.post, m, "an object {driverId, lat, lon, ts} per message, structured-cloned"),
    });
  });

  const piscina = new Piscina({
    filename: new URL("./piscina-task.js", import.meta.url).href,
    minThreads: 1,
    maxThreads: 1,
  });
  try {
    const m = await measure("Piscina", n.piscina, piscinaRun(piscina, pool), lat);
    rows.push({
      group: GROUP, name: `Piscina, one run() per ${PISCINA_BATCH}-record batch`, baseline: false, eventsPerSec: m.eventsPerSec,
      note: note(n.piscina, m, `Float64Array transferred, ${PISCINA_WINDOW} tasks in flight, 1 thread`),
    });
  } finally {
    await piscina.destroy();
  }

  await onWorker(async (w) => {
    const m = await measure("ringbuf.js", n.ringbuf, ringbufRun(w, pool), lat);
    rows.push({
      group: GROUP, name: `ringbuf.js RingBuffer, ${RING_BATCH}-record pushes`, baseline: false, eventsPerSec: m.eventsPerSec,
      note: note(n.ringbuf, m, `Float64 stream of 4-value records, ${RINGBUF_ELEMENTS * 8 / 1024} KiB; both sides poll (no wait in ringbuf.js); pop() copies element by element`),
    });
  });

  await onWorker(async (w) => {
    const layout = compileLayout(FOUR_FIELDS, RING_BATCH);
    const m = await measure("BatchRing", n.batchring, batchRingRun(w, layout, pool), lat);
    rows.push({
      group: GROUP, name: `BatchRing ${RING_SLOTS} × ${RING_BATCH}, 4 columns`, baseline: false, eventsPerSec: m.eventsPerSec,
      note: note(n.batchring, m, "columns copied in with set(); producer waits in waitWritableAsync, worker sums lat"),
    });
  });

  await onWorker(async (w) => {
    const layout = inputLayout(RING_BATCH);
    const m = await measure("BatchRing (driver input)", n.driver, batchRingRun(w, layout, pool), lat);
    rows.push({
      group: GROUP, name: `BatchRing ${RING_SLOTS} × ${RING_BATCH}, driver-tracking input layout`, baseline: false, eventsPerSec: m.eventsPerSec,
      note: note(n.driver, m, `all ${layout.columns.length} columns (${layout.bytesPerRecord} B/record) copied in; worker sums lat`),
    });
  });

  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(`${formatTable(rows)}\n\n${machineLine(machine())}`);
}
