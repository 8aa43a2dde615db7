/**
 * The messages of one partition waiting to be read, without an object per message: each is a row
 * of numbers (offset, timestamp, where its value and key lie) and a reference to the buffer that
 * holds its bytes — a packed take's buffer (many messages, `KafkaConsumerClient.takeNow`) or a
 * client message's own value. Rows live in a Float64Array that grows by doubling and is compacted
 * once most of it has been read.
 */
import {
  PACKED_KEY_LENGTH, PACKED_KEY_START, PACKED_OFFSET, PACKED_STRIDE, PACKED_TIMESTAMP, PACKED_VALUE_LENGTH,
  PACKED_VALUE_START, type KafkaMessage,
} from "../io/kafka/client.js";

const OFFSET = 0, TIMESTAMP = 1, VALUE_START = 2, VALUE_LENGTH = 3, KEY_START = 4, KEY_LENGTH = 5;
const STRIDE = 6;
const EMPTY = Buffer.alloc(0);

export class MessageQueue {
  /** Index of the next message to read. */
  head = 0;
  /** Index after the last message queued. */
  tail = 0;
  private rows = new Float64Array(STRIDE * 256);
  /** The buffer holding message i's value; its key's, when the key lies elsewhere (client messages). */
  private bufs: Array<Buffer | undefined> = [];
  private keyBufs: Array<Buffer | null | undefined> = [];
  /**
   * A frame's string ids, interned when it was queued (its bytes still in the cache), and the
   * interner's generation then (KafkaSource.internStrings).
   */
  private ids: Array<number[] | undefined> = [];
  private gens: number[] = [];

  get empty(): boolean {
    return this.head >= this.tail;
  }

  /** Queues message `i` of a packed take. */
  pushPacked(data: Buffer, meta: Float64Array, i: number): void {
    const m = 1 + i * PACKED_STRIDE;
    const r = this.row();
    const rows = this.rows;
    rows[r + OFFSET] = meta[m + PACKED_OFFSET]!;
    rows[r + TIMESTAMP] = meta[m + PACKED_TIMESTAMP]!;
    rows[r + VALUE_START] = meta[m + PACKED_VALUE_START]!;
    rows[r + VALUE_LENGTH] = meta[m + PACKED_VALUE_LENGTH]!;
    rows[r + KEY_START] = meta[m + PACKED_KEY_START]!;
    rows[r + KEY_LENGTH] = meta[m + PACKED_KEY_LENGTH]!;
    this.bufs[this.tail] = data;
    this.keyBufs[this.tail] = data;
    this.tail++;
  }

  /** Queues a client's message object. */
  pushMessage(msg: KafkaMessage): void {
    const r = this.row();
    const rows = this.rows;
    rows[r + OFFSET] = msg.offset;
    rows[r + TIMESTAMP] = msg.timestamp;
    rows[r + VALUE_START] = 0;
    rows[r + VALUE_LENGTH] = msg.value ? msg.value.length : -1;
    rows[r + KEY_START] = 0;
    rows[r + KEY_LENGTH] = msg.key ? msg.key.length : -1;
    this.bufs[this.tail] = msg.value ?? EMPTY;
    this.keyBufs[this.tail] = msg.key;
    this.tail++;
  }

  /** Sets the frame string ids of the message queued last. */
  setIds(ids: number[] | undefined, generation: number): void {
    this.ids[this.tail - 1] = ids;
    this.gens[this.tail - 1] = generation;
  }

  idsOf(i: number, generation: number): number[] | undefined {
    return this.gens[i] === generation ? this.ids[i] : undefined;
  }

  offset(i: number): number {
    return this.rows[i * STRIDE + OFFSET]!;
  }

  timestamp(i: number): number {
    return this.rows[i * STRIDE + TIMESTAMP]!;
  }

  /** The buffer holding message i's value, which is bytes [valueStart, valueStart + valueLength) of it. */
  buffer(i: number): Buffer {
    return this.bufs[i]!;
  }

  valueStart(i: number): number {
    return this.rows[i * STRIDE + VALUE_START]!;
  }

  /** -1: a null value. */
  valueLength(i: number): number {
    return this.rows[i * STRIDE + VALUE_LENGTH]!;
  }

  /** Message i's value as a Buffer of its own bytes (a view: no copy), or null. */
  value(i: number): Buffer | null {
    const len = this.valueLength(i);
    if (len < 0) return null;
    const b = this.bufs[i]!;
    const start = this.valueStart(i);
    return start === 0 && len === b.length ? b : b.subarray(start, start + len);
  }

  /** Message i as a client message (the dead-letter path: it allocates). */
  message(i: number, topic: string, partition: number): KafkaMessage {
    const kl = this.rows[i * STRIDE + KEY_LENGTH]!;
    const ks = this.rows[i * STRIDE + KEY_START]!;
    const kb = this.keyBufs[i];
    const key = kl < 0 || !kb ? null : ks === 0 && kl === kb.length ? kb : kb.subarray(ks, ks + kl);
    return { topic, partition, offset: this.offset(i), key, value: this.value(i), timestamp: this.timestamp(i) };
  }

  /** Moves past the head message, dropping its references. */
  shift(): void {
    const h = this.head;
    this.bufs[h] = undefined;
    this.keyBufs[h] = undefined;
    this.ids[h] = undefined;
    this.head = h + 1;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head > 4096 && this.head * 2 > this.tail) {
      this.compact();
    }
  }

  clear(): void {
    this.head = 0;
    this.tail = 0;
    this.bufs = [];
    this.keyBufs = [];
    this.ids = [];
    this.gens = [];
  }

  private compact(): void {
    const h = this.head;
    this.rows.copyWithin(0, h * STRIDE, this.tail * STRIDE);
    this.bufs = this.bufs.slice(h, this.tail);
    this.keyBufs = this.keyBufs.slice(h, this.tail);
    this.ids = this.ids.slice(h, this.tail);
    this.gens = this.gens.slice(h, this.tail);
    this.tail -= h;
    this.head = 0;
  }

  /** The row index of a new message at `tail`, growing the rows when full. */
  private row(): number {
    const r = this.tail * STRIDE;
    if (r + STRIDE > this.rows.length) {
      const grown = new Float64Array(this.rows.length * 2);
      grown.set(this.rows);
      this.rows = grown;
    }
    return r;
  }
}
