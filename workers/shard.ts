/**
 * The shard loop: one long-lived Piscina task per worker thread.
 *
 *   coordinator ──input ring──► [ peekAt(k) → processor.process → advance(watermark) → ack ] ──output ring──► coordinator
 *                                      └── every few batches: snapshot state → checkpoint → release k slots
 *
 * The loop blocks its thread (bounded Atomics.wait between batches) and never returns to the event
 * loop while it runs; control arrives through the shared control block.
 *
 * Recovery: processed batches stay in the input ring until a checkpoint of the state that includes
 * them is complete; only then are their slots released. A replacement worker restores the last
 * checkpoint and replays the unreleased batches; the coordinator drops the outputs of batches it
 * already acknowledged, so a dead worker loses and repeats nothing.
 */
import { performance } from "node:perf_hooks";
import {
  C_BATCHES, C_COMMAND, C_REPLAY_BATCHES, C_STARTS, C_STATE_ENTRIES, C_STATE_KIB, CK_AREA_OFFSET, CK_CURRENT, CK_HEADER_WORDS, CK_SEQ, CK_TAIL, CK_WORDS, CMD_CRASH, CMD_STOP,
} from "../src/coordinator/control.js";
import {
  BATCH_DATA, BATCH_END, BATCH_TASK, H_AUX0, H_AUX1, TASK_DROP, TASK_LOAD, TASK_MERGE, H_COUNT, H_ENQUEUED_AT, H_KIND, H_PARTITION, H_SEQ, H_WATERMARK, HEADER_WORDS,
} from "../src/ring/layout.js";
import { OUT_ENDED, OUT_STARTED, OutputWriter } from "../src/ring/output.js";
import { BatchRing, type RingHandle } from "../src/ring/ring.js";
import { PeerOutputWriter, PeerReceiver, PeerSender, type PeerTask } from "../src/ring/peer-rings.js";
import { RingStalledError } from "../src/errors.js";
import type { ProcessorConfig, ShardProcessor } from "../src/pipelines/processor.js";
import { createProcessor } from "./processors.js";
import { createDslProcessor } from "../src/dsl/engine-shard.js";
import { TaskedProcessor } from "../src/pipelines/tasked-processor.js";

export interface ShardTask {
  worker: number;
  pipeline: string;
  config: ProcessorConfig;
  input: RingHandle;
  output: RingHandle;
  control: SharedArrayBuffer;
  /**
   * Records the coordinator queues in the input ring at most (it has more slots, for small
   * batches); a checkpoint (which releases the slots) once half of it is held. @default unbounded
   */
  inputRecords?: number;
  /** Two checkpoint areas (see control.ts); absent: no checkpoints, slots released per batch. */
  checkpoint?: SharedArrayBuffer;
  /**
   * State per partition (TaskedProcessor): f64 [W, W words], the task state a BATCH_TASK load
   * installs. The coordinator writes it only once the last load's batch is covered by a checkpoint
   * (a replacement worker replays that batch and reads the mailbox again).
   */
  mailbox?: SharedArrayBuffer;
  /** Worker-to-worker repartitioning (src/ring/peer-rings.ts); absent: moved records go through the coordinator. */
  peers?: PeerTask;
}

export interface ShardSummary {
  worker: number;
  batches: number;
  records: number;
  stateBytes: number;
}

/** How long one sleep lasts before the loop re-reads its control block. */
const IDLE_WAIT_MS = 50;
/** Sleep before checkpointing when the ring runs dry (more batches may be about to arrive). */
const DRY_WAIT_MS = 1;
/** Sleep of an idle shard with peers (a peer's batch wakes it too; this bounds a missed wake-up). */
const PEER_IDLE_MS = 5;
/** Checkpoint header word: f64 words of peer state (peer-rings.ts) after the processor's. */
const CK_PEER_WORDS = 3;

/** The peer rings' part of a checkpoint. */
interface PeerState {
  words(): number;
  save(into: Float64Array): number;
}

class Checkpoints {
  private readonly current: Int32Array;
  private readonly areas: Float64Array[];
  private readonly headers: Float64Array[];

  constructor(sab: SharedArrayBuffer) {
    this.current = new Int32Array(sab, 0, 1);
    const areaBytes = (sab.byteLength - CK_AREA_OFFSET) / 2;
    this.headers = [0, 1].map((k) => new Float64Array(sab, CK_AREA_OFFSET + k * areaBytes, CK_HEADER_WORDS));
    this.areas = [0, 1].map((k) => new Float64Array(sab, CK_AREA_OFFSET + k * areaBytes + CK_HEADER_WORDS * 8, areaBytes / 8 - CK_HEADER_WORDS));
  }

  /** Restores the last complete checkpoint into the processor; returns the ring TAIL it covers (-1: none). */
  restore(processor: ShardProcessor, peers?: (from: Float64Array) => void): number {
    const k = Atomics.load(this.current, 0);
    if (k < 0) return -1;
    const words = this.headers[k]![CK_WORDS]!;
    processor.restore(this.areas[k]!, words);
    const pw = this.headers[k]![CK_PEER_WORDS]!;
    if (peers && pw > 0) peers(this.areas[k]!.subarray(words, words + pw));
    return this.headers[k]![CK_TAIL]!;
  }

  /** Writes the state into the area not in use, then makes it current (one atomic store). */
  write(processor: ShardProcessor, seq: number, tailAfter: number, peers?: PeerState): boolean {
    const k = 1 - Math.max(0, Atomics.load(this.current, 0));
    const words = processor.snapshot(this.areas[k]!);
    let pw = 0;
    if (words >= 0 && peers) pw = words + peers.words() <= this.areas[k]!.length ? peers.save(this.areas[k]!.subarray(words)) : -1;
    if (words < 0 || pw < 0) {
      Atomics.store(this.current, 0, -1); // too big: no restorable state from here on
      return false;
    }
    const h = this.headers[k]!;
    h[CK_SEQ] = seq;
    h[CK_TAIL] = tailAfter;
    h[CK_WORDS] = words;
    h[CK_PEER_WORDS] = pw;
    Atomics.store(this.current, 0, k);
    return true;
  }
}

export default function runShard(task: ShardTask): ShardSummary | Promise<ShardSummary> {
  // A DSL topology is a module the worker imports first (src/dsl/engine-shard.ts).
  if (typeof task.config["module"] === "string") return createDslProcessor(task.config).then((p) => shardLoop(task, p));
  return shardLoop(task, createProcessor(task.pipeline, task.config));
}

/** A BATCH_TASK batch: load or drop one partition's state, or merge logged state into the shard's (TASK_MERGE). */
function moveTask(processor: ShardProcessor, op: number, partition: number, mailbox: SharedArrayBuffer | undefined): void {
  if (op === TASK_MERGE) {
    if (!mailbox || !processor.mergeState) throw new Error("logged state sent to a shard that cannot take it in");
    const box = new Float64Array(mailbox);
    processor.mergeState(box.subarray(1, 1 + box[0]!));
    return;
  }
  if (!(processor instanceof TaskedProcessor)) throw new Error("a partition's state moved to a shard without state per partition");
  if (op === TASK_DROP) {
    processor.drop(partition);
    return;
  }
  if (op !== TASK_LOAD || !mailbox) throw new Error(`unknown task operation ${op}`);
  const box = new Float64Array(mailbox);
  processor.load(partition, box.subarray(1, 1 + box[0]!));
}

function shardLoop(task: ShardTask, processor: ShardProcessor): ShardSummary {
  const input = new BatchRing(task.input);
  const peers = task.peers;
  const sender = peers ? new PeerSender(peers, task.worker) : undefined;
  const receiver = peers ? new PeerReceiver(peers) : undefined;
  const out = sender ? new PeerOutputWriter(new BatchRing(task.output), sender, peers!.edges) : new OutputWriter(new BatchRing(task.output));
  const control = new Int32Array(task.control);
  const checkpoints = task.checkpoint ? new Checkpoints(task.checkpoint) : undefined;
  const header = input.header;
  const timeOrigin = performance.timeOrigin;
  const every = checkpoints ? Math.max(1, input.slots >> 1) : 1;
  // …or once the records held reach half of what the coordinator queues (else it would wait on
  // this worker's slots while it waits for more batches).
  const everyRecords = checkpoints && task.inputRecords !== undefined ? Math.max(1, task.inputRecords >> 1) : Infinity;
  let heldRecords = 0;
  let batches = 0;
  let records = 0;
  let held = 0; // processed batches not yet released
  let lastSeq = -1;
  const aux = processor.auxWatermark === true;
  Atomics.add(control, C_STARTS, 1);

  // A replacement: restore the last checkpoint; batches it covers but not yet released are skipped.
  let peerState: Float64Array | undefined;
  if (checkpoints) {
    const tail = checkpoints.restore(processor, (f) => { peerState = f; });
    if (tail >= 0 && ((tail - input.released) | 0) > 0) input.releaseMany((tail - input.released) | 0);
  }
  // With peers: what the checkpoint covers is released, the rest replays in its first order.
  const replay = receiver ? receiver.restore(peerState, input.released) : [];
  let replayAt = 0;
  if (sender && peerState) sender.restore(peerState.subarray(peers!.in.length));
  const peerSave: PeerState | undefined = receiver && sender && {
    words: () => peers!.in.length + sender.saveWords(),
    save: (into) => {
      const a = receiver.save(into);
      return a + sender.save(into.subarray(a));
    },
  };
  Atomics.store(control, C_REPLAY_BATCHES, input.readable());
  out.marker(OUT_STARTED, 0);
  out.flush();

  const checkpoint = (): void => {
    if (held === 0 && !(receiver?.holding() ?? false)) return;
    if (checkpoints) checkpoints.write(processor, lastSeq, (input.released + held) | 0, peerSave);
    input.releaseMany(held);
    held = 0;
    heldRecords = 0;
    receiver?.release();
  };

  /** Processes one peer batch in replay order, or whatever the peers sent; the batches processed. */
  const drainPeers = (): number => {
    if (replayAt < replay.length) {
      const k = replay[replayAt]!;
      if (k < 0 || !receiver!.one(k, processor, out)) return 0;
      replayAt++;
      return 1;
    }
    const n = receiver!.drain(processor, out);
    if (n > 0 && receiver!.full()) checkpoint();
    return n;
  };

  /** Publishes the stages waiting for peer rings, draining (and checkpointing) inbound peers meanwhile. */
  const sendPeers = (): void => {
    const deadline = Date.now() + 30_000;
    while (!sender!.flush()) {
      if (drainPeers() === 0) sender!.waitWritable(1);
      if (Date.now() > deadline) throw new RingStalledError("peer ring: no free slot in 30000 ms; its shard is stalled or dead");
    }
  };
  if (sender) sendPeers(); // stages a predecessor had not published

  for (;;) {
    if (receiver && drainPeers() > 0 && replayAt < replay.length) continue;
    const slot = input.peekAt(held);
    if (slot < 0) {
      if (receiver) {
        if (replayAt < replay.length) throw new Error(`shard ${task.worker}: a batch to replay is missing from its input ring`);
        if ((held > 0 || receiver.holding()) && !input.waitReadableAt(held, DRY_WAIT_MS) && !receiver.readable()) checkpoint();
        if (held > 0 || receiver.holding() || receiver.readable()) continue;
      } else {
        if (held > 0 && !input.waitReadableAt(held, DRY_WAIT_MS)) checkpoint();
        if (held > 0) continue;
      }
      if (Atomics.load(control, C_COMMAND) === CMD_STOP) break;
      if (input.isClosed() && input.peek() < 0) break;
      input.waitReadable(receiver ? PEER_IDLE_MS : IDLE_WAIT_MS);
      continue;
    }
    const command = Atomics.load(control, C_COMMAND);
    if (command === CMD_STOP) break;
    if (command === CMD_CRASH) {
      // Consume the command first, so the replacement does not crash too and a command given
      // while this thread is being replaced is not lost.
      Atomics.compareExchange(control, C_COMMAND, CMD_CRASH, 0);
      process.exit(70); // ends this worker thread only
    }

    const h = slot * HEADER_WORDS;
    const kind = header[h + H_KIND]!;
    const n = header[h + H_COUNT]!;
    const partition = header[h + H_PARTITION]!;
    const columns = input.columns[slot]!;
    const watermark = kind === BATCH_END ? Infinity : header[h + H_WATERMARK]!;
    // A processor whose operators run at the second watermark (a repartitioning topology) gets it first.
    const operated = aux ? (kind === BATCH_END ? Infinity : header[h + H_AUX0]!) : 0;
    if (receiver) {
      if (replayAt < replay.length) replayAt++; // this input batch is the replay's next
      receiver.note(-1, (input.released + held) | 0);
    }
    if (aux) processor.advance(operated, out);
    if (kind === BATCH_DATA && n > 0) processor.process(columns, n, partition, out);
    else if (kind === BATCH_TASK) moveTask(processor, header[h + H_AUX0]!, header[h + H_AUX1]!, task.mailbox);
    if (!aux) processor.advance(watermark, out);
    const offsets = columns["_off"]!;
    lastSeq = header[h + H_SEQ]!;
    sender?.endBatch(out);
    out.ack(partition < 0 ? 0 : partition, n > 0 ? offsets[n - 1]! : -1, header[h + H_ENQUEUED_AT]!, n,
      timeOrigin + performance.now(), lastSeq, watermark, operated);
    if (kind === BATCH_END) out.marker(OUT_ENDED, Infinity);
    out.flush();
    held++;
    heldRecords += n;
    batches++;
    records += n;
    if (sender) sendPeers();
    if (held >= every || heldRecords >= everyRecords || kind === BATCH_END) checkpoint();
    Atomics.store(control, C_BATCHES, batches);
    // State size for metrics, one store each per batch (read by the coordinator at snapshot rate).
    Atomics.store(control, C_STATE_ENTRIES, processor.stateEntries?.() ?? 0);
    Atomics.store(control, C_STATE_KIB, Math.min(0x7fffffff, Math.ceil(processor.stateBytes() / 1024)));
  }
  checkpoint();
  out.flush();
  return { worker: task.worker, batches, records, stateBytes: processor.stateBytes() };
}
