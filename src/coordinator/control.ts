/**
 * The control block shared by the coordinator and one shard worker (Int32 words). Control travels
 * here, off the hot path: the worker reads it between batches and whenever it wakes from a wait.
 */

/** Int32 index: what the coordinator asks (CMD_*). */
export const C_COMMAND = 0;
/** Int32 index: times the worker (re)started its shard loop; written by the worker. */
export const C_STARTS = 1;
/** Int32 index: batches the worker finished; written by the worker (for liveness, a snapshot). */
export const C_BATCHES = 2;
/** Int32 index: entries in the shard's state stores (open windows), after its last batch; written by the worker. */
export const C_STATE_ENTRIES = 3;
/** Int32 index: KiB held by the shard's state stores, after its last batch; written by the worker. */
export const C_STATE_KIB = 4;
/** Int32 index: unreleased input batches a (re)started worker found to process (replays after a restore). */
export const C_REPLAY_BATCHES = 5;
export const CONTROL_WORDS = 16;

/** Keep going. */
export const CMD_RUN = 0;
/** Leave the loop now (after the current batch); the ring keeps what was not read. */
export const CMD_STOP = 1;
/** Fault injection for tests: the worker thread exits abruptly at its next batch. */
export const CMD_CRASH = 2;

export function createControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_WORDS * 4);
}

/**
 * The checkpoint block of one shard: two areas written alternately, so the last complete
 * checkpoint survives a crash in the middle of writing the next one.
 *
 *   Int32 CK_CURRENT (-1: none, 0 or 1: the complete area)
 *   area k at CK_AREA_OFFSET + k * areaBytes: f64 [seq, ring TAIL after it, words] then the state
 */
export const CK_CURRENT = 0;
export const CK_AREA_OFFSET = 64;
export const CK_HEADER_WORDS = 8;
export const CK_SEQ = 0;
export const CK_TAIL = 1;
export const CK_WORDS = 2;

export function createCheckpoint(bytesPerArea: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(CK_AREA_OFFSET + 2 * bytesPerArea);
  new Int32Array(sab, 0, 1)[0] = -1;
  return sab;
}

/** Sequence number of the last batch the current checkpoint covers (-1: no checkpoint). Read off the hot path. */
export function checkpointSeq(sab: SharedArrayBuffer): number {
  const k = Atomics.load(new Int32Array(sab, 0, 1), 0);
  if (k < 0) return -1;
  const areaBytes = (sab.byteLength - CK_AREA_OFFSET) / 2;
  return new Float64Array(sab, CK_AREA_OFFSET + k * areaBytes, CK_HEADER_WORDS)[CK_SEQ]!;
}
