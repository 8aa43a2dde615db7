/**
 * The shard loop: one long-lived Piscina task per worker thread.
 *
 *   coordinator ──input ring──► [ peek → processor.process → advance(watermark) → ack → release ] ──output ring──► coordinator
 *
 * The loop blocks its thread (bounded Atomics.wait between batches) and never returns to the event
 * loop while it runs; control arrives through the shared control block. A batch is released only
 * after its outputs and its ACK are published, so a worker that dies mid-batch leaves that batch in
 * the ring for its replacement.
 */
import { performance } from "node:perf_hooks";
import { C_BATCHES, C_COMMAND, C_STARTS, CMD_CRASH, CMD_STOP } from "../src/coordinator/control.js";
import {
  BATCH_DATA, BATCH_END, H_COUNT, H_ENQUEUED_AT, H_KIND, H_PARTITION, H_SEQ, H_WATERMARK, HEADER_WORDS,
} from "../src/ring/layout.js";
import { OUT_ENDED, OutputWriter } from "../src/ring/output.js";
import { BatchRing, type RingHandle } from "../src/ring/ring.js";
import type { ProcessorConfig } from "../src/pipelines/processor.js";
import { createProcessor } from "./processors.js";

export interface ShardTask {
  worker: number;
  pipeline: string;
  config: ProcessorConfig;
  input: RingHandle;
  output: RingHandle;
  control: SharedArrayBuffer;
}

export interface ShardSummary {
  worker: number;
  batches: number;
  records: number;
  stateBytes: number;
}

/** How long one sleep lasts before the loop re-reads its control block. */
const IDLE_WAIT_MS = 50;

export default function runShard(task: ShardTask): ShardSummary {
  const input = new BatchRing(task.input);
  const out = new OutputWriter(new BatchRing(task.output));
  const control = new Int32Array(task.control);
  const processor = createProcessor(task.pipeline, task.config);
  const header = input.header;
  const timeOrigin = performance.timeOrigin;
  let batches = 0;
  let records = 0;
  Atomics.add(control, C_STARTS, 1);

  for (;;) {
    const slot = input.peek();
    if (slot < 0) {
      if (Atomics.load(control, C_COMMAND) === CMD_STOP) break;
      if (input.isClosed() && input.peek() < 0) break;
      input.waitReadable(IDLE_WAIT_MS);
      continue;
    }
    const command = Atomics.load(control, C_COMMAND);
    if (command === CMD_STOP) break;
    if (command === CMD_CRASH) process.exit(70); // ends this worker thread only

    const h = slot * HEADER_WORDS;
    const kind = header[h + H_KIND]!;
    const n = header[h + H_COUNT]!;
    const partition = header[h + H_PARTITION]!;
    const columns = input.columns[slot]!;
    if (kind === BATCH_DATA && n > 0) processor.process(columns, n, partition, out);
    const watermark = kind === BATCH_END ? Infinity : header[h + H_WATERMARK]!;
    processor.advance(watermark, out);
    const offsets = columns["_off"]!;
    out.ack(partition < 0 ? 0 : partition, n > 0 ? offsets[n - 1]! : -1, header[h + H_ENQUEUED_AT]!, n,
      timeOrigin + performance.now(), header[h + H_SEQ]!, watermark);
    if (kind === BATCH_END) out.marker(OUT_ENDED, Infinity);
    out.flush();
    input.release();
    batches++;
    records += n;
    Atomics.store(control, C_BATCHES, batches);
  }
  out.flush();
  return { worker: task.worker, batches, records, stateBytes: processor.stateBytes() };
}
