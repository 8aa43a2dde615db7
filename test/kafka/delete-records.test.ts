/**
 * Kafka's DeleteRecords over a plain connection (src/io/kafka/delete-records.ts; node-rdkafka 3.x's
 * AdminClient has none): the request's bytes, the response's parsing, and against the real broker
 * through RdKafkaAdmin.deleteRecords — the low watermark moves to the offset, the records after it
 * stay readable, and an offset past the end is refused with the broker's error code.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { decodeDeleteRecords, encodeDeleteRecords } from "../../src/io/kafka/delete-records.js";
import { KafkaError } from "../../src/io/kafka/client.js";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readCommitted, uniqueName } from "../support/kafka.js";

describe("DeleteRecords (v1)", () => {
  it("encodes the request and decodes the response", () => {
    const req = encodeDeleteRecords([{ topic: "t", partition: 1, offset: 5 }, { topic: "t", partition: 0, offset: 2 }], 1000, "c");
    expect(req.readInt32BE(0)).toBe(req.length - 4);
    expect([req.readInt16BE(4), req.readInt16BE(6)]).toEqual([21, 1]); // api key, version
    // client id "c", one topic "t" with two partitions (1 → 5, 0 → 2), timeout 1000
    const body = req.subarray(12);
    expect(body.toString("hex")).toBe(
      "0001" + "63" + "00000001" + "0001" + "74" + "00000002" +
      "00000001" + "0000000000000005" + "00000000" + "0000000000000002" + "000003e8");
    const res = Buffer.from("00000007" + "00000000" + "00000001" + "0001" + "74" + "00000002" +
      "00000001" + "0000000000000005" + "0000" + "00000000" + "ffffffffffffffff" + "0001", "hex");
    expect(decodeDeleteRecords(res)).toEqual([
      { topic: "t", partition: 1, lowWatermark: 5, errorCode: 0 },
      { topic: "t", partition: 0, lowWatermark: -1, errorCode: 1 },
    ]);
  });

  describe("against the broker", () => {
    beforeAll(() => ensureBroker());

    it("moves the low watermark to the offset, keeps what follows, refuses an offset past the end", async () => {
      const topic = uniqueName("hC-delrec");
      await createTopic(topic, 2);
      await produceAll(topic, Array.from({ length: 20 }, (_, i) => ({ value: JSON.stringify({ i }), partition: i % 2 })));
      const admin = factory.createAdmin({ brokers: BROKERS });
      const consumer = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("hC-delrec-g") });
      await Promise.all([admin.connect(), consumer.connect()]);
      try {
        await admin.deleteRecords!([{ topic, partition: 0, offset: 6 }, { topic, partition: 1, offset: 10 }]);
        expect(await consumer.queryWatermarks!(topic, 0)).toMatchObject({ low: 6, high: 10 });
        expect(await consumer.queryWatermarks!(topic, 1)).toMatchObject({ low: 10, high: 10 });
        const left = await readCommitted(topic, 2);
        expect(left.map((r) => r["i"])).toEqual([12, 14, 16, 18]);
        const past = admin.deleteRecords!([{ topic, partition: 0, offset: 11 }]);
        await expect(past).rejects.toThrow(KafkaError);
        await expect(past).rejects.toThrow(/\[0\] error 1\b/); // OFFSET_OUT_OF_RANGE
      } finally {
        await Promise.all([admin.disconnect(), consumer.disconnect()]);
      }
    }, 60_000);
  });
});
