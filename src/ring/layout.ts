/**
 * The shared-memory layout of a {@link BatchRing}, in one place.
 *
 *   byte 0                      128                   128 + slots*64            (64-aligned)
 *   ├─ control (Int32 words) ───┼─ slot headers (f64) ─┼─ slot 0 data ─┼─ slot 1 data ─┼ …
 *
 * Control words: the producer owns HEAD and CLOSED, the consumer owns TAIL. Each side sets its
 * own "I am asleep" flag and sleeps on that word; the peer clears it and then notifies. HEAD and TAIL sit on different cache lines so the two threads do not
 * false-share. HEAD and TAIL count batches and wrap at 2^32 (compare with `(a - b) | 0`);
 * `slots` is a power of two so `counter & (slots - 1)` stays right across the wrap.
 */

/** Int32 index: batches published by the producer (written with one Atomics.store per batch). */
export const HEAD = 0;
/** Int32 index: 1 while the consumer sleeps (it waits on this word; publish/close clear it and notify). */
export const CONSUMER_SLEEPING = 1;
/** Int32 index: 1 once the producer will publish no more batches. */
export const CLOSED = 2;
/** Int32 index: batches released by the consumer (own cache line). */
export const TAIL = 16;
/** Int32 index: 1 while the producer sleeps (it waits on this word; release clears it and notifies). */
export const PRODUCER_SLEEPING = 17;
/** Bytes of the control block (two cache lines). */
export const CONTROL_BYTES = 128;

/** f64 header words per slot (one cache line). */
export const HEADER_WORDS = 8;
/** Header word: records in the batch. */
export const H_COUNT = 0;
/** Header word: what the batch is (see BATCH_*). */
export const H_KIND = 1;
/** Header word: source partition of every record in the batch (-1 for none). */
export const H_PARTITION = 2;
/** Header word: watermark after the batch (event-time ms; -Infinity before any data). */
export const H_WATERMARK = 3;
/** Header word: wall-clock ms (performance.timeOrigin + now()) when the batch was published. */
export const H_ENQUEUED_AT = 4;
/** Header word: sequence number of the batch, assigned by the producer. */
export const H_SEQ = 5;
/** Header words free for the pipeline. */
export const H_AUX0 = 6;
export const H_AUX1 = 7;

/** A batch of records. */
export const BATCH_DATA = 0;
/** No records: carries only a watermark to a shard that got no data lately. */
export const BATCH_WATERMARK = 1;
/** Bounded input ended: flush all state, then acknowledge. */
export const BATCH_END = 2;
/**
 * No records: a partition's state moves (TaskedProcessor). H_AUX0: TASK_LOAD (the state is in the
 * shard's mailbox) or TASK_DROP; H_AUX1: the partition. Or TASK_MERGE: logged state (in the
 * mailbox, snapshot words) merged into the shard's (ShardProcessor.mergeState). Ordered with the
 * data like any batch.
 */
export const BATCH_TASK = 3;
export const TASK_LOAD = 1;
export const TASK_DROP = 2;
export const TASK_MERGE = 3;

export function ringBytes(slots: number, bytesPerSlot: number): number {
  return CONTROL_BYTES + slots * HEADER_WORDS * 8 + slots * bytesPerSlot;
}

export function slotDataOffset(slots: number, bytesPerSlot: number, slot: number): number {
  return CONTROL_BYTES + slots * HEADER_WORDS * 8 + slot * bytesPerSlot;
}
