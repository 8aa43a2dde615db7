/** Consumer lag from the broker's watermarks, against the real broker. */
import { describe, expect, it, beforeAll } from "vitest";
import { rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import { ConsumerLag } from "../../src/metrics/lag.js";
import { BROKERS, createTopic, ensureBroker, produceAll, uniqueName } from "../support/kafka.js";

describe("ConsumerLag", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("is high watermark − position per owned partition; committed offset, then the low watermark, when the position is unknown", async () => {
    const topic = uniqueName("riptide-lag");
    await createTopic(topic, 3);
    await produceAll(topic, [
      ...Array.from({ length: 100 }, (_, i) => ({ value: `a${i}`, partition: 0 })),
      ...Array.from({ length: 40 }, (_, i) => ({ value: `b${i}`, partition: 1 })),
    ]);
    const group = uniqueName("riptide-lag-g");
    const consumer = rdkafkaClientFactory.createConsumer({ brokers: BROKERS, groupId: group });
    await consumer.connect();
    try {
      const position = [-1, -1, -1];
      const assigned = [true, true, false];
      const lag = new ConsumerLag({ consumer, topic, partitions: 3, position: (p) => position[p]!, assigned: (p) => assigned[p]! });
      // No position, no committed offset: from the low watermark (0).
      await lag.measure();
      expect(lag.snapshot()).toEqual([{ partition: 0, lag: 100, high: 100 }, { partition: 1, lag: 40, high: 40 }]);
      expect(lag.total()).toBe(140);
      expect(lag.max()).toBe(100);
      // Positions taken into the engine.
      position[0] = 60;
      position[1] = 40;
      await lag.measure();
      expect(lag.snapshot().map((x) => x.lag)).toEqual([40, 0]);
      // More records arrive: the lag moves with the high watermark.
      await produceAll(topic, Array.from({ length: 25 }, (_, i) => ({ value: `c${i}`, partition: 1 })));
      await lag.measure();
      expect(lag.snapshot()).toEqual([{ partition: 0, lag: 40, high: 100 }, { partition: 1, lag: 25, high: 65 }]);
      // Partition 0 given up, partition 2 owned with no position: its committed offset counts.
      assigned[0] = false;
      assigned[2] = true;
      await produceAll(topic, Array.from({ length: 10 }, (_, i) => ({ value: `d${i}`, partition: 2 })));
      consumer.subscribe([topic]);
      await consumer.commit([{ topic, partition: 2, offset: 4 }]).catch(async () => {
        // A consumer must be in the group to commit; wait for the assignment and commit again.
        for (let i = 0; i < 100 && consumer.assignment().length === 0; i++) await consumer.consume(1, 100).catch(() => []);
        await consumer.commit([{ topic, partition: 2, offset: 4 }]);
      });
      await lag.measure();
      expect(lag.snapshot()).toEqual([{ partition: 1, lag: 25, high: 65 }, { partition: 2, lag: 6, high: 10 }]);
      expect(lag.rounds).toBe(4);
    } finally {
      await consumer.disconnect();
    }
  });
});
