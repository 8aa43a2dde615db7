/**
 * The coordinator: the main thread of a run.
 *
 *   source ──fill──► input ring[w] ──► shard worker w ──► output ring[w] ──drain──► merger / sinks
 *     │  (partition p → worker p mod W)                                   ▲
 *     └─ edge kernel on the slot: validate, stream time, per-record watermark
 *
 * Producing: partitions are asked in a fixed round-robin order and a full ring is waited on, never
 * skipped, so a bounded input gives the same records, watermarks and results with any number of
 * workers. Backpressure is the ring itself: the source is asked for more only when a slot is free.
 *
 * Draining: outputs are read between produce slices. ACKs carry each batch's enqueue time
 * (latency) and the watermark up to which the shard has emitted its windows (merging).
 *
 * The loop runs in slices of a few milliseconds and yields to the event loop in between, so
 * timers, signals and I/O keep working; it waits with Atomics.waitAsync only when there is nothing
 * to do, with a bound.
 */
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { Piscina } from "piscina";
import { OptionRangeError, OptionTypeError, WorkerFailedError } from "../errors.js";
import { ENTRY_RUNS } from "../metrics/entry-runs.js";
import { LatencyHistogram } from "../metrics/histogram.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import {
  BATCH_DATA, BATCH_END, BATCH_TASK, BATCH_WATERMARK, H_AUX0, H_AUX1, TASK_DROP, TASK_LOAD, TASK_MERGE, H_COUNT, H_ENQUEUED_AT, H_KIND, H_PARTITION, H_SEQ, H_WATERMARK, HEADER_WORDS,
} from "../ring/layout.js";
import {
  OUT_ACK, OUT_ANOMALY, OUT_ENDED, OUT_INVALID, OUT_LATE, OUT_PIPELINE_BASE, OUT_POSITION, OUT_STARTED, OUT_WINDOW, OUT_OBJECT, outputLayout, type OutputColumns,
  OUT_PEER_DONE, OUT_PEER_SENT,
} from "../ring/output.js";
import { PEER_SLOTS, peerLogWords } from "../ring/peer-rings.js";
import { PeerLedger } from "./peer-ledger.js";
import { BatchRing } from "../ring/ring.js";
import type { Output, Sink } from "../sinks/sink.js";
import { TEXT_STRIDE, TEXT_TOO_LONG, bindColumns, blobBuffer, type ColumnArray } from "../schema/schema.js";
import type { Source } from "../sources/source.js";
import type { RetryCounts } from "../io/retry.js";
import { C_COMMAND, CMD_CRASH, CMD_STOP, checkpointSeq, createCheckpoint, createControl } from "./control.js";
import { noteWorkerStarted, stateOfWorkers } from "../metrics/worker-state.js";
import { StageLatency } from "../metrics/stages.js";
import { StagedOutputs } from "./staged-outputs.js";
import { WindowMerger } from "./window-merger.js";
import { CommitTracker, type Entry } from "./commit-tracker.js";
import { RepartitionRouter } from "./repartition-router.js";
import { copyCheckpoint, readCheckpoint, writeCheckpoint, type RunSnapshot } from "./snapshot.js";
import type { ShardSummary, ShardTask } from "../../workers/shard.js";

export interface CoordinatorOptions {
  pipeline: PipelineDefinition;
  source: Source;
  sink: Sink;
  /** Shard workers. @default os.availableParallelism() */
  workers?: number;
  /** Records per ring slot (batch). @default 2048 */
  batchSize?: number;
  /**
   * What an input ring queues, in batches of batchSize records (a power of two): it has 4× as many
   * slots, for small batches, and holds back once its records reach ringSlots · batchSize.
   * @default 16; reading Kafka (Source.arrivalOrder) 64 while they fit in 8 MiB: defaultRingSlots
   */
  ringSlots?: number;
  /** Target events per second over all partitions. @default Infinity */
  rate?: number;
  /** Stop producing after this many ms (then flush). @default Infinity */
  durationMs?: number;
  /** A partition without data for this long stops holding the watermark back. @default 30000 */
  idleTimeoutMs?: number;
  /**
   * When every partition is idle (no data for `idleTimeoutMs`), the watermark follows the wall
   * clock from the largest stream time, so the windows of a stream that went quiet still close
   * (DESIGN.md). Records arriving later are judged against it (late if their window closed).
   * @default false
   */
  wallClockClose?: boolean;
  /**
   * Bytes of each of a shard's two checkpoint areas (virtual memory, touched as used); 0 disables
   * checkpoints (a dead worker then loses the state it held). @default 32 MiB
   */
  checkpointBytes?: number;
  /** Called about every `progressIntervalMs` with a snapshot. */
  onProgress?: (p: Progress) => void;
  /** @default 1000 */
  progressIntervalMs?: number;
  /** Aborting stops producing; what was accepted is processed and flushed. */
  signal?: AbortSignal;
  /**
   * How records crossing a repartition edge move (a DSL topology grouping by a new key): "peer",
   * straight from shard to shard through a ring per pair (src/ring/peer-rings.ts), or
   * "coordinator", through the main thread (repartition-router.ts). Peer needs at-least-once
   * (no transactions, no restored snapshot), at most 8 workers (W² rings of PEER_SLOTS input-sized
   * slots, about 4.8 MiB per pair) and no repartition downstream of another; otherwise the
   * coordinator's path is used. @default "peer" (faster: bench/RESULTS.md, repartitioning worker to worker)
   */
  repartitionPath?: "peer" | "coordinator";
  /** Called for each lifecycle event (worker restart, …). */
  onLog?: (event: string, detail: Record<string, unknown>) => void;
  /**
   * Observability tap: each merged window result as its output object, as it is emitted (window
   * rate, not event rate). Used by the HTTP dashboard's region map.
   */
  onWindow?: (output: Output) => void;
  /** The retry topic's counts, read at snapshot rate for progress() (Kafka runs). */
  retryCounts?: () => RetryCounts;
  /**
   * Exactly-once mode: about every `intervalMs` the run stops feeding, waits until every batch fed
   * so far is processed, checkpointed and its outputs written (a barrier), and hands the snapshot
   * of its whole state and the input positions to `commit`, which commits them with the outputs in
   * one Kafka transaction. Offsets are then committed only there (never by the source).
   */
  transactions?: TransactionHooks;
  /** State to start from (a snapshot committed by an earlier run of the same pipeline). */
  restore?: RunSnapshot;
  /**
   * At-least-once with logged state (PipelineDefinition.loggedState): about every `intervalMs`,
   * at a commit, the shards' current checkpoints go to `save`, and a batch's position is committed
   * only once a saved checkpoint of its shard covers it. When partitions are assigned, the logged
   * state is loaded and merged into their shards before any of their records is read. Not with
   * `transactions`.
   */
  stateLog?: StateLogHooks;
  /**
   * State per input partition (exactly-once across several processes of a group): the pipeline's
   * processors are TaskedProcessors, each partition's watermark is its own stream time, and a
   * partition's state is loaded when it is assigned (TransactionHooks.loadTasks) and dropped when it
   * is revoked, after the commit that saves it. Needs `transactions` with loadTasks. With several
   * co-partitioned topics (a source with `copartition`), partition q of each belongs to task q:
   * its watermark is the smallest stream time of the task's partitions, and the task is loaded and
   * dropped once for all of them.
   */
  taskState?: boolean;
}

export interface TransactionHooks {
  intervalMs: number;
  /** Commits the current transaction with this state and these positions ([partition, next offset]), then begins the next. */
  commit(state: RunSnapshot, positions: Array<[number, number]>): Promise<void>;
  /** State per partition (CoordinatorOptions.taskState): the last committed state of these tasks (absent: none). */
  loadTasks?(tasks: readonly number[]): Promise<Map<number, SavedTask>>;
}

export interface StateLogHooks {
  intervalMs: number;
  /** Writes what changed of the shards' state (each shard's checkpoint words, [] for one without); resolves once it is durable. */
  save(shards: readonly Float64Array[]): Promise<void>;
  /** The whole logged state as shard snapshot words (ShardProcessor.mergeState); undefined: nothing logged. */
  load(): Promise<Float64Array | undefined>;
}

/** One task's committed state (CoordinatorOptions.taskState). */
export interface SavedTask {
  /** The stream time of the partition whose number is the task's (the only one with one topic). */
  streamTime: number;
  /** Several topics: the stream time of each of the task's partitions. */
  streamTimes?: Map<number, number>;
  /** Its TaskedProcessor task words. */
  words: Float64Array;
}

export interface Progress {
  events: number;
  processed: number;
  elapsedSeconds: number;
  eventsPerSec: number;
  latencyMs: { p50: number; p99: number };
  ringFill: number;
  outputs: Record<string, number>;
  workerRestarts: number;
  watermark: number;
  /** Records acknowledged by each worker. */
  processedByWorker: number[];
  // ── for metrics exporters (src/http, src/metrics/prometheus.ts); read at snapshot rate ──
  /** Input ring fill of each worker, 0..1. */
  ringFillByWorker: number[];
  /** Records that could not be decoded and went to the dead-letter topic (Kafka sources). */
  deadLetters: number;
  /** Partitions assigned to this process (all of them for the generator and files). */
  assignedPartitions: number;
  /** The retry topic's counts so far (Kafka runs). */
  retries?: RetryCounts;
  /** Entries in each worker's state stores (open windows), as the worker last published them. */
  stateEntriesByWorker: number[];
  /** Bytes held by each worker's state stores, to the KiB. */
  stateBytesByWorker: number[];
}

export interface RunSummary {
  pipeline: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
  workers: number;
  outputs: Record<string, number>;
  latencyMs: { p50: number; p99: number };
  workerRestarts: number;
  /** Records that could not be decoded and went to the dead-letter topic (Kafka sources). */
  deadLetters?: number;
  /** The retry topic's counts (Kafka runs; src/io/retry.ts). */
  retries?: RetryCounts;
  /** Records moved between shards through repartition edges (a DSL topology grouping by a new key). */
  repartitioned?: number;
  /** How they moved (CoordinatorOptions.repartitionPath, after its fallbacks). */
  repartitionPath?: "peer" | "coordinator";
  /** Outputs that named a per-event (transient) id whose string was no longer kept, so carry "" (set by the CLI when any). */
  transientMisses?: number;
}

/** Unacknowledged sink writes above which the coordinator stops asking the source for more. */
const SINK_HIGH_WATER = 200_000;
const COMMIT_INTERVAL_MS = 200;
const SLICE_MS = 8;
/** Batches under SMALL_BATCH records wake a sleeping shard once they hold SMALL_BATCH records (Ring.publishDeferred). */
const SMALL_BATCH = 64;
/** Input ring slots per batch of the ring's record budget (ringSlots · batchSize records). */
const SMALL_BATCH_SLOTS = 4;
/** …while the ring stays within this size. */
const SMALL_BATCH_RING_BYTES = 16 << 20;

/**
 * ringSlots when not given: 16 batches; for a source read in arrival order (Kafka), doubled up to
 * 64 while they fit in 8 MiB (driver-tracking's 2048-record batches, 106 KiB each, get 64;
 * batches with text keep 16). A shard releases its input only at a checkpoint, every half of this
 * budget, and a checkpoint copies its whole state: with 16 batches the shards of a Kafka frames
 * run spent a third of their time in checkpoints and the coordinator waited on their rings
 * (bench/RESULTS.md, "Kafka path: shards that waited for a checkpoint"). The in-process
 * generator read no faster with 64, and its p99 at full speed rose from 14–15 to 18–21 ms (the
 * deeper queue), so it keeps 16.
 */
export function defaultRingSlots(bytesPerSlot: number, arrivalOrder: boolean): number {
  let slots = 16;
  while (arrivalOrder && slots < 64 && slots * 2 * bytesPerSlot <= 8 << 20) slots *= 2;
  return slots;
}
/**
 * Longest wait on the source (Source.whenData) when every partition came back empty and nothing
 * is in flight: records queued end it at once; it bounds how late a timer's work (idle
 * watermarks, commits) runs, instead of a loop turn every millisecond.
 */
const IDLE_WAIT_MS = 10;
/**
 * How long a bootstrap partition that gave nothing yet may hold the others back (an empty table),
 * when its source cannot say whether it has read it to its end (Source.caughtUp).
 */
const BOOTSTRAP_WAIT_MS = 2_000;
/** How long a bootstrap partition not read to its end yet may hold the others back at most. */
const BOOTSTRAP_LIMIT_MS = 60_000;
const END_LIMIT_MS = 60_000;

/** The compiled worker entry (tests run the TypeScript sources, workers always run built JS). */
export function shardWorkerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const root = join(dirname(here), "..", "..");
  const built = here.endsWith(".ts") ? join(root, "dist", "workers", "shard.js") : join(root, "workers", "shard.js");
  if (!existsSync(built)) throw new WorkerFailedError(`worker entry ${built} is missing; run \`npm run build\` first`);
  return built;
}

function positiveInt(name: string, v: unknown, max = 1 << 20): number {
  if (typeof v !== "number") throw new OptionTypeError(name, `${name} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new OptionRangeError(name, `${name} must be an integer from 1 to ${max}, got ${v}`);
  return v;
}

export class Coordinator {
  readonly workers: number;
  private readonly pipeline: PipelineDefinition;
  private readonly source: Source;
  private readonly sink: Sink;
  private readonly batchSize: number;
  private readonly inputs: BatchRing[] = [];
  private readonly outputs: BatchRing[] = [];
  private readonly controls: Int32Array[] = [];
  private readonly tasks: ShardTask[] = [];
  private readonly running: Promise<ShardSummary | void>[] = [];
  private pool: Piscina | undefined;
  private readonly histogram = new LatencyHistogram();
  /** The same latency split at the shard's processed timestamp (metrics only). */
  readonly stageLatency = new StageLatency();
  private readonly counts: Record<string, number> = {};
  private readonly merger: WindowMerger;
  private readonly streamTime: Float64Array;
  private readonly lastActive: Float64Array;
  private readonly sentWatermark: Float64Array;
  private readonly ended: Uint8Array;
  private readonly idleTimeoutMs: number;
  private readonly rate: number;
  private readonly durationMs: number;
  private produced = 0;
  private rejected = 0;
  private processed = 0;
  private seq = 0;
  /**
   * The entry times of the batches in flight, by seq (seq & entryMask; entrySeq tells whose they
   * are): runs of records and their Kafka timestamps, so that each record's latency is recorded,
   * not only its batch's oldest (see EntryRuns). Sources without them, and batches whose runs were
   * overwritten (more in flight than the table holds), fall back to the batch's oldest.
   */
  private readonly entryMask: number;
  private readonly entrySeq: Float64Array;
  private readonly entryLength: Uint8Array;
  private readonly entryTotal: Float64Array;
  private readonly entryTs: Float64Array;
  private readonly entryCount: Float64Array;
  private restarts = 0;
  private stopping = false;
  private firstEventAt = 0;
  private lastAckAt = 0;
  private startedAt = 0;
  private failure: Error | undefined;
  private readonly commits: CommitTracker | undefined;
  private committing: Promise<void> | undefined;
  private lastCommitAt = 0;
  /** State log: when the shards' checkpoints were last saved, and per shard the last batch the saved one covers. */
  private lastStateLogAt = 0;
  private loggedSeq: Float64Array = new Float64Array(0);
  /** State log: per partition, the last batch whose position may be committed (its shard's loggedSeq). */
  private commitSeqLimit: Float64Array = new Float64Array(0);
  private deadLetters = 0;
  /** When the last record was accepted, and when the end-of-input flush began (idle gap between). */
  private lastEventAt = 0;
  private finishStartedAt = 0;
  private sinkAcked = 0;
  /** Key-spread mode (see PipelineDefinition.shardKey): a staging batch scattered to every shard. */
  private readonly scatter: boolean;
  /** Records an input ring may queue (ringSlots batches of batchSize); its slots are more, for small batches. */
  private readonly recordBudget: number;
  private readonly staging: Record<string, ColumnArray> | undefined;
  private readonly route: Uint32Array;
  private readonly scatterCounts: Int32Array;
  /** When the last control batch (watermark, end, barrier) was written. */
  private controlSentAt = 0;
  /** A scattered batch's entry runs (scatterRunTs/Count) and how many of each run went to each shard. */
  private readonly scatterRunTs = new Float64Array(ENTRY_RUNS);
  private readonly scatterRunCount = new Float64Array(ENTRY_RUNS);
  private readonly scatterRunShare: Int32Array;
  private readonly columnNames: string[];
  /** Records acknowledged per worker. */
  private readonly processedBy: Float64Array;
  /** Outputs of each shard's batch in progress, held until its ACK. */
  private readonly staged: StagedOutputs[] = [];
  /**
   * Partitions read before every other (PipelineDefinition.bootstrapPartition, e.g. a joined
   * table's): 1 until caught up (a fill that gives nothing after one that gave records, or the wait
   * ran out), then 2; `booting` counts those still at 1.
   */
  private boot: Uint8Array | undefined;
  /** 1 for partitions broadcast to every shard (PipelineDefinition.broadcastPartition); its staging batch. */
  private bcast: Uint8Array | undefined;
  private bcastStaging: Record<string, ColumnArray> | undefined;
  /**
   * Layouts with text fields (schema.ts): bytes of text per record in the slot's byte area, and
   * Buffers over those areas (staging batches, and each input ring's slots), to move them with the
   * records when a batch is spread or broadcast.
   */
  private readonly textStride: number;
  private readonly inBlobs: Buffer[][] = [];
  private readonly textColumns: string[];
  private readonly textTargets: Uint8Array[] = [];
  private bootSeen: Uint8Array = new Uint8Array(0);
  private booting = 0;
  /** Per output ring, per slot: a Buffer over the slot's byte area (OUT_OBJECT texts), made once. */
  private readonly outBlobs: Buffer[][] = [];
  /** Names interned ids in pipeline-specific records (made once). */
  private readonly nameOf = (field: string, id: number): string => this.source.idName?.(field, id) ?? String(id);
  /** Highest batch seq acknowledged per shard: ACKs at or below it are replays. */
  private ackedSeq: Float64Array = new Float64Array(0);
  /** Exactly-once: the barrier in progress (producing waits for it), and when the last one ended. */
  private barrierRunning: Promise<void> | undefined;
  private lastBarrierAt = 0;
  /** The highest watermark attached to a record so far (see holdWatermark). */
  private watermarkFloor = -Infinity;
  /** Batches fed and sink writes at the last barrier: with neither changed, there is nothing to commit. */
  private lastBarrierSeq = -1;
  private lastBarrierWritten = -1;
  /** Records moving between shards (PipelineDefinition.repartition), and the ACK whose outputs apply() is applying. */
  private readonly router: RepartitionRouter | undefined;
  /** Worker-to-worker repartitioning (CoordinatorOptions.repartitionPath): its batches in flight. */
  private peers: PeerLedger | undefined;
  private ackPart = 0;
  private ackSeq = 0;
  private ackFloor = -Infinity;
  private ackMoved: Entry[] | undefined;
  private ackOrigins: Entry[] | undefined;
  /** State per partition (CoordinatorOptions.taskState). */
  private readonly taskState: boolean;
  /** Per shard: the seq of its last TASK_LOAD batch (its mailbox is free once a checkpoint covers it). */
  private readonly lastLoadSeq: number[] = [];
  /** Task loads one after another (one mailbox per shard). */
  private loading: Promise<void> = Promise.resolve();
  /** Per task, bumped on each assignment and revoke: a load of an older one is skipped. */
  private readonly taskGen: Uint32Array;
  /** Per task held here: its load (true once its state is in its shard). */
  private readonly held = new Map<number, Promise<boolean>>();
  /** Partitions being revoked, not drained yet (several topics' revocations arrive as separate calls). */
  private readonly revoked = new Set<number>();
  /** Drains of revoked partitions, one after another. */
  private draining: Promise<void> = Promise.resolve();

  constructor(private readonly options: CoordinatorOptions) {
    this.pipeline = options.pipeline;
    this.source = options.source;
    this.sink = options.sink;
    this.workers = Math.min(positiveInt("workers", options.workers ?? availableParallelism(), 256), options.pipeline.maxWorkers ?? 256);
    this.batchSize = positiveInt("batchSize", options.batchSize ?? 2048, 1 << 16);
    // The loop feeds a batch only while the records in flight plus one batch fit the source's
    // bound: a batch larger than the bound could never be fed (the engine would wait for good).
    if (this.batchSize > options.source.maxInFlight) {
      throw new OptionRangeError("batchSize", `batchSize ${this.batchSize} is larger than the ${options.source.maxInFlight} records the source can keep unacknowledged`);
    }
    const inLayout = this.pipeline.inputLayout(this.batchSize);
    const slots = positiveInt("ringSlots", options.ringSlots ?? defaultRingSlots(inLayout.bytesPerSlot, options.source.arrivalOrder === true), 1 << 12);
    if ((slots & (slots - 1)) !== 0) throw new OptionRangeError("ringSlots", `ringSlots must be a power of two, got ${slots}`);
    // An input ring queues `slots` batches' worth of records, in up to SMALL_BATCH_SLOTS times as
    // many batches when they are small (two topics merged on event time hand out a few records
    // at a time: with 16 slots the shards ran dry between the coordinator's passes).
    this.recordBudget = slots * this.batchSize;
    // …as far as SMALL_BATCH_RING_BYTES allows (large slots: records with text).
    let inSlots = slots;
    while (inSlots < slots * SMALL_BATCH_SLOTS && inSlots * 2 * inLayout.bytesPerSlot <= SMALL_BATCH_RING_BYTES) inSlots *= 2;
    const entries = options.source.enteredRuns ? Math.min(1 << 14, Math.max(64, 2 ** Math.ceil(Math.log2(inSlots * this.workers * 2)))) : 1;
    this.entryMask = entries - 1;
    this.entrySeq = new Float64Array(entries).fill(-1);
    this.entryLength = new Uint8Array(entries);
    this.entryTotal = new Float64Array(entries);
    this.entryTs = new Float64Array(entries * ENTRY_RUNS);
    this.entryCount = new Float64Array(entries * ENTRY_RUNS);
    this.rate = options.rate ?? Infinity;
    if (!(this.rate > 0)) throw new OptionRangeError("rate", `rate must be a positive number of events per second, got ${this.rate}`);
    this.durationMs = options.durationMs ?? Infinity;
    this.taskState = options.taskState === true;
    this.taskGen = new Uint32Array(options.source.partitions);
    if (this.taskState && (!options.transactions?.loadTasks || options.checkpointBytes === 0)) {
      throw new OptionRangeError("taskState", "state per partition needs exactly-once transactions that load it (loadTasks) and checkpoints");
    }
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    const outLayout = outputLayout(1024, this.pipeline.objectBytes ?? 0);
    for (let w = 0; w < this.workers; w++) {
      const input = BatchRing.create(inLayout, inSlots);
      const output = BatchRing.create(outLayout, slots * 4);
      const control = createControl();
      const checkpointBytes = options.checkpointBytes ?? 32 << 20;
      this.inputs.push(input);
      this.outputs.push(output);
      this.controls.push(new Int32Array(control));
      this.tasks.push({
        worker: w, pipeline: this.pipeline.name, config: this.pipeline.processorConfig,
        input: input.handle, output: output.handle, control, inputRecords: this.recordBudget,
        ...(checkpointBytes > 0 && { checkpoint: createCheckpoint(checkpointBytes) }),
        ...((this.taskState || options.stateLog) && { mailbox: new SharedArrayBuffer(checkpointBytes) }),
      });
      this.lastLoadSeq.push(-1);
      this.staged.push(new StagedOutputs());
      this.outBlobs.push(output.columns.map((c) => {
        const b = c["_blob"] as Uint8Array | undefined;
        return b ? Buffer.from(b.buffer, b.byteOffset, b.length) : Buffer.alloc(0);
      }));
    }
    for (const name of this.pipeline.outputs) this.counts[name] = 0;
    const P = this.source.partitions;
    this.streamTime = new Float64Array(P).fill(-Infinity);
    this.lastActive = new Float64Array(P);
    this.sentWatermark = new Float64Array(this.workers).fill(-Infinity);
    if (this.pipeline.broadcastPartition) {
      const b = new Uint8Array(P);
      for (let q = 0; q < P; q++) if (this.pipeline.broadcastPartition(q)) b[q] = 1;
      if (b.includes(1)) {
        this.bcast = b;
        this.bcastStaging = bindColumns(new ArrayBuffer(inLayout.bytesPerSlot), 0, inLayout);
      }
    }
    if (this.pipeline.bootstrapPartition) {
      this.boot = new Uint8Array(P);
      this.bootSeen = new Uint8Array(P);
      for (let q = 0; q < P; q++) if (this.pipeline.bootstrapPartition(q)) { this.boot[q] = 1; this.booting++; }
    }
    this.ended = new Uint8Array(this.workers);
    this.commits = this.source.position ? new CommitTracker(P) : undefined;
    this.processedBy = new Float64Array(this.workers);
    this.ackedSeq = new Float64Array(this.workers).fill(-1);
    this.loggedSeq = new Float64Array(this.workers).fill(-1);
    this.commitSeqLimit = new Float64Array(P).fill(-1);
    // A source with fewer partitions than workers and no offsets to commit (a file) is spread by
    // key so every worker gets a share; per-key order holds because a key always goes to one shard.
    this.scatter = this.pipeline.shardKey !== undefined && (P < this.workers || this.pipeline.keyRouted === true) && !this.source.position;
    this.columnNames = inLayout.columns.map((c) => c.name);
    this.route = new Uint32Array(this.scatter ? this.batchSize : 0);
    this.scatterCounts = new Int32Array(this.workers);
    this.scatterRunShare = new Int32Array(this.scatter ? this.workers * ENTRY_RUNS : 0);
    this.staging = this.scatter ? bindColumns(new ArrayBuffer(inLayout.bytesPerSlot), 0, inLayout) : undefined;
    this.textStride = (inLayout.textFields?.length ?? 0) * TEXT_STRIDE;
    this.textColumns = [...(inLayout.textFields ?? [])];
    if (this.textStride > 0) for (const r of this.inputs) this.inBlobs.push(r.columns.map((c) => blobBuffer(c)));
    this.source.attach?.({
      drainPartitions: (ps) => this.drainPartitions(ps),
      // A partition whose state could not be loaded must not be processed: the run fails.
      ...(this.taskState && {
        assignPartitions: (ps: readonly number[], ready: (p: number) => void) => this.assignPartitions(ps, ready).catch((err: unknown) => {
          this.failure ??= err instanceof Error ? err : new Error(String(err));
          throw err;
        }),
      }),
      ...(options.stateLog && {
        assignPartitions: (ps: readonly number[], ready: (p: number) => void) => this.mergeLoggedState(ps, ready).catch((err: unknown) => {
          this.failure ??= err instanceof Error ? err : new Error(String(err));
          throw err;
        }),
      }),
      rejected: (_p, count) => {
        this.deadLetters += count;
      },
    });
    const rp = this.pipeline.repartition;
    this.router = rp ? new RepartitionRouter({ codeBase: rp.codeBase, edges: rp.edges, tagBase: rp.tagBase, byteBase: rp.byteBase(this.batchSize), bytes: rp.bytes }, this.inputs) : undefined;
    if (rp && this.router && this.peerPath(rp.chained === true)) {
      // Worker-to-worker repartitioning: a ring per ordered pair of shards, handed to both at start.
      const W = this.workers;
      const peer = Array.from({ length: W * W }, () => BatchRing.create(inLayout, PEER_SLOTS).handle);
      const edges = { codeBase: rp.codeBase, edges: rp.edges, tagBase: rp.tagBase, byteBase: rp.byteBase(this.batchSize), bytes: rp.bytes };
      for (let w = 0; w < W; w++) {
        this.tasks[w]!.peers = {
          out: peer.slice(w * W, w * W + W), in: Array.from({ length: W }, (_, k) => peer[k * W + w]!),
          wake: this.inputs.map((r) => r.buffer), edges, log: new SharedArrayBuffer(4 * peerLogWords(inSlots, W)),
        };
      }
      this.router.peers = this.peers = new PeerLedger(W);
    }
    const { sizeMs, graceMs } = this.pipeline.window;
    const onWindow = options.onWindow;
    this.merger = new WindowMerger(this.workers, sizeMs, graceMs, (w) => {
      this.counts["window"] = (this.counts["window"] ?? 0) + 1;
      if (!this.sink.wantsObjects && !onWindow) return;
      const out = this.pipeline.renderWindow(w.key, w.start, w.count, w.sum, w.n, w.min, w.max);
      if (this.sink.wantsObjects) this.sink.write(out);
      onWindow?.(out);
    });
    if (options.restore) this.restoreFrom(options.restore);
    if (options.stateLog && options.transactions) throw new OptionRangeError("stateLog", "a state log is for at-least-once runs; exactly-once commits the whole state in its transactions");
    if (options.stateLog && options.checkpointBytes === 0) throw new OptionRangeError("stateLog", "a state log reads the shards' checkpoints (checkpointBytes > 0)");
  }

  /** Starts from a snapshot: stream times, window partials, the source's strings and each shard's state. */
  private restoreFrom(s: RunSnapshot): void {
    if (s.pipeline !== this.pipeline.name) throw new OptionRangeError("restore", `the saved state is of pipeline ${s.pipeline}, not ${this.pipeline.name}`);
    if (s.shards.length !== this.workers) {
      throw new OptionRangeError("workers", `the saved state has ${s.shards.length} shards; restart with --workers ${s.shards.length} (or start from empty state)`);
    }
    if (s.partitions !== this.source.partitions) {
      throw new OptionRangeError("restore", `the saved state is for ${s.partitions} input partitions, the input has ${this.source.partitions}`);
    }
    this.streamTime.set(s.streamTime);
    this.watermarkFloor = s.watermarkFloor;
    this.merger.importState(s.mergerClosed, s.mergerOpen);
    this.source.importState?.(s.source);
    for (let w = 0; w < this.workers; w++) {
      const ck = this.tasks[w]!.checkpoint;
      if (!ck) throw new OptionRangeError("checkpointBytes", "restoring state needs checkpoints (checkpointBytes > 0)");
      writeCheckpoint(ck, s.shards[w]!);
    }
  }

  /** The whole run's state; valid at a barrier only. */
  private snapshot(): RunSnapshot {
    const merger = this.merger.exportState();
    return {
      pipeline: this.pipeline.name,
      partitions: this.source.partitions,
      streamTime: Array.from(this.streamTime),
      watermarkFloor: this.watermarkFloor,
      mergerClosed: merger.closed,
      mergerOpen: merger.open,
      source: this.source.exportState?.() ?? null,
      shards: this.tasks.map((t) => (t.checkpoint ? readCheckpoint(t.checkpoint) : new Float64Array(0))),
    };
  }

  /**
   * Exactly-once barrier: stop feeding until every batch fed so far has been processed,
   * checkpointed and released by its shard and its outputs handed to the sink, then commit the
   * snapshot, the outputs and the input positions in one transaction. One at a time.
   */
  private barrier(force = false, afterSnapshot?: () => void): Promise<void> {
    const tx = this.options.transactions;
    if (!tx) return Promise.resolve();
    if (!force && this.seq === this.lastBarrierSeq && (this.sink.written ?? 0) === this.lastBarrierWritten && !this.barrierRunning) {
      this.lastBarrierAt = Date.now();
      return Promise.resolve();
    }
    const run = (this.barrierRunning ?? Promise.resolve()).then(async () => {
      const t0 = performance.now();
      const deadline = Date.now() + END_LIMIT_MS;
      for (;;) {
        const idle = this.inputs.every((r) => r.readable() === 0);
        this.drain();
        this.sink.service?.();
        if (this.failure) throw this.failure;
        if (idle && this.quiescent()) break;
        if (Date.now() > deadline) throw new WorkerFailedError(`shards did not reach the transaction barrier in ${END_LIMIT_MS} ms`);
        await sleep(1);
      }
      this.drain(); // the ACKs written before the last release
      const t1 = performance.now();
      await this.sink.flush?.(); // every output of the transaction handed to the producer
      const t2 = performance.now();
      const positions: Array<[number, number]> = [];
      for (let p = 0; p < this.source.partitions; p++) {
        if (this.source.assigned?.(p) === false) continue;
        const at = this.source.position!(p);
        if (at >= 0) positions.push([p, at]);
      }
      const fedSeq = this.seq;
      const written = this.sink.written ?? 0;
      const state = this.snapshot();
      // Before anything else reaches the shards (e.g. a watermark that would close a revoked
      // partition's windows here as well as at its next owner).
      afterSnapshot?.();
      const t3 = performance.now();
      await tx.commit(state, positions);
      const t4 = performance.now();
      // Where a barrier's time goes (debug): waiting for the shards, handing the outputs over,
      // the snapshot, the transaction's commit (offsets, end marker, the next begin).
      this.options.onLog?.("barrier", { quiesceMs: +(t1 - t0).toFixed(2), flushMs: +(t2 - t1).toFixed(2), snapshotMs: +(t3 - t2).toFixed(2), commitMs: +(t4 - t3).toFixed(2) });
      this.lastBarrierSeq = fedSeq;
      this.lastBarrierWritten = written;
      this.noteSinkAcks();
      this.lastBarrierAt = Date.now();
    });
    const settled = run.catch((err: unknown) => {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      throw err;
    }).finally(() => {
      if (this.barrierRunning === settled) this.barrierRunning = undefined;
    });
    this.barrierRunning = settled;
    return settled;
  }

  /** Whether repartitioned records go worker to worker (CoordinatorOptions.repartitionPath). */
  private peerPath(chained: boolean): boolean {
    const path = this.options.repartitionPath ?? (process.env["RIPTIDE_REPARTITION_PATH"] === "coordinator" ? "coordinator" : "peer");
    return path === "peer" && !chained && this.workers <= 8 && this.options.transactions === undefined && this.options.restore === undefined;
  }

  /** The worker that owns partition p. */
  private owner(p: number): number {
    return (this.source.copartition ? this.source.copartition(p) : p) % this.workers;
  }

  /** Fault injection for tests: the worker's thread exits at its next batch. */
  crashWorker(w: number): void {
    Atomics.store(this.controls[w]!, C_COMMAND, CMD_CRASH);
  }

  /** Records that could not be decoded at all (reported as invalid outputs at the edge). */
  reject(partition: number, offset: number, raw: string, reason: string): void {
    this.rejected++;
    this.counts["invalid"] = (this.counts["invalid"] ?? 0) + 1;
    if (this.sink.wantsObjects) this.sink.write({ type: "invalid", reason, event: raw });
    void partition; void offset;
  }

  private startWorker(w: number): void {
    const run = this.pool!.run(this.tasks[w]).catch((err: unknown) => {
      if (this.stopping && Atomics.load(this.controls[w]!, C_COMMAND) === CMD_STOP) return;
      this.restarts++;
      this.options.onLog?.("worker-restart", { worker: w, error: String((err as Error)?.message ?? err) });
      if (this.restarts > 100) {
        this.failure = new WorkerFailedError(`worker ${w} failed ${this.restarts} times; giving up`, { worker: w }, err);
        return;
      }
      // The command word is left alone: a fault-injection crash consumed its own command, and a
      // crash asked for while this one was being handled must still reach the replacement.
      this.startWorker(w);
    });
    this.running[w] = run;
  }

  private now(): number {
    return performance.timeOrigin + performance.now();
  }

  async run(): Promise<RunSummary> {
    this.pool = new Piscina({
      filename: shardWorkerFile(),
      minThreads: this.workers,
      maxThreads: this.workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      atomics: "disabled",
    });
    for (let w = 0; w < this.workers; w++) this.startWorker(w);
    this.startedAt = this.now();
    this.lastActive.fill(this.startedAt);
    const progressTimer = this.options.onProgress
      ? setInterval(() => this.options.onProgress!(this.progress()), this.options.progressIntervalMs ?? 1000)
      : undefined;
    let failed = false;
    try {
      await this.produceAll();
      await this.finish();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      if (progressTimer) clearInterval(progressTimer);
      // A failure while shutting down must not hide the one that ended the run.
      await this.shutdown().catch((err: unknown) => {
        if (!failed) throw err;
        this.options.onLog?.("shutdown-error", { error: String((err as Error)?.message ?? err) });
      });
    }
    if (this.failure) throw this.failure;
    return this.summary();
  }

  private stopRequested(): boolean {
    return this.options.signal?.aborted === true || this.now() - this.startedAt >= this.durationMs;
  }

  private async produceAll(): Promise<void> {
    const P = this.source.partitions;
    const cap = this.batchSize;
    let cursor = 0;
    for (;;) {
      if (this.failure) return;
      // Exactly-once: nothing is fed or written while a barrier (e.g. one a revoke asked for) commits.
      if (this.barrierRunning) await this.barrierRunning.catch(() => undefined);
      if (this.source.exhausted() || this.stopRequested()) return;
      const sliceEnd = performance.now() + SLICE_MS;
      let blocked: BatchRing | undefined;
      let overBudget = false;
      let throttledMs = 0;
      let emptyInARow = 0;
      let inputIdle = false;
      let ackWait = -1;
      while (performance.now() < sliceEnd) {
        if (this.rate !== Infinity) {
          const due = ((this.now() - this.startedAt) / 1000) * this.rate - this.produced;
          if (due < Math.min(cap, this.rate / 100)) { throttledMs = 2; break; }
        }
        if (this.produced - this.processed + cap > this.source.maxInFlight) { ackWait = this.busiestShard(); break; }
        if ((this.sink.pending ?? 0) > SINK_HIGH_WATER) { throttledMs = 2; break; }
        if (this.router && this.router.waiting > this.batchSize * this.workers * 4) { throttledMs = 1; break; }
        if (this.peers && this.peers.outstanding > this.workers * this.workers * PEER_SLOTS * 2) { throttledMs = 1; break; }
        const p = cursor;
        if (this.booting > 0 && this.boot![p] !== 1) {
          // Tables first (bootstrapPartition): streams wait until every table partition caught up.
          cursor = cursor + 1 === P ? 0 : cursor + 1;
          if (++emptyInARow >= P) { throttledMs = 1; break; }
          continue;
        }
        const w = this.owner(p);
        const ring = this.inputs[w]!;
        let slot = 0;
        const bcast = this.bcast !== undefined && this.bcast[p] === 1;
        if (this.scatter || bcast) {
          const full = this.inputs.find((r) => r.acquire() < 0 || r.queuedRecords() >= this.recordBudget);
          if (full) { blocked = full; overBudget = full.acquire() >= 0; break; }
        } else {
          slot = ring.acquire();
          const over = slot >= 0 && ring.queuedRecords() >= this.recordBudget;
          if (slot < 0 || over) {
            if (blocked === undefined) { blocked = ring; overBudget = over; }
            if (!this.source.arrivalOrder) break;
            // This shard's ring is full: the partitions of the other shards are read on (waiting
            // here left those shards idle), and the loop waits once none of them can be fed.
            cursor = cursor + 1 === P ? 0 : cursor + 1;
            if (++emptyInARow >= P) break;
            continue;
          }
        }
        const columns = bcast ? this.bcastStaging! : this.staging ?? ring.columns[slot]!;
        const max = this.rate === Infinity ? cap : Math.max(1, Math.min(cap, Math.floor(this.rate / 100)));
        const n = this.source.fill(p, columns, max);
        cursor = cursor + 1 === P ? 0 : cursor + 1;
        const now = this.now();
        if (this.booting > 0 && this.boot![p] === 1) {
          if (n > 0) this.bootSeen[p] = 1;
          // Read to the end it had when assigned, when the source can tell (Kafka); else until a read
          // that gives nothing after some records, or nothing for a while (an empty table).
          const known = this.source.caughtUp?.(p);
          const waited = this.now() - this.startedAt;
          const done = known !== undefined ? known || this.source.exhausted() || waited > BOOTSTRAP_LIMIT_MS
            : n === 0 && (this.bootSeen[p] === 1 || this.source.exhausted() || waited > BOOTSTRAP_WAIT_MS);
          if (done) {
            if (known === false && !this.source.exhausted()) this.options.onLog?.("bootstrap-timeout", { partition: p, waitedMs: Math.round(waited) });
            this.boot![p] = 2;
            this.booting--;
          }
        }
        if (n === 0) {
          if (this.commits && this.source.assigned?.(p) !== false) this.commits.add(p, -1, this.source.position!(p), -Infinity);
          if (this.source.exhausted()) break;
          if (++emptyInARow >= P) { throttledMs = 1; inputIdle = true; break; }
          continue;
        }
        emptyInARow = 0;
        blocked = undefined;
        if (this.firstEventAt === 0) this.firstEventAt = now;
        const st = this.pipeline.prepare(columns, n, this.streamTime[p]!, this.otherMin(p, now));
        this.streamTime[p] = st;
        if (this.options.transactions && !this.taskState) this.holdWatermark(columns["_wm"] as Float64Array, n);
        this.lastActive[p] = now;
        if (bcast) {
          this.broadcastBatch(columns, n, p, now, st);
          this.produced += n;
          this.lastEventAt = now;
          continue;
        }
        if (this.commits) this.commits.add(p, this.seq, this.source.position!(p), this.closeAtFor(st));
        if (this.scatter) {
          this.scatterBatch(columns, n, p, now);
          this.produced += n;
          this.lastEventAt = now;
          continue;
        }
        const h = slot * HEADER_WORDS;
        const header = ring.header;
        const wm = (columns["_wm"] as Float64Array)[n - 1]!;
        header[h + H_COUNT] = n;
        header[h + H_KIND] = BATCH_DATA;
        header[h + H_PARTITION] = p;
        header[h + H_WATERMARK] = wm;
        this.router?.stamp(w, header, h);
        header[h + H_ENQUEUED_AT] = this.enteredAt(p, now);
        if (this.source.enteredRuns) this.noteEntries(p, this.seq, n, now, header[h + H_ENQUEUED_AT]!);
        else this.stageLatency.recordSource(header[h + H_ENQUEUED_AT]!, now, n);
        header[h + H_SEQ] = this.seq++;
        // Small batches (two topics merged on event time hand out a few records at a time): a
        // sleeping shard is woken once they hold SMALL_BATCH records, and at the end of the pass.
        if (n < SMALL_BATCH) ring.publishDeferred(n, SMALL_BATCH);
        else ring.publish(n);
        this.sentWatermark[w] = wm;
        this.produced += n;
        this.lastEventAt = now;
      }
      for (const r of this.inputs) r.wakeDeferred();
      this.punctuate();
      this.drain();
      this.sink.service?.();
      this.noteSinkAcks();
      this.maybeCommit(false);
      // A transaction also commits early once SINK_HIGH_WATER outputs wait in it: under exactly-once
      // outputs count as acknowledged only at a commit (KafkaSinkOptions.transactional), and the
      // source stops being asked for more above that mark until then.
      if (this.options.transactions && (Date.now() - this.lastBarrierAt >= this.options.transactions.intervalMs || (this.sink.pending ?? 0) > SINK_HIGH_WATER)) await this.barrier();
      if (blocked) {
        // Wait for the ring we need (a free slot, or records released under its budget), bounded,
        // then drain again: the worker may be blocked on output.
        if (overBudget) await blocked.waitReleaseAsync(2);
        else await blocked.waitWritableAsync(2);
      } else if (ackWait >= 0) {
        // As many records in flight as the source keeps (maxInFlight): they leave it as the
        // shards acknowledge them (drain), so wait for the busiest shard's next acknowledgement
        // (waiting on a ring with free slots returned at once: the loop spun).
        await this.outputs[ackWait]!.waitReadableAsync(2);
      } else if (inputIdle && this.idle()) {
        await this.source.whenData!(IDLE_WAIT_MS);
      } else if (throttledMs > 0) {
        await sleep(throttledMs);
      } else {
        await yieldToEventLoop();
      }
    }
  }

  /** The shard with the most records fed and not yet released. */
  private busiestShard(): number {
    let best = 0;
    let most = -1;
    for (let w = 0; w < this.inputs.length; w++) {
      const q = this.inputs[w]!.queuedRecords();
      if (q > most) { most = q; best = w; }
    }
    return best;
  }

  /**
   * Nothing left for the loop to do until records arrive: the source can say when (whenData),
   * every record fed was acknowledged, no output awaits its delivery report, nothing moves between
   * shards, and no control batch went out lately (its outputs would wait for the next turn).
   */
  private idle(): boolean {
    return this.source.whenData !== undefined && this.produced === this.processed && (this.sink.pending ?? 0) === 0 &&
      this.quiescent() && this.peers === undefined && this.now() - this.controlSentAt > IDLE_WAIT_MS;
  }

  /**
   * A batch of a broadcast partition (PipelineDefinition.broadcastPartition: a global table) copied
   * to every shard. Each copy is its own batch for the commit tracker, which lets the position go
   * once every shard acknowledged its copy; only the first shard's copy counts as processed events.
   */
  private broadcastBatch(src: Record<string, ColumnArray>, n: number, p: number, now: number, st: number): void {
    const wm = (src["_wm"] as Float64Array)[n - 1]!;
    const position = this.commits ? this.source.position!(p) : 0;
    const closeAt = this.closeAtFor(st);
    const entered = this.enteredAt(p, now);
    for (let w = 0; w < this.workers; w++) {
      const ring = this.inputs[w]!;
      const slot = ring.acquire();
      const to = ring.columns[slot]!;
      for (const name of this.columnNames) (to[name] as Float64Array).set((src[name] as Float64Array).subarray(0, n));
      if (this.textStride > 0) blobBuffer(src).copy(this.inBlobs[w]![slot]!, 0, 0, n * this.textStride);
      const h = slot * HEADER_WORDS;
      const seq = this.seq++;
      ring.header[h + H_COUNT] = n;
      ring.header[h + H_KIND] = BATCH_DATA;
      ring.header[h + H_PARTITION] = p;
      ring.header[h + H_WATERMARK] = wm;
      this.router?.stamp(w, ring.header, h);
      ring.header[h + H_ENQUEUED_AT] = entered;
      ring.header[h + H_SEQ] = seq;
      // Latency counts the first copy's records (as processed events do).
      if (w === 0) {
        if (this.source.enteredRuns) this.noteEntries(p, seq, n, now, entered);
        else this.stageLatency.recordSource(entered, now, n);
      }
      // The position rides on the last copy only: the tracker commits in order, so it goes once every
      // shard acknowledged its copy (on each copy, the first shard's ack alone would release it).
      if (this.commits) this.commits.add(p, seq, w === this.workers - 1 ? position : -1, closeAt, w);
      ring.publish(n);
      this.sentWatermark[w] = wm;
    }
  }

  /**
   * Spreads a staging batch over every shard by key (one acquired slot per shard), column by
   * column so each copy loop touches one typed-array type, and publishes the non-empty slots.
   */
  private scatterBatch(src: Record<string, ColumnArray>, n: number, p: number, now: number): void {
    const W = this.workers;
    const key = src[this.pipeline.shardKey!]!;
    const route = this.route;
    for (let i = 0; i < n; i++) route[i] = ((Math.imul(key[i]!, 0x9e3779b1) >>> 8) % W) >>> 0;
    const slots: number[] = [];
    for (let w = 0; w < W; w++) slots.push(this.inputs[w]!.acquire());
    const counts = this.scatterCounts;
    for (const name of this.columnNames) {
      const from = src[name]!;
      const to: ColumnArray[] = [];
      for (let w = 0; w < W; w++) to.push(this.inputs[w]!.columns[slots[w]!]![name]!);
      counts.fill(0);
      for (let i = 0; i < n; i++) {
        const w = route[i]!;
        to[w]![counts[w]!++] = from[i]!;
      }
    }
    if (this.textStride > 0) {
      // Text values travel with their records (each record's values are at its index): only
      // their bytes (length + 1 in the column), byte by byte — they are short.
      const texts = this.textColumns;
      const nText = texts.length;
      const from = src["_blob"] as Uint8Array;
      const to: Uint8Array[] = this.textTargets;
      for (let w = 0; w < W; w++) to[w] = this.inputs[w]!.columns[slots[w]!]!["_blob"] as Uint8Array;
      counts.fill(0);
      for (let i = 0; i < n; i++) {
        const w = route[i]!;
        const j = counts[w]!++;
        const dst = to[w]!;
        for (let f = 0; f < nText; f++) {
          const len = (src[texts[f]!] as Uint32Array)[i]!;
          if (len <= 1 || len === TEXT_TOO_LONG) continue;
          let a = (i * nText + f) * TEXT_STRIDE;
          let b = (j * nText + f) * TEXT_STRIDE;
          const end = a + len - 1;
          while (a < end) dst[b++] = from[a++]!;
        }
      }
    }
    const wm = (src["_wm"] as Float64Array)[n - 1]!;
    const entered = this.enteredAt(p, now);
    const runs = this.scatterRuns(p, n, now);
    for (let w = 0; w < W; w++) {
      if (counts[w] === 0) continue;
      const ring = this.inputs[w]!;
      const h = slots[w]! * HEADER_WORDS;
      ring.header[h + H_COUNT] = counts[w]!;
      ring.header[h + H_KIND] = BATCH_DATA;
      ring.header[h + H_PARTITION] = p;
      ring.header[h + H_WATERMARK] = wm;
      this.router?.stamp(w, ring.header, h);
      ring.header[h + H_ENQUEUED_AT] = entered;
      const seq = this.seq++;
      ring.header[h + H_SEQ] = seq;
      if (runs > 0) this.noteScatteredEntries(w, seq, runs, counts[w]!, now);
      else this.stageLatency.recordSource(entered, now, counts[w]!);
      ring.publish(counts[w]!);
      this.sentWatermark[w] = wm;
    }
  }

  /** When partition p's batch being published at `now` entered, as a whole (its oldest record). */
  private enteredAt(p: number, now: number): number {
    const entered = this.source.enteredAt?.(p) ?? 0;
    return entered > 0 && entered < now ? entered : now;
  }

  /**
   * The entry runs of a batch about to be scattered (route[] set): how many records of each run go
   * to each shard (scatterRunShare), so that each shard's slot keeps its records' entry times. The
   * number of runs, or 0 when the source does not know them (each slot then counts the batch's oldest).
   */
  private scatterRuns(p: number, n: number, now: number): number {
    if (!this.source.enteredRuns) return 0;
    const ts = this.scatterRunTs, count = this.scatterRunCount, share = this.scatterRunShare, route = this.route;
    const k = this.source.enteredRuns(p, ts, count, 0, ENTRY_RUNS);
    let total = 0;
    for (let r = 0; r < k; r++) total += count[r]!;
    if (k === 0 || total !== n) return 0;
    share.fill(0);
    let i = 0;
    for (let r = 0; r < k; r++) {
      if (!(ts[r]! > 0 && ts[r]! < now)) ts[r] = now; // as noteEntries
      for (let end = i + count[r]!; i < end; i++) share[route[i]! * ENTRY_RUNS + r]++;
    }
    return k;
  }

  /** Keeps the entry runs of shard w's share (`n` records) of a scattered batch published as `seq`, and records its stage "source". */
  private noteScatteredEntries(w: number, seq: number, runs: number, n: number, now: number): void {
    const e = seq & this.entryMask;
    const at = e * ENTRY_RUNS;
    let len = 0;
    for (let r = 0; r < runs; r++) {
      const c = this.scatterRunShare[w * ENTRY_RUNS + r]!;
      if (c === 0) continue;
      this.entryTs[at + len] = this.scatterRunTs[r]!;
      this.entryCount[at + len] = c;
      this.stageLatency.recordSource(this.scatterRunTs[r]!, now, c);
      len++;
    }
    this.entrySeq[e] = seq;
    this.entryLength[e] = len;
    this.entryTotal[e] = n;
  }

  /**
   * Whether partition q counts for the watermark (when it is not idle). At-least-once: only the
   * partitions assigned to this process (others belong to other group members). Exactly-once (one
   * process per group, its state holding every partition): all of them, so that after a restart
   * the partitions not assigned yet (the dead instance's session has not expired) hold the
   * watermark where the restored state left it instead of letting it run ahead.
   */
  private holdsWatermark(q: number): boolean {
    if (this.pipeline.eventTimePartition?.(q) === false) return false;
    return (this.options.transactions !== undefined && !this.taskState) || this.source.assigned?.(q) !== false;
  }

  /**
   * Exactly-once: watermarks never go back. A partition back from idleness may hold a smaller
   * stream time than the watermark the shards have already closed windows at; its records then see
   * that watermark (late if their window has closed), as in Flink, instead of opening a closed
   * window a second time. (At-least-once keeps the per-record watermark: a partition handed over
   * from another process then re-opens its windows as partial aggregates of its own.)
   */
  private holdWatermark(wm: Float64Array, n: number): void {
    const floor = this.watermarkFloor;
    for (let i = 0; i < n; i++) if (wm[i]! < floor) wm[i] = floor;
    if (n > 0 && wm[n - 1]! > floor) this.watermarkFloor = wm[n - 1]!;
  }

  /**
   * Smallest stream time of the partitions other than p that are not idle (Infinity if none). With
   * state per partition, of the other partitions of p's task only (each task runs at its own stream
   * time, the smallest of its partitions').
   */
  private otherMin(p: number, now: number): number {
    let min = Infinity;
    if (this.taskState && !this.source.copartition) return min;
    const task = this.taskState ? this.taskOf(p) : -1;
    const st = this.streamTime;
    for (let q = 0; q < st.length; q++) {
      if (q !== p && st[q]! < min && (task < 0 || this.taskOf(q) === task) && now - this.lastActive[q]! <= this.idleTimeoutMs && this.holdsWatermark(q)) min = st[q]!;
    }
    return min;
  }

  /**
   * State per partition: the task partition p belongs to (its co-partition index with several
   * topics); -1 for a broadcast partition (a global table's: read whole by every process, no task's).
   */
  private taskOf(p: number): number {
    if (this.bcast?.[p] === 1) return -1;
    return this.source.copartition ? this.source.copartition(p) : p;
  }

  /** The partitions of these tasks. */
  private partitionsOf(tasks: readonly number[]): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.source.partitions; p++) if (tasks.includes(this.taskOf(p))) out.push(p);
    return out;
  }

  private globalWatermark(now: number): number {
    let min = Infinity;
    let any = false;
    for (let q = 0; q < this.streamTime.length; q++) {
      if (now - this.lastActive[q]! <= this.idleTimeoutMs && this.holdsWatermark(q)) {
        any = true;
        if (this.streamTime[q]! < min) min = this.streamTime[q]!;
      }
    }
    if (any) return min;
    return this.options.wallClockClose === true ? this.wallClockWatermark(now) : -Infinity;
  }

  /**
   * Every partition is idle (CoordinatorOptions.wallClockClose): the largest stream time plus the
   * wall-clock time since the last record, in steps of 100 ms (one watermark batch per shard per
   * step, not one per loop turn).
   */
  private wallClockWatermark(now: number): number {
    let max = -Infinity;
    for (let q = 0; q < this.streamTime.length; q++) if (this.holdsWatermark(q) && this.streamTime[q]! > max) max = this.streamTime[q]!;
    if (max === -Infinity || this.lastEventAt === 0) return -Infinity;
    return max + Math.floor((now - this.lastEventAt) / 100) * 100;
  }

  /** Sends the watermark to shards that have not seen it (they got no data lately), if they have room. */
  private punctuate(): void {
    const wm = Math.max(this.globalWatermark(this.now()), this.watermarkFloor);
    if (wm === -Infinity || wm === Infinity) return;
    for (let w = 0; w < this.workers; w++) {
      // A repartitioning topology's shards also need the second watermark as it moves (acks raise it).
      const stale = this.router !== undefined && this.router.stale(w);
      if (this.sentWatermark[w]! >= wm && !stale) continue;
      const ring = this.inputs[w]!;
      if (ring.readable() > 0) continue; // it has batches to chew on; their watermarks will follow
      const slot = ring.acquire();
      if (slot < 0) continue;
      const to = Math.max(wm, this.sentWatermark[w]!);
      this.writeControlBatch(w, slot, BATCH_WATERMARK, to);
      this.sentWatermark[w] = to;
    }
  }

  /** No record moving between shards, waiting or unacknowledged (always, without repartitioning). */
  private quiescent(): boolean {
    return this.router === undefined || this.router.quiescent();
  }

  private writeControlBatch(w: number, slot: number, kind: number, wm: number): void {
    this.controlSentAt = this.now();
    const ring = this.inputs[w]!;
    const h = slot * HEADER_WORDS;
    ring.header[h + H_COUNT] = 0;
    ring.header[h + H_KIND] = kind;
    ring.header[h + H_PARTITION] = -1;
    ring.header[h + H_WATERMARK] = wm;
    this.router?.stamp(w, ring.header, h, kind === BATCH_END);
    ring.header[h + H_ENQUEUED_AT] = this.now();
    ring.header[h + H_SEQ] = this.seq++;
    ring.publish();
  }

  /**
   * Keeps the entry runs of the batch of `n` records of partition p about to be published as `seq`
   * (entered at `entered` as a whole), and records its stage "source".
   */
  private noteEntries(p: number, seq: number, n: number, now: number, entered: number): void {
    const e = seq & this.entryMask;
    const at = e * ENTRY_RUNS;
    const k = this.source.enteredRuns!(p, this.entryTs, this.entryCount, at, ENTRY_RUNS);
    let total = 0;
    for (let i = at; i < at + k; i++) {
      const t = this.entryTs[i]!;
      if (!(t > 0 && t < now)) this.entryTs[i] = now; // no timestamp, or one from a clock ahead: entered now
      total += this.entryCount[i]!;
    }
    this.entrySeq[e] = k > 0 && total === n ? seq : -1;
    this.entryLength[e] = k;
    this.entryTotal[e] = total;
    if (this.entrySeq[e] === seq) for (let i = at; i < at + k; i++) this.stageLatency.recordSource(this.entryTs[i]!, now, this.entryCount[i]!);
    else this.stageLatency.recordSource(entered, now, n);
  }

  /** The latency of an acknowledged batch's `count` records: per run of entry times when known. */
  private recordLatency(seq: number, enqueuedAt: number, processedAt: number, now: number, count: number): void {
    const e = seq & this.entryMask;
    if (this.entrySeq[e] === seq && this.entryTotal[e] === count) {
      this.entrySeq[e] = -1;
      for (let i = e * ENTRY_RUNS, end = i + this.entryLength[e]!; i < end; i++) {
        this.histogram.record(now - this.entryTs[i]!, this.entryCount[i]!);
        this.stageLatency.record(this.entryTs[i]!, processedAt, now, this.entryCount[i]!);
      }
      return;
    }
    this.histogram.record(now - enqueuedAt, count);
    this.stageLatency.record(enqueuedAt, processedAt, now, count);
  }

  /** Reads every published output batch of every shard. */
  private drain(): void {
    const now = this.now();
    for (let w = 0; w < this.workers; w++) {
      const ring = this.outputs[w]!;
      for (let slot = ring.peek(); slot >= 0; slot = ring.peek()) {
        const n = ring.header[slot * HEADER_WORDS + H_COUNT]!;
        const o = ring.columns[slot] as unknown as OutputColumns;
        const staged = this.staged[w]!;
        for (let i = 0; i < n; i++) {
          const kind = o.kind[i]!;
          if (kind === OUT_WINDOW || kind === OUT_INVALID || kind === OUT_ANOMALY || kind === OUT_LATE || kind === OUT_POSITION || kind >= OUT_PIPELINE_BASE) {
            staged.push(o, i);
          } else if (kind === OUT_PEER_SENT) {
            staged.push(o, i);
          } else if (kind === OUT_PEER_DONE) {
            // A batch of records from peer shard `key`: its outputs take effect once (not on a replay).
            const from = o.key[i]!;
            if (this.peers!.seen(from, w, o.d[i]!)) {
              staged.clear();
              continue;
            }
            this.apply(staged);
            this.peers!.processed(from, w, o.d[i]!);
          } else if (kind === OUT_OBJECT) {
            const at = o.a[i]!;
            staged.pushObject(o, i, this.outBlobs[w]![slot]!.toString("utf8", at, at + o.b[i]!));
          } else if (kind === OUT_ACK) {
            const seq = o.d[i]!;
            if (seq <= this.ackedSeq[w]!) {
              staged.clear(); // a batch replayed after a worker restart: its outputs already counted
              continue;
            }
            this.ackedSeq[w] = seq;
            const part = o.part[i]!;
            if (this.router) {
              // Outputs through a repartition edge move on (apply); what they came from stays held.
              this.ackMoved = this.router.acked(w, seq);
              this.ackPart = part;
              this.ackSeq = seq;
              this.ackFloor = Math.min(this.router.passedBefore(w), o.e[i]!);
              this.ackOrigins = undefined;
              this.apply(staged);
              this.router.passedBy(w, o.e[i]!);
              this.router.operatedBy(w, o.f[i]!);
              if (this.ackMoved !== undefined) continue; // a batch of moved records: no input batch of any partition
            } else this.apply(staged);
            const copy = this.bcast !== undefined && this.bcast[part] === 1;
            // A broadcast batch's records count once (its first shard's copy).
            const count = copy && w !== 0 ? 0 : o.b[i]!;
            if (count > 0) {
              this.processed += count;
              this.processedBy[w] += count;
              this.recordLatency(seq, o.a[i]!, o.c[i]!, now, count);
              this.lastAckAt = now;
            }
            this.merger.closedThrough(w, o.e[i]!);
            if (this.commits && o.b[i]! > 0) this.commits.ack(part, seq, copy ? w : -1);
          } else if (kind === OUT_STARTED) {
            staged.clear(); // outputs of a batch its predecessor never acknowledged
            noteWorkerStarted(w, this.controls[w]!, this.tasks[w]!.checkpoint, this.ackedSeq[w]!, this.options.onLog);
          } else if (kind === OUT_ENDED) {
            this.ended[w] = 1;
          }
        }
        ring.release();
      }
    }
    this.router?.fill(() => this.seq++, now);
  }

  /** The outputs of one acknowledged batch take effect. */
  private apply(staged: StagedOutputs): void {
    const o = staged.cols;
    for (let i = 0; i < staged.count; i++) {
      const kind = o.kind[i]!;
      if (kind === OUT_WINDOW) {
        this.merger.add(o.key[i]!, o.a[i]!, o.b[i]!, o.c[i]!, o.d[i]!, o.e[i]!, o.f[i]!);
      } else if (kind >= OUT_PIPELINE_BASE) {
        const name = this.pipeline.recordName?.(kind) ?? `kind-${kind}`;
        this.counts[name] = (this.counts[name] ?? 0) + 1;
        if (this.sink.wantsObjects && this.pipeline.renderRecord) this.sink.write(this.pipeline.renderRecord(o, i, this.nameOf));
      } else if (kind === OUT_PEER_SENT) {
        this.ackOrigins ??= this.ackMoved ?? this.originOf(this.ackPart, this.ackSeq);
        this.peers!.wrote(o.part[i]!, o.key[i]!, o.d[i]!, o.b[i]!, this.ackFloor, this.ackOrigins);
      } else if (kind === OUT_OBJECT && this.router?.isEdge(o.code[i]!)) {
        this.ackOrigins ??= this.ackMoved ?? this.originOf(this.ackPart, this.ackSeq);
        this.router.add(o.code[i]!, o.d[i]!, staged.texts[o.a[i]!]!, o.c[i]!, o.off[i]!, this.ackFloor, this.ackOrigins);
      } else if (kind === OUT_OBJECT) {
        const name = this.pipeline.objectName?.(o.code[i]!) ?? `output-${o.code[i]}`;
        this.counts[name] = (this.counts[name] ?? 0) + 1;
        if (this.sink.wantsObjects && this.pipeline.renderObject) this.sink.write(this.pipeline.renderObject(o.code[i]!, staged.texts[o.a[i]!]!, o, i));
      } else if (kind === OUT_POSITION) {
        this.counts["position"] = (this.counts["position"] ?? 0) + 1;
        this.sink.writeRecord?.(o, i); // columnar: no object per position
      } else {
        const name = this.pipeline.sideName(kind);
        this.counts[name] = (this.counts[name] ?? 0) + 1;
        if (this.sink.wantsObjects) this.sink.write(this.pipeline.renderSide(o, i, this.source.event(o, i)));
      }
    }
    staged.clear();
  }

  /** The commit entry of input batch `seq` of partition p, as the list a moving record holds. */
  private originOf(p: number, seq: number): Entry[] {
    const e = this.commits?.entry(p, seq);
    return e ? [e] : [];
  }

  /** Bounded input ended (or the run was stopped): every shard flushes its windows; wait for all. */
  private async finish(): Promise<void> {
    this.finishStartedAt = this.now();
    const deadline = Date.now() + END_LIMIT_MS;
    // Records still moving between shards are delivered (and processed) before the end of input.
    for (;;) {
      if (this.failure) return;
      // Every ACK is written before its slot is released: a drain after an idle check sees them all.
      const idle = this.inputs.every((r) => r.readable() === 0);
      this.drain();
      if (idle && this.quiescent()) break;
      if (Date.now() > deadline) throw new WorkerFailedError(`records moving between shards were not delivered in ${END_LIMIT_MS} ms after the end of input`);
      await sleep(1);
    }
    for (let w = 0; w < this.workers; w++) {
      const ring = this.inputs[w]!;
      let slot = ring.acquire();
      while (slot < 0) {
        this.drain();
        if (Date.now() > deadline) throw new WorkerFailedError(`shard ${w} did not take the end-of-input batch in ${END_LIMIT_MS} ms`, { worker: w });
        await ring.waitWritableAsync(5);
        slot = ring.acquire();
      }
      this.writeControlBatch(w, slot, BATCH_END, Infinity);
    }
    while (this.ended.some((e) => e === 0)) {
      if (this.failure) return;
      this.drain();
      if (Date.now() > deadline) throw new WorkerFailedError(`shards did not flush in ${END_LIMIT_MS} ms after the end of input`);
      const w = this.ended.indexOf(0);
      if (w >= 0) await this.outputs[w]!.waitReadableAsync(5);
    }
    this.drain();
    if (!this.quiescent()) throw new WorkerFailedError(`${this.router!.waiting} records moved between shards after the end-of-input flush (an operator emitting at close upstream of a repartition?)`);
    await this.sink.flush?.();
    this.noteSinkAcks();
    await this.committing;
    this.maybeCommit(true);
    await this.committing;
    await this.barrier();
  }

  /** Output acknowledgements count as the run's last activity. */
  private noteSinkAcks(): void {
    const acked = this.sink.acknowledged;
    if (acked !== undefined && acked > this.sinkAcked) {
      this.sinkAcked = acked;
      this.lastAckAt = this.now();
    }
  }

  /** The event time by which every window of a record with timestamp ≤ streamTime has closed. */
  private closeAtFor(streamTime: number): number {
    if (this.pipeline.closeAt) return this.pipeline.closeAt(streamTime);
    const { sizeMs, graceMs } = this.pipeline.window;
    return Math.floor(streamTime / sizeMs) * sizeMs + sizeMs + graceMs;
  }

  /** Commits the positions whose outputs are all acknowledged (one commit in flight at a time). */
  private maybeCommit(force: boolean): void {
    if (!this.commits || !this.source.commit || this.committing || this.options.transactions) return;
    const now = Date.now();
    if (!force && now - this.lastCommitAt < COMMIT_INTERVAL_MS) return;
    this.lastCommitAt = now;
    if (this.options.stateLog) {
      this.committing = this.logStateThenCommit(force)
        .catch((err: unknown) => this.options.onLog?.("commit-error", { error: String((err as Error).message) }))
        .finally(() => { this.committing = undefined; });
      return;
    }
    const ready = this.readyPositions();
    if (ready.length === 0) return;
    this.committing = this.source.commit(ready)
      .catch((err: unknown) => this.options.onLog?.("commit-error", { error: String((err as Error).message) }))
      .finally(() => { this.committing = undefined; });
  }

  /** The positions safe to commit now (CommitTracker.ready), logged with RIPTIDE_LOG_COMMITS=1. */
  private readyPositions(): Array<[number, number]> {
    // With repartitioning, windows close at the watermark the operators ran at (H_AUX0), not the input's.
    const closedAll = this.router ? this.router.closedAll() : this.merger.closedAll;
    const ready = this.commits!.ready(closedAll, this.sink.written ?? 0, this.sink.acknowledged ?? Infinity, this.options.stateLog ? this.commitSeqLimit : undefined);
    if (ready.length > 0 && process.env["RIPTIDE_LOG_COMMITS"] === "1") this.options.onLog?.("commit", { positions: ready, closedAll, written: this.sink.written, acknowledged: this.sink.acknowledged });
    return ready;
  }

  /**
   * At-least-once with a state log: about every stateLog.intervalMs (and at every forced commit:
   * a revoke, the end) the shards' current checkpoints are saved, then the positions their saved
   * checkpoints cover are committed. A forced one first waits (bounded) until each shard's
   * checkpoint covers every batch it acknowledged, so a revoke or the end commits everything.
   */
  private async logStateThenCommit(force: boolean): Promise<void> {
    const log = this.options.stateLog!;
    const now = Date.now();
    if (force || now - this.lastStateLogAt >= log.intervalMs) {
      this.lastStateLogAt = now;
      if (force) {
        const deadline = Date.now() + 5_000;
        while (this.tasks.some((t, w) => t.checkpoint !== undefined && checkpointSeq(t.checkpoint) < this.ackedSeq[w]!) && Date.now() < deadline) await sleep(2);
      }
      const copies = this.tasks.map((t) => (t.checkpoint ? copyCheckpoint(t.checkpoint) : null));
      await log.save(copies.map((c) => c?.words ?? new Float64Array(0)));
      copies.forEach((c, w) => { if (c && c.seq > this.loggedSeq[w]!) this.loggedSeq[w] = c.seq; });
      for (let p = 0; p < this.commitSeqLimit.length; p++) this.commitSeqLimit[p] = this.loggedSeq[this.owner(p)]!;
    }
    const ready = this.readyPositions();
    if (ready.length > 0) await this.source.commit!(ready);
  }

  /**
   * State per partition: on assignment, each task's committed state is loaded into its shard (a
   * TASK_LOAD batch ahead of its first records) with its partitions' stream times; `ready(p)` lets
   * the source read p from then on (fetching runs meanwhile). A task is loaded once, for the first
   * of its partitions assigned (each topic's part of an assignment comes as its own call). Each
   * task is read from the changelog on its own, so a partition processes as soon as its own state
   * is back (one whose changelog partition waits for a dead process's transaction to be aborted
   * holds back no other), and each logs its restore (task-restore: bytes, ms).
   */
  private async assignPartitions(ps: readonly number[], ready: (p: number) => void): Promise<void> {
    const tx = this.options.transactions!;
    const t0 = Date.now();
    const fresh = [...new Set(ps.map((p) => this.taskOf(p)))].filter((t) => t >= 0 && !this.held.has(t));
    for (const t of fresh) {
      const gen = ++this.taskGen[t]!;
      this.held.set(t, tx.loadTasks!([t]).then(async (saved) => {
        if (this.taskGen[t] !== gen) return false; // revoked meanwhile
        const task = saved.get(t);
        for (const p of this.partitionsOf([t])) {
          this.streamTime[p] = task?.streamTimes?.get(p) ?? (p === t ? task?.streamTime : undefined) ?? -Infinity;
          this.lastActive[p] = this.now();
          this.commits?.forget(p);
        }
        const loaded = await this.loadTask(t % this.workers, t, task?.words ?? new Float64Array(0), gen);
        this.options.onLog?.("task-restore", {
          partitions: this.partitionsOf([t]).filter((p) => ps.includes(p)), tasks: [t], restored: task ? [t] : [], bytes: (task?.words.length ?? 0) * 8, ms: Date.now() - t0,
        });
        return loaded;
      }));
    }
    await Promise.all(ps.map(async (p) => {
      const t = this.taskOf(p);
      if (t < 0 || await this.held.get(t)) ready(p);
    }));
  }

  /**
   * At-least-once with a state log, on assignment: the log is read (it holds what the partitions'
   * last owner saved before committing their offsets, or before it died) and merged into the
   * shards that own them, ahead of their first records; then the source may read them.
   */
  private async mergeLoggedState(ps: readonly number[], ready: (p: number) => void): Promise<void> {
    const t0 = Date.now();
    const words = await this.options.stateLog!.load();
    if (words) {
      for (const w of new Set(ps.map((p) => this.owner(p)))) await this.sendToMailbox(w, TASK_MERGE, -1, words, () => this.stopping);
    }
    this.options.onLog?.("state-merge", { partitions: ps, words: words?.length ?? 0, ms: Date.now() - t0 });
    for (const p of ps) ready(p);
  }

  /**
   * Installs a task's state through shard w's mailbox, once its previous load is checkpointed;
   * false when the partition was revoked meanwhile (nothing installed).
   */
  private loadTask(w: number, p: number, words: Float64Array, gen: number): Promise<boolean> {
    return this.sendToMailbox(w, TASK_LOAD, p, words, () => this.taskGen[p] !== gen || this.stopping);
  }

  /**
   * Writes `words` to shard w's mailbox once its previous content is checkpointed (taken in), then
   * a BATCH_TASK batch `op` of partition p; false when `skip()` said so meanwhile (nothing sent).
   */
  private sendToMailbox(w: number, op: number, p: number, words: Float64Array, skip: () => boolean): Promise<boolean> {
    const run = this.loading.then(async () => {
      const mailbox = this.tasks[w]!.mailbox!;
      const ck = this.tasks[w]!.checkpoint!;
      const deadline = Date.now() + END_LIMIT_MS;
      while (this.lastLoadSeq[w]! >= 0 && checkpointSeq(ck) < this.lastLoadSeq[w]!) {
        if (this.failure) throw this.failure;
        // Revoked or shutting down meanwhile (a run ending on an error): the workers may never
        // checkpoint again; a revoke waiting for this load must not wait END_LIMIT_MS for it.
        if (skip()) return false;
        if (Date.now() > deadline) throw new WorkerFailedError(`shard ${w} did not checkpoint its last mailbox load in ${END_LIMIT_MS} ms`);
        await sleep(2);
      }
      if (skip()) return false;
      const box = new Float64Array(mailbox);
      if (words.length + 1 > box.length) {
        throw new OptionRangeError("checkpointBytes", `${op === TASK_MERGE ? "the logged state" : `partition ${p}'s saved state`} (${words.length * 8} bytes) does not fit a shard's mailbox (${mailbox.byteLength} bytes)`);
      }
      box[0] = words.length;
      box.set(words, 1);
      while (!this.moveTask(w, op, p)) {
        if (this.failure) throw this.failure;
        if (Date.now() > deadline) throw new WorkerFailedError(`shard ${w}'s ring had no room for ${op === TASK_MERGE ? "the logged state" : `partition ${p}'s state`} in ${END_LIMIT_MS} ms`);
        this.drain();
        await sleep(1);
      }
      this.lastLoadSeq[w] = this.seq - 1;
      return true;
    });
    this.loading = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Writes a BATCH_TASK batch (TASK_LOAD or TASK_DROP of partition p) to shard w; false when its ring is full. */
  private moveTask(w: number, op: number, p: number): boolean {
    const ring = this.inputs[w]!;
    const slot = ring.acquire();
    if (slot < 0) {
      if (op === TASK_DROP) throw new WorkerFailedError(`shard ${w}'s ring was full at a barrier: partition ${p}'s state could not be dropped`);
      return false;
    }
    const h = slot * HEADER_WORDS;
    ring.header[h + H_AUX0] = op;
    ring.header[h + H_AUX1] = p;
    this.writeControlBatch(w, slot, BATCH_TASK, -Infinity);
    return true;
  }

  /**
   * State per partition, on revoke: the commit saves the tasks' state with their partitions'
   * positions; then the tasks go (their windows must not close here as well as at the next owner).
   * Loads still in progress are enqueued first, so that the drop follows them; later ones are
   * skipped. A task goes with all its partitions: another topic's call for the same tasks finds
   * them gone, their positions already committed.
   */
  private async dropTasks(ps: readonly number[]): Promise<void> {
    const tasks = [...new Set(ps.map((p) => this.taskOf(p)))].filter((t) => this.held.delete(t));
    if (tasks.length === 0) return;
    const parts = this.partitionsOf(tasks);
    const kept = parts.filter((p) => !this.revoked.has(p) && this.source.assigned?.(p) === true);
    if (kept.length > 0) {
      throw new WorkerFailedError(`partitions ${ps.join(", ")} were revoked while ${kept.join(", ")} of the same tasks stay assigned: the topics of a topology with state per partition must be co-partitioned (the same partition count) and assigned by Kafka's range assignor`);
    }
    for (const p of parts) this.revoked.delete(p);
    for (const t of tasks) this.taskGen[t]!++;
    await this.loading;
    await this.barrier(true, () => {
      for (const t of tasks) this.moveTask(t % this.workers, TASK_DROP, t);
      for (const p of parts) this.streamTime[p] = -Infinity;
    });
    for (const p of parts) this.commits!.forget(p);
  }

  /** On revoke: wait until every batch of these partitions is processed, then commit what is safe. */
  private async drainPartitions(ps: readonly number[]): Promise<void> {
    if (!this.commits) return;
    if (this.options.transactions && this.taskState) {
      for (const p of ps) this.revoked.add(p);
      const run = this.draining.then(() => this.dropTasks(ps)).catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        throw err;
      });
      this.draining = run.catch(() => undefined);
      return run;
    }
    if (this.options.transactions) {
      // Commit everything fed so far (state, outputs, offsets) before the partitions go.
      // Stream time stays: this process's state still holds the partitions' records (one process
      // per group under exactly-once), so their windows must not open again if they come back.
      // Forced even with nothing new: a commit is how a fenced zombie learns that it is one.
      await this.barrier(true);
      for (const p of ps) this.commits.forget(p);
      return;
    }
    const deadline = Date.now() + END_LIMIT_MS;
    while (!ps.every((p) => this.commits!.allAcked(p))) {
      if (Date.now() > deadline) throw new WorkerFailedError(`partitions ${ps.join(",")} did not drain in ${END_LIMIT_MS} ms`);
      this.drain();
      await sleep(2);
    }
    await this.sink.flush?.();
    await this.committing;
    this.maybeCommit(true);
    await this.committing;
    for (const p of ps) {
      this.commits.forget(p);
      this.streamTime[p] = -Infinity;
    }
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (let w = 0; w < this.workers; w++) {
      Atomics.store(this.controls[w]!, C_COMMAND, CMD_STOP);
      this.inputs[w]!.close();
    }
    await Promise.allSettled(this.running);
    await this.pool?.destroy();
    try {
      await this.sink.close();
    } finally {
      await this.source.close(); // even when the sink failed: its consume loop must end
    }
  }

  /** The run's latency histogram (ms), for metrics exporters: read it at snapshot rate only. */
  get latencyHistogram(): LatencyHistogram {
    return this.histogram;
  }

  progress(): Progress {
    const now = this.now();
    const elapsed = (now - this.startedAt) / 1000;
    let fill = 0;
    // Full when its records reach the budget or its slots run out (small batches), whichever first.
    const fills = this.inputs.map((r) => Math.min(1, Math.max(r.queuedRecords() / this.recordBudget, r.fill())));
    for (const f of fills) fill += f;
    let assigned = 0;
    for (let p = 0; p < this.source.partitions; p++) if (this.source.assigned?.(p) !== false) assigned++;
    return {
      events: this.produced + this.rejected,
      processed: this.processed,
      elapsedSeconds: elapsed,
      eventsPerSec: elapsed > 0 ? this.processed / elapsed : 0,
      latencyMs: { p50: this.histogram.quantile(0.5), p99: this.histogram.quantile(0.99) },
      ringFill: fill / this.inputs.length,
      outputs: { ...this.counts },
      workerRestarts: this.restarts,
      watermark: this.globalWatermark(now),
      processedByWorker: Array.from(this.processedBy),
      ringFillByWorker: fills,
      deadLetters: this.deadLetters,
      assignedPartitions: assigned,
      ...(this.options.retryCounts && { retries: { ...this.options.retryCounts() } }),
      ...stateOfWorkers(this.controls),
    };
  }

  private summary(): RunSummary {
    const events = this.produced + this.rejected + this.deadLetters;
    // From the first event to the last output acknowledged, less the idle wait between the last
    // accepted record and the end-of-input flush (--stop-when-idle) when the span holds it: when the
    // last acknowledgement came after the flush began (the flush's windows). When it came before
    // (nothing left to emit at the end: driver-eta, the DSL's stateless topologies), the span ends
    // there and holds no idle wait to take out.
    const idle = this.lastEventAt > 0 && this.finishStartedAt > this.lastEventAt && this.lastAckAt >= this.finishStartedAt ? this.finishStartedAt - this.lastEventAt : 0;
    const seconds = this.firstEventAt > 0 ? Math.max(this.lastAckAt - this.firstEventAt - idle, 0) / 1000 : 0;
    return {
      pipeline: this.pipeline.name,
      events,
      seconds: round(seconds, 3),
      eventsPerSec: seconds > 0 ? Math.round(events / seconds) : 0,
      workers: this.workers,
      outputs: { ...this.counts },
      latencyMs: { p50: round(this.histogram.quantile(0.5), 3), p99: round(this.histogram.quantile(0.99), 3) },
      workerRestarts: this.restarts,
      ...(this.deadLetters > 0 && { deadLetters: this.deadLetters }),
      ...(this.router && { repartitioned: this.router.moved + (this.peers?.moved ?? 0), repartitionPath: this.peers ? "peer" : "coordinator" }),
    };
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

