/**
 * The main job (driver-tracking) end to end, against the obvious way to write it.
 *
 *   (a) naive, 2 threads   main: object per event ──postMessage──► worker: validate, haversine,
 *                          late check, ngeohash.encode(lat, lon, 5), Map<string, …> windows
 *   (b) naive, 1 thread    the same objects and logic, no postMessage
 *   (c) kernel chain       ring-slot columns ──► validateFixes ──► DriverTrackingShard.process
 *                          ──► advance ──► ack ──► output ring, drained in the same thread
 *   (d) engine             Coordinator + GeneratorSource + NullSink, W shard workers
 *
 * (a)–(c) replay the same pre-generated batches: DriverGenerator defaults (seed 42) written by
 * GeneratorSource into the slots of an input BatchRing laid out by the pipeline's inputLayout, in
 * the coordinator's order (partition 0, 1, …, 15, 0, …; BATCH records each). Before timing, (b) and
 * (c) run over all batches and must give the same output counts. (d) generates its own events
 * with the same options (generation is part of what it measures).
 *
 * This file is also the worker entry of (a): loaded in a worker thread with NAIVE_ROLE, it runs the
 * naive job on the messages it receives.
 */
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import ngeohash from "ngeohash";
import { Bench } from "tinybench";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { validateFixes } from "../../src/kernels/validate.js";
import { driverTracking } from "../../src/pipelines/driver-tracking/edge.js";
import { DriverTrackingShard } from "../../src/pipelines/driver-tracking/shard.js";
import { inputLayout, type DriverInputColumns } from "../../src/pipelines/driver-tracking/spec.js";
import { H_COUNT, HEADER_WORDS } from "../../src/ring/layout.js";
import {
  OUT_ACK, OUT_ANOMALY, OUT_INVALID, OUT_LATE, OUT_WINDOW, OutputWriter, outputLayout, type OutputColumns,
} from "../../src/ring/output.js";
import { BatchRing } from "../../src/ring/ring.js";
import { NullSink } from "../../src/sinks/sink.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import { tinybenchEventsPerSec, tinybenchNote, tinybenchOptions, type BenchRow } from "../harness.js";

export const groups = ["main job (driver-tracking)"] as const;

const GROUP = groups[0];
const SEED = 42;
/** Records per batch: the coordinator's default batchSize. */
const BATCH = 2048;
/** Pre-generated batches (a power of two: they live in one BatchRing). 256 × 2048 = 524 288 events. */
const SLOTS = 256;
/** Event time added between two replays of the data beyond its span, so no fix looks like a jump. */
const REPLAY_GAP_MS = 120_000;
const NAIVE_ROLE = "riptide-bench:naive-driver-tracking";

// ── The naive job (what (a) and (b) run) ────────────────────────────────────────────────────────

interface FixEvent {
  driverId: string;
  lat: number;
  lon: number;
  ts: number;
  speedKmh: number;
  partition: number;
}

interface NaiveCounts { window: number; invalid: number; anomaly: number; late: number; processed: number }

const R_KM = 6371.0088;
const WINDOW_MS = 60_000;
const GRACE_MS = 10_000;

function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

function invalidReason(e: FixEvent): string | null {
  const { driverId, lat, lon, ts } = e;
  if (typeof driverId !== "string" || driverId.length === 0) return "driverId must be a non-empty string";
  if (typeof lat !== "number" || !Number.isFinite(lat)) return "lat must be a finite number";
  if (typeof lon !== "number" || !Number.isFinite(lon)) return "lon must be a finite number";
  if (typeof ts !== "number" || !Number.isFinite(ts)) return "ts must be a finite number";
  if (lat < -90 || lat > 90) return "lat must be within [-90, 90]";
  if (lon < -180 || lon > 180) return "lon must be within [-180, 180]";
  if (lat === 0 && lon === 0) return "lat and lon are both 0";
  return null;
}

/** driver-tracking written the obvious way: an object per event, string keys, Maps. */
class NaiveDriverTracking {
  private readonly streamTime: number[];
  private watermark = -Infinity;
  private readonly last = new Map<string, { lat: number; lon: number; ts: number }>();
  private readonly windows = new Map<string, { key: string; start: number; count: number; sum: number; n: number }>();
  private minStart = Infinity;
  readonly counts: NaiveCounts = { window: 0, invalid: 0, anomaly: 0, late: 0, processed: 0 };

  constructor(partitions: number) {
    this.streamTime = new Array<number>(partitions).fill(-Infinity);
  }

  private emit(o: { type: string; [field: string]: unknown }): void {
    this.counts[o.type as keyof NaiveCounts]++;
  }

  process(e: FixEvent): void {
    this.counts.processed++;
    const reason = invalidReason(e);
    if (reason !== null) {
      this.emit({ type: "invalid", reason, event: e });
      return;
    }
    const { driverId, lat, lon, ts } = e;
    if (ts > this.streamTime[e.partition]!) {
      this.streamTime[e.partition] = ts;
      this.watermark = Math.min(...this.streamTime);
    }
    const prev = this.last.get(driverId);
    if (prev !== undefined && ts > prev.ts) {
      const kmh = haversineKm(prev.lat, prev.lon, lat, lon) / ((ts - prev.ts) / 3_600_000);
      if (kmh > 250) {
        this.emit({ type: "anomaly", reason: `${kmh.toFixed(1)} km/h`, event: e });
        return;
      }
    }
    const start = Math.floor(ts / WINDOW_MS) * WINDOW_MS;
    if (start + WINDOW_MS + GRACE_MS <= this.watermark) {
      this.emit({ type: "late", reason: "window closed", event: e });
      return;
    }
    const key = ngeohash.encode(lat, lon, 5);
    const wk = `${key}|${start}`;
    let w = this.windows.get(wk);
    if (w === undefined) {
      w = { key, start, count: 0, sum: 0, n: 0 };
      this.windows.set(wk, w);
      if (start < this.minStart) this.minStart = start;
    }
    w.count++;
    const speed = e.speedKmh;
    if (typeof speed === "number" && Number.isFinite(speed)) {
      w.sum += speed;
      w.n++;
    }
    if (prev === undefined || ts > prev.ts) this.last.set(driverId, { lat, lon, ts });
    if (this.watermark >= this.minStart + WINDOW_MS + GRACE_MS) this.close(this.watermark);
  }

  /** Emits every window with end + grace ≤ watermark (Infinity: all). */
  close(watermark: number): void {
    let min = Infinity;
    for (const [wk, w] of this.windows) {
      if (w.start + WINDOW_MS + GRACE_MS <= watermark) {
        this.emit({
          type: "window", key: w.key, windowStart: w.start, windowEnd: w.start + WINDOW_MS, count: w.count,
          avgSpeedKmh: w.n > 0 ? w.sum / w.n : null,
        });
        this.windows.delete(wk);
      } else if (w.start < min) {
        min = w.start;
      }
    }
    this.minStart = min;
  }
}

/** Worker side of (a): `{ctl: "reset"}` starts over, `{ctl: "sync", flush}` answers with the counts. */
function naiveWorker(partitions: number): void {
  let job = new NaiveDriverTracking(partitions);
  parentPort!.on("message", (m: FixEvent | { ctl: string; flush?: boolean }) => {
    if ("ctl" in m) {
      if (m.ctl === "reset") job = new NaiveDriverTracking(partitions);
      else if (m.ctl === "sync") {
        if (m.flush) job.close(Infinity);
        parentPort!.postMessage({ ...job.counts });
      }
      return;
    }
    job.process(m);
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === NAIVE_ROLE) {
  naiveWorker((workerData as { partitions: number }).partitions);
}

// ── Data shared by (a), (b), (c) ────────────────────────────────────────────────────────────────

interface Data {
  ring: BatchRing;
  columns: DriverInputColumns[];
  partition: Int32Array;
  partitions: number;
  names: string[];
  /** Added to every ts when the data is replayed (span of the data + REPLAY_GAP_MS). */
  shift: number;
}

function makeData(): Data {
  const generator = new DriverGenerator({ seed: SEED });
  const source = new GeneratorSource(generator);
  const ring = BatchRing.create(inputLayout(BATCH), SLOTS);
  const columns = ring.columns.map((c) => c as unknown as DriverInputColumns);
  const partition = new Int32Array(SLOTS);
  let lo = Infinity, hi = -Infinity;
  for (let s = 0; s < SLOTS; s++) {
    const p = s % source.partitions;
    partition[s] = p;
    const n = source.fill(p, ring.columns[s]!, BATCH);
    if (n !== BATCH) throw new Error(`driver-tracking bench: the generator wrote ${n} events, not ${BATCH}`);
    const ts = columns[s]!.ts;
    for (let i = 0; i < BATCH; i++) {
      const t = ts[i]!;
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
  }
  const names: string[] = [];
  for (let d = 0; d <= generator.drivers; d++) names.push(generator.driverName(d));
  return { ring, columns, partition, partitions: source.partitions, names, shift: hi - lo + REPLAY_GAP_MS };
}

/** Moves the whole data set forward in event time (between replays; never inside a timed call). */
function shiftData(data: Data): void {
  for (const c of data.columns) {
    const ts = c.ts;
    for (let i = 0; i < BATCH; i++) ts[i] = ts[i]! + data.shift;
  }
}

/** The objects the naive job gets for one batch, made the way a JSON decoder would (one per event). */
function naiveBatch(data: Data, s: number, job: { process(e: FixEvent): void }): void {
  const c = data.columns[s]!;
  const names = data.names;
  const p = data.partition[s]!;
  const { driverId, lat, lon, ts, speedKmh } = c;
  for (let i = 0; i < BATCH; i++) {
    job.process({ driverId: names[driverId[i]!]!, lat: lat[i]!, lon: lon[i]!, ts: ts[i]!, speedKmh: speedKmh[i]!, partition: p });
  }
}

// ── (c) the engine's kernel chain on one thread ─────────────────────────────────────────────────

/** What a shard worker and the coordinator do per batch, minus the rings' cross-thread traffic. */
class KernelChain {
  private readonly shard = new DriverTrackingShard();
  private readonly outRing = BatchRing.create(outputLayout(1024), 64);
  private readonly out = new OutputWriter(this.outRing);
  private readonly streamTime: Float64Array;
  readonly counts: NaiveCounts = { window: 0, invalid: 0, anomaly: 0, late: 0, processed: 0 };

  constructor(private readonly data: Data) {
    this.streamTime = new Float64Array(data.partitions).fill(-Infinity);
  }

  batch(s: number): void {
    const c = this.data.columns[s]!;
    const p = this.data.partition[s]!;
    const st = this.streamTime;
    // The coordinator's edge: the smallest stream time of the other partitions, then validateFixes.
    let otherMin = Infinity;
    for (let q = 0; q < st.length; q++) if (q !== p && st[q]! < otherMin) otherMin = st[q]!;
    st[p] = validateFixes(c.driverId, c.lat, c.lon, c.ts, BATCH, st[p]!, otherMin, c._reason, c._wm);
    // The shard loop.
    const watermark = c._wm[BATCH - 1]!;
    this.shard.process(this.data.ring.columns[s]!, BATCH, p, this.out);
    this.shard.advance(watermark, this.out);
    this.out.ack(p, c._off[BATCH - 1]!, 0, BATCH, 0, s, watermark);
    this.out.flush();
    this.drain();
  }

  /** Emits every open window (end of input). */
  end(): void {
    this.shard.advance(Infinity, this.out);
    this.out.flush();
    this.drain();
  }

  /** The coordinator's side of the output ring, reduced to counting. */
  private drain(): void {
    const ring = this.outRing;
    const counts = this.counts;
    for (let slot = ring.peek(); slot >= 0; slot = ring.peek()) {
      const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
      const kind = (ring.columns[slot] as unknown as OutputColumns).kind;
      const b = (ring.columns[slot] as unknown as OutputColumns).b;
      for (let i = 0; i < n; i++) {
        const k = kind[i]!;
        if (k === OUT_WINDOW) counts.window++;
        else if (k === OUT_ACK) counts.processed += b[i]!;
        else if (k === OUT_INVALID) counts.invalid++;
        else if (k === OUT_ANOMALY) counts.anomaly++;
        else if (k === OUT_LATE) counts.late++;
      }
      ring.release();
    }
  }
}

// ── (a) naive across a worker thread ────────────────────────────────────────────────────────────

async function naivePostMessage(data: Data, batches: number, runs: number): Promise<{ best: number; all: number[]; counts: NaiveCounts }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: NAIVE_ROLE, partitions: data.partitions } });
  const replies: Array<(c: NaiveCounts) => void> = [];
  worker.on("message", (c: NaiveCounts) => replies.shift()?.(c));
  const failed = new Promise<never>((_, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`naive worker exited with code ${code}`)));
  });
  failed.catch(() => {}); // observed through the races below; never an unhandled rejection
  const sync = (flush: boolean): Promise<NaiveCounts> => {
    const reply = new Promise<NaiveCounts>((resolve) => replies.push(resolve));
    worker.postMessage({ ctl: "sync", flush });
    return Promise.race([reply, failed]);
  };
  const post = { process: (e: FixEvent) => worker.postMessage(e) };
  try {
    // Warm-up: both threads' code optimized before the timed runs.
    for (let s = 0; s < 16; s++) naiveBatch(data, s, post);
    await sync(false);
    const all: number[] = [];
    let counts: NaiveCounts | undefined;
    for (let r = 0; r < runs; r++) {
      worker.postMessage({ ctl: "reset" });
      const t0 = performance.now();
      for (let s = 0; s < batches; s++) naiveBatch(data, s, post);
      counts = await sync(true);
      const seconds = (performance.now() - t0) / 1000;
      if (counts.processed !== batches * BATCH) throw new Error(`naive worker processed ${counts.processed} of ${batches * BATCH} events`);
      all.push((batches * BATCH) / seconds);
    }
    return { best: Math.max(...all), all, counts: counts! };
  } finally {
    worker.removeAllListeners("exit");
    await worker.terminate();
  }
}

// ── (d) the whole engine ────────────────────────────────────────────────────────────────────────

async function engineRuns(workers: number, events: number, runs: number): Promise<number[]> {
  const all: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c = new Coordinator({
      pipeline: driverTracking,
      source: new GeneratorSource(new DriverGenerator({ seed: SEED }), events),
      sink: new NullSink(),
      workers,
      batchSize: BATCH,
    });
    const summary = await c.run();
    if (summary.events !== events) throw new Error(`engine run produced ${summary.events} of ${events} events`);
    all.push(summary.eventsPerSec);
  }
  return all;
}

const mps = (x: number): string => (x / 1e6).toFixed(2);

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const data = makeData();
  const rows: BenchRow[] = [];

  // The naive job and the kernel chain must compute the same thing on these batches.
  {
    const naive = new NaiveDriverTracking(data.partitions);
    const chain = new KernelChain(data);
    for (let s = 0; s < SLOTS; s++) {
      naiveBatch(data, s, naive);
      chain.batch(s);
    }
    naive.close(Infinity);
    chain.end();
    const a = JSON.stringify(naive.counts), b = JSON.stringify(chain.counts);
    if (a !== b) throw new Error(`driver-tracking bench: the naive job gives ${a}, the kernel chain ${b}`);
  }

  // (a) naive with postMessage: plain timed runs.
  const naiveBatches = opts.quick ? SLOTS / 2 : SLOTS;
  const naiveRuns = opts.quick ? 1 : 3;
  const a = await naivePostMessage(data, naiveBatches, naiveRuns);
  rows.push({
    group: GROUP, name: "naive: object per event + postMessage + ngeohash + Map", baseline: true, eventsPerSec: a.best,
    note: `timed run (2 threads), ${naiveBatches * BATCH} events posted until the worker confirms all processed; ` +
      (naiveRuns > 1 ? `best of ${naiveRuns} (${a.all.map(mps).join(", ")} M/s)` : "1 run after a warm-up"),
  });

  // (b) naive on one thread and (c) the kernel chain: one tinybench call = one batch.
  const naive = new NaiveDriverTracking(data.partitions);
  const chain = new KernelChain(data);
  let naiveAt = 0, chainAt = 0;
  const bench = new Bench({ name: GROUP, ...tinybenchOptions(opts.quick) });
  bench.add("naive", () => naiveBatch(data, naiveAt++, naive), {
    async: false,
    beforeEach: () => { if (naiveAt === SLOTS) { shiftData(data); naiveAt = 0; } },
  });
  bench.add("chain", () => chain.batch(chainAt++), {
    async: false,
    beforeEach: () => { if (chainAt === SLOTS) { shiftData(data); chainAt = 0; } },
  });
  await bench.run();
  if (naive.counts.processed === 0 || chain.counts.processed === 0) throw new Error("driver-tracking bench: nothing processed");
  const [naiveTask, chainTask] = bench.tasks;
  rows.push({
    group: GROUP, name: "naive without postMessage", baseline: false,
    eventsPerSec: tinybenchEventsPerSec(naiveTask!.result, BATCH),
    note: `one thread; ${tinybenchNote(naiveTask!.result, BATCH)}`,
  });
  rows.push({
    group: GROUP, name: "kernel chain, one thread (typed arrays)", baseline: false,
    eventsPerSec: tinybenchEventsPerSec(chainTask!.result, BATCH),
    note: `the engine's kernel chain: validateFixes + DriverTrackingShard.process + advance + ack, output drained in-thread; ` +
      tinybenchNote(chainTask!.result, BATCH),
  });

  // (d) the engine, generator included.
  const events = opts.quick ? 5_000_000 : 30_000_000;
  const runs = opts.quick ? 2 : 3;
  for (let w = 1; w <= availableParallelism(); w++) {
    const all = await engineRuns(w, events, runs);
    rows.push({
      group: GROUP, name: `engine in-process, generator included, ${w} worker${w === 1 ? "" : "s"}`, baseline: false,
      eventsPerSec: Math.max(...all),
      note: `timed runs of ${events / 1e6} M events (Coordinator summary: first event → last ack); best of ${runs} ` +
        `(${all.map(mps).join(", ")} M/s)`,
    });
  }
  return rows;
}
