/**
 * Window count + sum: a `Map` keyed by `${region}|${windowStart}` holding {count, sum} objects (the
 * obvious way) against the engine's WindowTable (typed-array open addressing).
 *
 * Same pre-generated data for both: region ids drawn (seeded) from 2000 distinct geohash-5 codes,
 * event times advancing ~0.6 ms per event with up to 5 s of jitter, so a 60 s window holds ~100 k
 * events and windows close as time moves. One tinybench call = one batch of BATCH events followed
 * by the close of every window whose end + grace the batch's watermark has passed (both sides).
 * When the data runs out it is replayed shifted forward in time (outside the timed calls).
 *
 * Also: the native window-table kernel (windowAddBatchFast, native-bindings/) on the same table
 * layout, after a JS pass that computes the window starts and the watermark, when the addon is
 * built; and the copy-rate bounds (bandwidth.ts) for the bytes each update touches.
 */
import { Bench } from "tinybench";
import { loadNativeKernels, windowAddBatchFast } from "../../src/kernels/native.js";
import { WindowTable } from "../../src/kernels/window-table.js";
import { tinybenchEventsPerSec, tinybenchNote, tinybenchOptions, type BenchRow } from "../harness.js";
import { boundRows, ofBound } from "./bandwidth.js";

export const groups = ["window count+sum"] as const;

const GROUP = groups[0];
const EVENTS = 1 << 20;
const BATCH = 4096;
const REGIONS = 2000;
const SIZE_MS = 60_000;
const GRACE_MS = 10_000;
const MS_PER_EVENT = 0.6;
const JITTER_MS = 5000;

/** sfc32, seeded: the same data on every run. */
function rng(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed | 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (((c << 21) | (c >>> 11)) + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

interface Data {
  region: Uint32Array;
  ts: Float64Array;
  value: Float64Array;
  /** Event-time span of the data: replaying adds this much to every ts. */
  span: number;
}

function makeData(): Data {
  const r = rng(42);
  const codes = new Uint32Array(REGIONS);
  for (let i = 0; i < REGIONS; i++) codes[i] = Math.floor(r() * 2 ** 25); // geohash-5 codes are 25 bits
  const region = new Uint32Array(EVENTS);
  const ts = new Float64Array(EVENTS);
  const value = new Float64Array(EVENTS);
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < EVENTS; i++) {
    region[i] = codes[Math.floor(r() * REGIONS)]!;
    ts[i] = Math.floor(t0 + i * MS_PER_EVENT - r() * JITTER_MS);
    value[i] = r() < 0.05 ? NaN : Math.round((10 + r() * 80) * 1e6); // speed in micro-km/h, 5 % missing
  }
  return { region, ts, value, span: Math.ceil(EVENTS * MS_PER_EVENT + JITTER_MS) };
}

/** Replays the data batch by batch; after the last batch, shifts every ts by the data's span. */
class Cursor {
  at = 0;
  constructor(private readonly data: Data) {}
  /** Call outside the timed function: rewinds (and shifts time) when the data is used up. */
  rewindIfDone(): void {
    if (this.at + BATCH <= EVENTS) return;
    const { ts, span } = this.data;
    for (let i = 0; i < EVENTS; i++) ts[i] = ts[i]! + span;
    this.at = 0;
  }
}

interface Entry { count: number; sum: number; n: number }

/** The obvious way: string keys, an object per (region, window), a scan of the Map to close. */
class MapWindows {
  private readonly map = new Map<string, Entry & { region: number; start: number }>();
  private minStart = Infinity;
  closed = 0;
  checksum = 0;

  add(region: number, start: number, value: number): void {
    const key = `${region}|${start}`;
    let e = this.map.get(key);
    if (e === undefined) {
      e = { region, start, count: 0, sum: 0, n: 0 };
      this.map.set(key, e);
      if (start < this.minStart) this.minStart = start;
    }
    e.count++;
    if (value === value) {
      e.sum += value;
      e.n++;
    }
  }

  closeUpTo(watermark: number): void {
    if (watermark < this.minStart + SIZE_MS + GRACE_MS) return;
    let min = Infinity;
    for (const [key, e] of this.map) {
      if (e.start + SIZE_MS + GRACE_MS <= watermark) {
        this.closed++;
        this.checksum += e.count;
        this.map.delete(key);
      } else if (e.start < min) {
        min = e.start;
      }
    }
    this.minStart = min;
  }
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const data = makeData();
  const { region, ts, value } = data;

  // Baseline state.
  const map = new MapWindows();
  const mapCursor = new Cursor(data);
  let mapWatermark = -Infinity;
  // Kernel state.
  const table = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS, initialCapacity: 4096 });
  const sink = {
    closed: 0, checksum: 0,
    window(_key: number, _start: number, count: number): void { this.closed++; this.checksum += count; },
  };
  const tableCursor = new Cursor(data);
  let tableWatermark = -Infinity;
  // Native kernel state.
  const native = loadNativeKernels();
  const nativeTable = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS, initialCapacity: 4096 });
  const nativeCursor = new Cursor(data);
  let nativeWatermark = -Infinity;
  const batchStarts = new Float64Array(BATCH);

  const mapBatch = (): void => {
    const end = mapCursor.at + BATCH;
    let wm = mapWatermark;
    for (let i = mapCursor.at; i < end; i++) {
      const t = ts[i]!;
      if (t > wm) wm = t;
      map.add(region[i]!, Math.floor(t / SIZE_MS) * SIZE_MS, value[i]!);
    }
    mapCursor.at = end;
    mapWatermark = wm;
    map.closeUpTo(wm);
  };
  const tableBatch = (): void => {
    const end = tableCursor.at + BATCH;
    let wm = tableWatermark;
    for (let i = tableCursor.at; i < end; i++) {
      const t = ts[i]!;
      if (t > wm) wm = t;
      table.add(region[i]!, Math.floor(t / SIZE_MS) * SIZE_MS, value[i]!);
    }
    tableCursor.at = end;
    tableWatermark = wm;
    table.closeUpTo(wm, sink);
  };

  const nativeBatch = (): void => {
    const at = nativeCursor.at;
    let wm = nativeWatermark;
    for (let i = 0; i < BATCH; i++) {
      const t = ts[at + i]!;
      if (t > wm) wm = t;
      batchStarts[i] = Math.floor(t / SIZE_MS) * SIZE_MS;
    }
    windowAddBatchFast(nativeTable, region.subarray(at, at + BATCH), batchStarts, value.subarray(at, at + BATCH), BATCH);
    nativeCursor.at = at + BATCH;
    nativeWatermark = wm;
    nativeTable.closeUpTo(wm, sink);
  };

  // Both sides must agree: one pass over the same events, then compare what closed.
  {
    const m = new MapWindows();
    const t = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS });
    const s = { closed: 0, checksum: 0, window(_k: number, _s: number, c: number): void { this.closed++; this.checksum += c; } };
    let wm = -Infinity;
    for (let i = 0; i < EVENTS; i++) {
      const x = ts[i]!;
      if (x > wm) wm = x;
      const start = Math.floor(x / SIZE_MS) * SIZE_MS;
      m.add(region[i]!, start, value[i]!);
      t.add(region[i]!, start, value[i]!);
      if ((i + 1) % BATCH === 0) { m.closeUpTo(wm); t.closeUpTo(wm, s); }
    }
    if (m.closed !== s.closed || m.checksum !== s.checksum || s.closed === 0) {
      throw new Error(`window-table bench: Map closed ${m.closed} windows (${m.checksum} events), WindowTable ${s.closed} (${s.checksum})`);
    }
    // The native kernel on the same batches: the same windows, in the same order.
    const a = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS });
    const b = new WindowTable({ sizeMs: SIZE_MS, graceMs: GRACE_MS });
    const rowsA: number[] = [];
    const rowsB: number[] = [];
    const sinkA = { window: (k: number, st: number, c: number, sum: number): void => void rowsA.push(k, st, c, sum) };
    const sinkB = { window: (k: number, st: number, c: number, sum: number): void => void rowsB.push(k, st, c, sum) };
    const starts = new Float64Array(BATCH);
    let w = -Infinity;
    for (let at = 0; at + BATCH <= EVENTS; at += BATCH) {
      for (let i = 0; i < BATCH; i++) {
        const x = ts[at + i]!;
        if (x > w) w = x;
        starts[i] = Math.floor(x / SIZE_MS) * SIZE_MS;
      }
      a.addBatch(region.subarray(at, at + BATCH), starts, value.subarray(at, at + BATCH), BATCH);
      windowAddBatchFast(b, region.subarray(at, at + BATCH), starts, value.subarray(at, at + BATCH), BATCH);
      a.closeUpTo(w, sinkA);
      b.closeUpTo(w, sinkB);
    }
    if (rowsA.length === 0 || rowsA.length !== rowsB.length || rowsA.some((x, i) => !Object.is(x, rowsB[i]))) {
      throw new Error(`window-table bench: windowAddBatchFast closed ${rowsB.length / 4} windows, the JS table ${rowsA.length / 4}, or they differ`);
    }
  }

  const bench = new Bench({ name: GROUP, ...tinybenchOptions(opts.quick) });
  bench.add("Map<string, {count, sum}>", mapBatch, { async: false, beforeEach: () => mapCursor.rewindIfDone() });
  // Each side rewinds (and shifts the shared data) only when it reaches the end; the shift keeps
  // time moving forward for both, whichever side triggered it.
  bench.add("WindowTable.add (typed arrays)", tableBatch, { async: false, beforeEach: () => tableCursor.rewindIfDone() });
  if (native !== undefined) bench.add("native", nativeBatch, { async: false, beforeEach: () => nativeCursor.rewindIfDone() });
  await bench.run();
  // Keep the results observable.
  if (map.closed + sink.closed === 0) throw new Error("window-table bench: no window closed");

  const [mapTask, tableTask, nativeTask] = bench.tasks;
  // key u32 + ts f64 + value f64 in; the entry: probe used u8 + key u32 + start f64, then count,
  // sum, n, min, max f64 read and written.
  const bounds = await boundRows(GROUP, 20 + 13 + 80, "20 B in, entry probe 13 B, 5 f64 read + written", opts.quick);
  const tableRate = tinybenchEventsPerSec(tableTask!.result, BATCH);
  const rows: BenchRow[] = [
    {
      group: GROUP, name: "Map, string key `${region}|${windowStart}`", baseline: true,
      eventsPerSec: tinybenchEventsPerSec(mapTask!.result, BATCH),
      note: `2000 regions; ${tinybenchNote(mapTask!.result, BATCH)}`,
    },
    {
      group: GROUP, name: "WindowTable.add (typed arrays)", baseline: false,
      eventsPerSec: tableRate,
      note: `closeUpTo per batch; ${tinybenchNote(tableTask!.result, BATCH)}; ${ofBound(tableRate, bounds)}`,
    },
  ];
  if (nativeTask) {
    const rate = tinybenchEventsPerSec(nativeTask.result, BATCH);
    rows.push({
      group: GROUP, name: "windowAddBatch (native), same table", baseline: false, eventsPerSec: rate,
      note: `JS pass for starts + watermark, then one native call per batch; closeUpTo per batch; ` +
        `${tinybenchNote(nativeTask.result, BATCH)}; ${ofBound(rate, bounds)}`,
    });
  }
  return [...rows, ...bounds];
}
