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
