/**
 * What the shard workers publish about themselves in their control blocks (src/coordinator/control.ts),
 * read by the coordinator off the hot path: at snapshot rate (state store sizes) and when a worker
 * announces a (re)start (the restore log line).
 */
import { C_REPLAY_BATCHES, C_STARTS, C_STATE_ENTRIES, C_STATE_KIB, checkpointSeq } from "../coordinator/control.js";

/** State store sizes of every worker, as last published (a snapshot; each word may be one batch stale). */
export function stateOfWorkers(controls: readonly Int32Array[]): { stateEntriesByWorker: number[]; stateBytesByWorker: number[] } {
  const entries: number[] = [];
  const bytes: number[] = [];
  for (const c of controls) {
    entries.push(Atomics.load(c, C_STATE_ENTRIES));
    bytes.push(Atomics.load(c, C_STATE_KIB) * 1024);
  }
  return { stateEntriesByWorker: entries, stateBytesByWorker: bytes };
}

/**
 * A worker's shard loop reported that it (re)started. From its second start on, it is a replacement
 * after a failure: log what it restored and how much it replays.
 */
export function noteWorkerStarted(
  worker: number, control: Int32Array, checkpoint: SharedArrayBuffer | undefined, lastAckedSeq: number,
  onLog: ((event: string, detail: Record<string, unknown>) => void) | undefined,
): void {
  const starts = Atomics.load(control, C_STARTS);
  if (starts <= 1 || !onLog) return;
  const seq = checkpoint ? checkpointSeq(checkpoint) : -1;
  onLog("restore", {
    worker,
    start: starts,
    restoredFrom: seq >= 0 ? "checkpoint" : checkpoint ? "empty" : "none (checkpoints disabled)",
    checkpointSeq: seq,
    lastAckedSeq,
    pendingBatches: Atomics.load(control, C_REPLAY_BATCHES),
  });
}
