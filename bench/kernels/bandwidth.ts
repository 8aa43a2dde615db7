/**
 * The memory-bandwidth bound the kernel benchmarks report next to each kernel: this machine's copy
 * rate (`Float64Array.prototype.set`, i.e. memmove: read + write) divided by the bytes a kernel
 * reads and writes per event. A kernel that touches B bytes per event cannot beat `rate / B`
 * events/s from the memory level its data lives in, so `kernel / bound` says how far from that
 * limit it runs.
 *
 * Two levels are measured, once per process:
 *   cache  copies whose footprint matches a kernel batch (2 MiB: L2/L3-resident), the level the
 *          engine's data comes from (a ring slot of 2048 records is ~110 KiB; a bench batch ≤ 3 MiB)
 *   DRAM   copies of 2 × 512 MiB, beyond this machine's last-level cache
 */
import { Bench } from "tinybench";
import { tinybenchEventsPerSec, tinybenchOptions, type BenchRow } from "../harness.js";

export interface CopyRates {
  /** Bytes read + written per second, copy footprint 2 MiB. */
  cache: number;
  /** Bytes read + written per second, copy footprint 1 GiB. */
  dram: number;
}

const CACHE_ELEMENTS = 128 * 1024; // 2 × 1 MiB
const DRAM_ELEMENTS = 64 * 1024 * 1024; // 2 × 512 MiB

let measured: Promise<CopyRates> | undefined;

/** The copy rates (measured on the first call, then reused). */
export function copyRates(quick: boolean): Promise<CopyRates> {
  return (measured ??= measure(quick));
}

async function copyRate(elements: number, quick: boolean, iterations: number): Promise<number> {
  let src: Float64Array | undefined = new Float64Array(elements);
  let dst: Float64Array | undefined = new Float64Array(elements);
  for (let i = 0; i < elements; i++) src[i] = i; // touch every page before timing
  dst.fill(1);
  const s = src, d = dst;
  const bench = new Bench({ name: "copy", ...tinybenchOptions(quick), iterations, warmupIterations: Math.max(2, iterations >> 3) });
  bench.add("Float64Array.set", () => d.set(s), { async: false });
  await bench.run();
  const rate = 2 * 8 * tinybenchEventsPerSec(bench.tasks[0]!.result, elements);
  src = dst = undefined;
  return rate;
}

async function measure(quick: boolean): Promise<CopyRates> {
  const cache = await copyRate(CACHE_ELEMENTS, quick, 256);
  const dram = await copyRate(DRAM_ELEMENTS, quick, quick ? 4 : 8);
  return { cache, dram };
}

const gbps = (x: number): string => `${(x / 1e9).toFixed(1)} GB/s`;

/**
 * The two bound rows of a group whose kernel touches `bytes` bytes per event (`what` lists them).
 * Never baselines: their ratio shows the headroom over the group's JS baseline.
 */
export async function boundRows(group: string, bytes: number, what: string, quick: boolean): Promise<BenchRow[]> {
  const r = await copyRates(quick);
  return [
    {
      group, name: "bandwidth bound, cache-resident", baseline: false, eventsPerSec: r.cache / bytes,
      note: `copy rate at a 2 MiB footprint ${gbps(r.cache)} (read + write) ÷ ${bytes} B/event (${what})`,
    },
    {
      group, name: "bandwidth bound, DRAM", baseline: false, eventsPerSec: r.dram / bytes,
      note: `copy rate at a 1 GiB footprint ${gbps(r.dram)} (read + write) ÷ ${bytes} B/event`,
    },
  ];
}

/** "native at 12 % of the cache bound, 40 % of the DRAM bound": appended to a kernel row's note. */
export function ofBound(eventsPerSec: number, bounds: readonly BenchRow[]): string {
  const pct = (b: BenchRow): string => `${((100 * eventsPerSec) / b.eventsPerSec).toFixed(b.eventsPerSec > 20 * eventsPerSec ? 1 : 0)} %`;
  return `${pct(bounds[0]!)} of the cache bound, ${pct(bounds[1]!)} of the DRAM bound`;
}
