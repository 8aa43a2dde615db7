// A Kafka frame's strings on the main thread: the string table of each 1000-record frame interned
// (driver ids, ~820 distinct per frame out of 10 000), against decoding each entry to a string and
// interning that (Buffer#toString + Map, what a decoder without the byte index does); then the
// whole frame into ring columns. Frames from `riptide loadgen`'s encoder over the embedded
// generator; every task call decodes FRAMES frames, so eventsPerSec = records / mean call time.
// Beside it, the other end: the same frames encoded from the generator's columns (FrameEncoder, the
// load generator's path) against encodeFrame from one plain object per record.
//
//   npm run build && node dist/bench/sources/frame-decode.bench.js [--quick]

import { pathToFileURL } from "node:url";
import { formatTable, machine, machineLine, measureBatches, type BatchCase, type BenchRow } from "../harness.js";
import { FrameEncoder, decodeFrameInto, encodeFrame, frameRecordCount, internFrameStrings } from "../../src/io/frame.js";
import { Interner } from "../../src/schema/interner.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import type { ColumnArray } from "../../src/schema/schema.js";

const GROUP = "frame decode (main thread)";
const ENCODE_GROUP = "frame encode (load generator)";
const FRAME = 1000;
const FRAMES = 64;
const DRIVERS = 10_000;
const PARTITIONS = 4;

export const groups: readonly string[] = [GROUP, ENCODE_GROUP];

/** FRAMES frames' columns as loadgen fills them: partitions round-robin, FRAME records each. */
function makeColumns(gen: DriverGenerator): Array<Record<string, ColumnArray>> {
  const out: Array<Record<string, ColumnArray>> = [];
  for (let f = 0; f < FRAMES; f++) {
    const cols: DriverColumns = {
      driver: new Uint32Array(FRAME), lat: new Float64Array(FRAME), lon: new Float64Array(FRAME),
      ts: new Float64Array(FRAME), speed: new Float64Array(FRAME),
    };
    gen.fill(f % PARTITIONS, cols, 0, FRAME);
    out.push({ driverId: cols.driver, lat: cols.lat, lon: cols.lon, ts: cols.ts, speedKmh: cols.speed });
  }
  return out;
}

/** Encoding the frames: FrameEncoder from columns against encodeFrame from one object per record. */
async function encodeRows(quick: boolean): Promise<BenchRow[]> {
  const gen = new DriverGenerator({ seed: 42, drivers: DRIVERS, partitions: PARTITIONS });
  const columns = makeColumns(gen);
  const objects = columns.map((c) => Array.from({ length: FRAME }, (_, i) => ({
    driverId: gen.driverName(c["driverId"]![i]!), lat: c["lat"]![i], lon: c["lon"]![i], ts: c["ts"]![i], speedKmh: c["speedKmh"]![i],
  })));
  const encoder = new FrameEncoder(DRIVER_LOCATION, (id) => gen.driverName(id));
  let bytes = 0;
  const cases: BatchCase[] = [
    {
      name: "encodeFrame from plain objects",
      baseline: true,
      note: "one object per record, the string table built with a Map of its strings",
      fn: () => { for (const records of objects) bytes += encodeFrame(DRIVER_LOCATION, records).length; },
    },
    {
      name: "FrameEncoder.encode from the generator's columns",
      baseline: false,
      note: "ids' table entries (u16 length + UTF-8) cached in one arena and copied, per-frame slots stamped",
      fn: () => { for (const c of columns) bytes += encoder.encode(c, FRAME).length; },
    },
  ];
  const rows = await measureBatches(ENCODE_GROUP, cases, FRAME * FRAMES, quick);
  if (bytes <= 0) throw new Error("frame encode bench: nothing was encoded");
  return rows;
}

/** FRAMES frames as loadgen makes them: partitions round-robin, FRAME records each. */
function makeFrames(): Buffer[] {
  const gen = new DriverGenerator({ seed: 42, drivers: DRIVERS, partitions: PARTITIONS });
  const cols: DriverColumns = {
    driver: new Uint32Array(FRAME), lat: new Float64Array(FRAME), lon: new Float64Array(FRAME),
    ts: new Float64Array(FRAME), speed: new Float64Array(FRAME),
  };
  const frameCols: Record<string, ColumnArray> = { driverId: cols.driver, lat: cols.lat, lon: cols.lon, ts: cols.ts, speedKmh: cols.speed };
  const encoder = new FrameEncoder(DRIVER_LOCATION, (id) => gen.driverName(id));
  const frames: Buffer[] = [];
  for (let f = 0; f < FRAMES; f++) {
    gen.fill(f % PARTITIONS, cols, 0, FRAME);
    frames.push(encoder.encode(frameCols, FRAME));
  }
  return frames;
}

/** The string table's entries of a frame as [start, length] pairs (header: 20 bytes, u16 lengths). */
function tableEntries(frame: Buffer): number[] {
  const count = frame.readUInt32LE(12);
  const out: number[] = [];
  let p = 20;
  for (let k = 0; k < count; k++) {
    const len = frame.readUInt16LE(p);
    out.push(p + 2, len);
    p += 2 + len;
  }
  return out;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const frames = makeFrames();
  const entries = frames.map(tableEntries);
  let distinct = 0;
  for (const e of entries) distinct += e.length / 2;
  const perFrame = Math.round(distinct / FRAMES);
  let sink = 0;

  const byString = new Interner();
  const byBytes = new Interner();
  const whole = new Interner();
  const ids: number[] = [];
  const columns: Record<string, ColumnArray> = {};
  for (const f of DRIVER_LOCATION.fields) columns[f.name] = f.type === "string" ? new Uint32Array(FRAME) : new Float64Array(FRAME);
  // Every driver seen once first: the steady state of a long run (a new string costs the same either way).
  for (const frame of frames) {
    ids.length = 0;
    internFrameStrings(DRIVER_LOCATION, frame, byBytes, ids);
    ids.length = 0;
    internFrameStrings(DRIVER_LOCATION, frame, whole, ids);
  }
  for (let f = 0; f < FRAMES; f++) {
    const e = entries[f]!;
    for (let i = 0; i < e.length; i += 2) byString.intern(frames[f]!.toString("utf8", e[i]!, e[i]! + e[i + 1]!));
  }

  const cases: BatchCase[] = [
    {
      name: "string table: Buffer#toString + Map per entry",
      baseline: true,
      note: `each entry decoded to a string and looked up in the Interner's Map (~${perFrame} entries per ${FRAME}-record frame)`,
      fn: () => {
        for (let f = 0; f < FRAMES; f++) {
          const frame = frames[f]!;
          const e = entries[f]!;
          for (let i = 0; i < e.length; i += 2) sink += byString.intern(frame.toString("utf8", e[i]!, e[i]! + e[i + 1]!));
        }
      },
    },
    {
      name: "string table: Interner.internBytes (internFrameStrings)",
      baseline: false,
      note: "hashed and compared as bytes in the Interner's byte index, no string made",
      fn: () => {
        for (const frame of frames) {
          ids.length = 0; // a new frame (the Kafka source keeps one such array per frame)
          sink += internFrameStrings(DRIVER_LOCATION, frame, byBytes, ids);
        }
      },
    },
    {
      name: "whole frame into ring columns (decodeFrameInto)",
      baseline: false,
      note: "the string table interned, each record's string index checked and mapped, the f64 columns copied",
      fn: () => {
        for (const frame of frames) {
          ids.length = 0;
          sink += decodeFrameInto(DRIVER_LOCATION, frame, 0, FRAME, columns, 0, whole, ids);
        }
      },
    },
  ];

  const rows = await measureBatches(GROUP, cases, FRAME * FRAMES, opts.quick);
  if (sink <= 0 || frameRecordCount(DRIVER_LOCATION, frames[0]!) !== FRAME) throw new Error("frame decode bench: nothing was decoded");
  return [...rows, ...(await encodeRows(opts.quick))];
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const rows = await run({ quick: process.argv.includes("--quick") });
  console.log(machineLine(machine()));
  console.log(formatTable(rows));
}
