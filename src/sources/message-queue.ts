/**
 * The messages of one partition waiting to be read, without an object per message: each is a row
 * of numbers (offset, timestamp, where its value and key lie) and a reference to the buffer that
 * holds its bytes — a packed take's buffer (many messages, `KafkaConsumerClient.takeNow`) or a
 * client message's own value. A ring: message i (head ≤ i < tail, counted from the queue's last
 * reset to empty) lives in slot i & mask of a Float64Array of rows and of arrays of references, all
 * of one power-of-two capacity that doubles when full; nothing is allocated per message (arrays
 * appended to, and copied when compacted, were ~110 bytes per message).
 */
import {
  PACKED_KEY_LENGTH, PACKED_KEY_START, PACKED_OFFSET, PACKED_STRIDE, PACKED_TIMESTAMP, PACKED_VALUE_LENGTH,
  PACKED_VALUE_START, type KafkaMessage,
} from "../io/kafka/client.js";

const OFFSET = 0, TIMESTAMP = 1, VALUE_START = 2, VALUE_LENGTH = 3, KEY_START = 4, KEY_LENGTH = 5, GENERATION = 6;
const STRIDE = 7;
const EMPTY = Buffer.alloc(0);
const INITIAL = 256;

export class MessageQueue {
  /** Index of the next message to read. */
  head = 0;
  /** Index after the last message queued. */
  tail = 0;
  /** Value bytes of the messages queued (head to tail). */
  bytes = 0;
  private mask = INITIAL - 1;
  private rows = new Float64Array(STRIDE * INITIAL);
  /** The buffer holding message i's value; its key's, when the key lies elsewhere (client messages). */
  private bufs = new Array<Buffer | undefined>(INITIAL).fill(undefined);
  private keyBufs = new Array<Buffer | null | undefined>(INITIAL).fill(undefined);
  /**
   * A frame's string ids, interned when it was queued (its bytes still in the cache), and (in the
   * rows) the interner's generation then (KafkaSource.internStrings).
   */
  private ids = new Array<number[] | undefined>(INITIAL).fill(undefined);

  get empty(): boolean {
    return this.head >= this.tail;
  }

  /** Queues message `i` of a packed take. */
  pushPacked(data: Buffer, meta: Float64Array, i: number): void {
    const m = 1 + i * PACKED_STRIDE;
    const k = this.slot();
    const r = k * STRIDE;
    const rows = this.rows;
    rows[r + OFFSET] = meta[m + PACKED_OFFSET]!;
    rows[r + TIMESTAMP] = meta[m + PACKED_TIMESTAMP]!;
    rows[r + VALUE_START] = meta[m + PACKED_VALUE_START]!;
    rows[r + VALUE_LENGTH] = meta[m + PACKED_VALUE_LENGTH]!;
    rows[r + KEY_START] = meta[m + PACKED_KEY_START]!;
    rows[r + KEY_LENGTH] = meta[m + PACKED_KEY_LENGTH]!;
    rows[r + GENERATION] = -1;
    this.bufs[k] = data;
    this.keyBufs[k] = data;
    this.ids[k] = undefined;
    this.tail++;
    this.bytes += Math.max(0, meta[m + PACKED_VALUE_LENGTH]!);
  }

  /** Queues a client's message object. */
  pushMessage(msg: KafkaMessage): void {
    const k = this.slot();
    const r = k * STRIDE;
    const rows = this.rows;
    rows[r + OFFSET] = msg.offset;
    rows[r + TIMESTAMP] = msg.timestamp;
    rows[r + VALUE_START] = 0;
    rows[r + VALUE_LENGTH] = msg.value ? msg.value.length : -1;
    rows[r + KEY_START] = 0;
    rows[r + KEY_LENGTH] = msg.key ? msg.key.length : -1;
    rows[r + GENERATION] = -1;
    this.bufs[k] = msg.value ?? EMPTY;
    this.keyBufs[k] = msg.key;
    this.ids[k] = undefined;
    this.tail++;
    this.bytes += msg.value ? msg.value.length : 0;
  }

  /** Sets the frame string ids of the message queued last. */
  setIds(ids: number[] | undefined, generation: number): void {
    const k = (this.tail - 1) & this.mask;
    this.ids[k] = ids;
    this.rows[k * STRIDE + GENERATION] = generation;
  }

  idsOf(i: number, generation: number): number[] | undefined {
    const k = i & this.mask;
    return this.rows[k * STRIDE + GENERATION] === generation ? this.ids[k] : undefined;
  }

  offset(i: number): number {
    return this.rows[(i & this.mask) * STRIDE + OFFSET]!;
  }

  timestamp(i: number): number {
    return this.rows[(i & this.mask) * STRIDE + TIMESTAMP]!;
  }

  /** The buffer holding message i's value, which is bytes [valueStart, valueStart + valueLength) of it. */
  buffer(i: number): Buffer {
    return this.bufs[i & this.mask]!;
  }

  valueStart(i: number): number {
    return this.rows[(i & this.mask) * STRIDE + VALUE_START]!;
  }

  /** -1: a null value. */
  valueLength(i: number): number {
    return this.rows[(i & this.mask) * STRIDE + VALUE_LENGTH]!;
  }

  /** Message i's value as a Buffer of its own bytes (a view: no copy), or null. */
  value(i: number): Buffer | null {
    const len = this.valueLength(i);
    if (len < 0) return null;
    const b = this.buffer(i);
    const start = this.valueStart(i);
    return start === 0 && len === b.length ? b : b.subarray(start, start + len);
  }

  /** Message i as a client message (the dead-letter path: it allocates). */
  message(i: number, topic: string, partition: number): KafkaMessage {
    const k = i & this.mask;
    const kl = this.rows[k * STRIDE + KEY_LENGTH]!;
    const ks = this.rows[k * STRIDE + KEY_START]!;
    const kb = this.keyBufs[k];
    const key = kl < 0 || !kb ? null : ks === 0 && kl === kb.length ? kb : kb.subarray(ks, ks + kl);
    return { topic, partition, offset: this.offset(i), key, value: this.value(i), timestamp: this.timestamp(i) };
  }

  /** Moves past the head message, dropping its references. */
  shift(): void {
    const k = this.head & this.mask;
    this.bytes -= Math.max(0, this.rows[k * STRIDE + VALUE_LENGTH]!);
    this.bufs[k] = undefined;
    this.keyBufs[k] = undefined;
    this.ids[k] = undefined;
    this.head++;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
      this.bytes = 0;
    }
  }

  clear(): void {
    this.head = 0;
    this.tail = 0;
    this.bytes = 0;
    this.bufs.fill(undefined);
    this.keyBufs.fill(undefined);
    this.ids.fill(undefined);
  }

  /** The slot of a new message at `tail`, doubling the ring when it is full. */
  private slot(): number {
    if (this.tail - this.head > this.mask) this.grow();
    return this.tail & this.mask;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const mask = cap - 1;
    const rows = new Float64Array(STRIDE * cap);
    const bufs = new Array<Buffer | undefined>(cap).fill(undefined);
    const keyBufs = new Array<Buffer | null | undefined>(cap).fill(undefined);
    const ids = new Array<number[] | undefined>(cap).fill(undefined);
    for (let i = this.head; i < this.tail; i++) {
      const from = i & this.mask, to = i & mask;
      for (let j = 0; j < STRIDE; j++) rows[to * STRIDE + j] = this.rows[from * STRIDE + j]!;
      bufs[to] = this.bufs[from];
      keyBufs[to] = this.keyBufs[from];
      ids[to] = this.ids[from];
    }
    this.rows = rows;
    this.bufs = bufs;
    this.keyBufs = keyBufs;
    this.ids = ids;
    this.mask = mask;
  }
}
