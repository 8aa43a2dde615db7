/**
 * Kafka's DeleteRecords request (API key 21, version 1), spoken over a plain TCP connection to
 * each partition's leader: node-rdkafka 3.x's AdminClient has no deleteRecords (librdkafka has
 * rd_kafka_DeleteRecords; the binding does not expose it). Kafka Streams purges its repartition
 * topics with it (records before the committed offset), and so does Riptide (transactions.ts).
 *
 *   request : size i32 | api_key i16 = 21 | api_version i16 = 1 | correlation_id i32 | client_id str16
 *             | topics [name str16 | partitions [partition i32 | offset i64]] | timeout_ms i32
 *   response: size i32 | correlation_id i32 | throttle_time_ms i32
 *             | topics [name str16 | partitions [partition i32 | low_watermark i64 | error_code i16]]
 *
 * Plaintext listeners only (no TLS or SASL here): the caller refuses other security protocols.
 */
import { connect, type Socket } from "node:net";
import { KafkaError, type BrokerMetadata, type TopicPartitionOffset } from "./client.js";

const DELETE_RECORDS = 21;
const VERSION = 1;

/** A partition's result: its new low watermark, or the broker's error code. */
export interface DeletedRecords {
  topic: string;
  partition: number;
  lowWatermark: number;
  /** Kafka's error code (0: none; 1 OFFSET_OUT_OF_RANGE, 3 UNKNOWN_TOPIC_OR_PARTITION, 6 NOT_LEADER_OR_FOLLOWER, …). */
  errorCode: number;
}

let correlation = 0;

/** The request body of version 1 for one broker's partitions. */
export function encodeDeleteRecords(offsets: readonly TopicPartitionOffset[], timeoutMs: number, clientId = "riptide"): Buffer {
  const byTopic = new Map<string, TopicPartitionOffset[]>();
  for (const o of offsets) (byTopic.get(o.topic) ?? byTopic.set(o.topic, []).get(o.topic)!).push(o);
  const parts: Buffer[] = [];
  const i16 = (x: number) => { const b = Buffer.alloc(2); b.writeInt16BE(x); parts.push(b); };
  const i32 = (x: number) => { const b = Buffer.alloc(4); b.writeInt32BE(x); parts.push(b); };
  const str = (s: string) => { const b = Buffer.from(s, "utf8"); i16(b.length); parts.push(b); };
  i32(0); // size, filled in below
  i16(DELETE_RECORDS);
  i16(VERSION);
  i32((correlation = (correlation + 1) | 0));
  str(clientId);
  i32(byTopic.size);
  for (const [topic, list] of byTopic) {
    str(topic);
    i32(list.length);
    for (const o of list) {
      i32(o.partition);
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(o.offset));
      parts.push(b);
    }
  }
  i32(timeoutMs);
  const out = Buffer.concat(parts);
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

/** The partitions of a version 1 response (without its size prefix). */
export function decodeDeleteRecords(body: Buffer): DeletedRecords[] {
  let at = 8; // correlation id, throttle time
  const out: DeletedRecords[] = [];
  const topics = body.readInt32BE(at);
  at += 4;
  for (let t = 0; t < topics; t++) {
    const len = body.readInt16BE(at);
    const topic = body.toString("utf8", at + 2, at + 2 + len);
    at += 2 + len;
    const n = body.readInt32BE(at);
    at += 4;
    for (let i = 0; i < n; i++) {
      out.push({ topic, partition: body.readInt32BE(at), lowWatermark: Number(body.readBigInt64BE(at + 4)), errorCode: body.readInt16BE(at + 12) });
      at += 14;
    }
  }
  return out;
}

/**
 * Deletes the records before `offset` of each partition (the broker moves the partition's low
 * watermark there), asking each partition's leader. Resolves with every partition's result; a
 * connection that fails or does not answer within `timeoutMs` rejects.
 */
export async function deleteRecords(brokers: readonly BrokerMetadata[], leaderOf: (topic: string, partition: number) => number,
  offsets: readonly TopicPartitionOffset[], timeoutMs = 30_000): Promise<DeletedRecords[]> {
  const byLeader = new Map<number, TopicPartitionOffset[]>();
  for (const o of offsets) {
    const leader = leaderOf(o.topic, o.partition);
    (byLeader.get(leader) ?? byLeader.set(leader, []).get(leader)!).push(o);
  }
  const results = await Promise.all([...byLeader].map(([id, list]) => {
    const broker = brokers.find((b) => b.id === id);
    if (!broker) throw new KafkaError(`deleteRecords: partition ${list[0]!.topic}[${list[0]!.partition}] has no known leader (broker ${id})`, { retriable: true });
    return exchange(broker, encodeDeleteRecords(list, timeoutMs), timeoutMs + 5000).then(decodeDeleteRecords);
  }));
  return results.flat();
}

/** Sends one request and resolves with the response's body (after its size). */
function exchange(broker: BrokerMetadata, request: Buffer, limitMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(broker.port, broker.host);
    let got = Buffer.alloc(0);
    let settled = false;
    const fail = (why: string) => {
      socket.destroy();
      if (settled) return;
      settled = true;
      reject(new KafkaError(`deleteRecords on broker ${broker.id} (${broker.host}:${broker.port}): ${why}`, { retriable: true }));
    };
    socket.setTimeout(limitMs, () => fail(`no answer in ${limitMs} ms`));
    socket.on("error", (err) => fail(err.message));
    socket.on("connect", () => socket.write(request));
    socket.on("data", (d) => {
      got = got.length === 0 ? d : Buffer.concat([got, d]);
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        settled = true;
        socket.end();
        resolve(got.subarray(4, 4 + got.readInt32BE(0)));
      }
    });
    socket.on("close", () => fail("the connection closed before the answer"));
  });
}
