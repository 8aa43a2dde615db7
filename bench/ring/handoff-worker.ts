/**
 * The receiving side of the thread-handoff bench (ring.bench.ts): one worker thread, reused for
 * every run of one variant. A run starts with a `HandoffStart` message and ends with a
 * `HandoffDone` reply once the worker has received every record; the worker sums `lat` so the
 * records are read, and the sum (exact: lat values are quarter degrees) proves none was lost.
 *
 *   post       records arrive as messages {driverId, lat, lon, ts}, one per record
 *   ringbuf    4-element records (driverId, lat, lon, ts) as a Float64 stream in a ringbuf.js
 *              RingBuffer; this side polls pop() (ringbuf.js has no wait)
 *   batchring  batches in a BatchRing; this side sleeps in waitReadable between batches
 */
import { parentPort } from "node:worker_threads";
import { RingBuffer } from "ringbuf.js";
import { H_COUNT, HEADER_WORDS } from "../../src/ring/layout.js";
import { BatchRing, type RingHandle } from "../../src/ring/ring.js";

export type HandoffStart =
  | { mode: "post"; records: number }
  | { mode: "ringbuf"; records: number; sab: SharedArrayBuffer; limitMs: number }
  | { mode: "batchring"; records: number; handle: RingHandle; limitMs: number };

export interface HandoffDone { records: number; latSum: number }

interface PostedRecord { driverId: number; lat: number; lon: number; ts: number }

const port = parentPort;
if (!port) throw new Error("handoff-worker.js runs in a worker thread");

// post mode: the records of the current run still expected, and what arrived so far.
let expected = 0;
let count = 0;
let sum = 0;

port.on("message", (m: HandoffStart | PostedRecord) => {
  if (count < expected) {
    count++;
    sum += (m as PostedRecord).lat;
    if (count === expected) {
      expected = 0;
      port.postMessage({ records: count, latSum: sum } satisfies HandoffDone);
    }
    return;
  }
  const start = m as HandoffStart;
  switch (start.mode) {
    case "post":
      expected = start.records;
      count = 0;
      sum = 0;
      break;
    case "ringbuf":
      port.postMessage(drainRingbuf(start.sab, start.records, start.limitMs));
      break;
    case "batchring":
      port.postMessage(drainBatchRing(start.handle, start.limitMs));
      break;
  }
});

function drainRingbuf(sab: SharedArrayBuffer, records: number, limitMs: number): HandoffDone {
  const rb = new RingBuffer(sab, Float64Array);
  const scratch = new Float64Array(8192);
  const want = records * 4;
  const deadline = Date.now() + limitMs;
  let got = 0;
  let latSum = 0;
  let idle = 0;
  while (got < want) {
    const n = rb.pop(scratch);
    if (n === 0) {
      // Poll; look at the clock only every 64 Ki empty polls.
      if ((++idle & 0xffff) === 0 && Date.now() > deadline) {
        throw new Error(`ringbuf.js consumer: ${got / 4} of ${records} records in ${limitMs} ms; the producer stalled`);
      }
      continue;
    }
    // lat is element 1 of each 4-element record; a pop may start or end mid-record.
    for (let k = (1 - got) & 3; k < n; k += 4) latSum += scratch[k]!;
    got += n;
  }
  return { records: got / 4, latSum };
}

function drainBatchRing(handle: RingHandle, limitMs: number): HandoffDone {
  const ring = new BatchRing(handle);
  const lat = ring.columns.map((c) => c["lat"] as Float64Array);
  const header = ring.header;
  const deadline = Date.now() + limitMs;
  let records = 0;
  let latSum = 0;
  for (;;) {
    const slot = ring.peek();
    if (slot < 0) {
      if (ring.isClosed() && ring.peek() < 0) break;
      ring.waitReadable(50);
      if (Date.now() > deadline) throw new Error(`BatchRing consumer: ring not closed within ${limitMs} ms; the producer stalled`);
      continue;
    }
    const n = header[slot * HEADER_WORDS + H_COUNT]!;
    const col = lat[slot]!;
    for (let i = 0; i < n; i++) latSum += col[i]!;
    records += n;
    ring.release();
  }
  return { records, latSum };
}
