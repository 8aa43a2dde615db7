/**
 * KafkaTransactions' purge of repartition topics (TransactionalInput.purge), with fake clients: only
 * the positions a transaction committed, only of the topics marked purge, at most once per
 * purgeIntervalMs and one purge at a time; nothing when the commit fails. The broker's side of it
 * is test/kafka/delete-records.test.ts, the whole run test/kafka/eos-repartition.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { RunSnapshot } from "../../src/coordinator/snapshot.js";
import type { KafkaAdminClient, KafkaClientFactory, KafkaConsumerClient, KafkaProducerClient, TopicPartitionOffset } from "../../src/io/kafka/client.js";
import { KafkaTransactions } from "../../src/io/kafka/transactions.js";
import { Interner } from "../../src/schema/interner.js";

const state: RunSnapshot = { pipeline: "p", partitions: 6, streamTime: [], watermarkFloor: -Infinity, mergerClosed: [], mergerOpen: [], source: null, shards: [] };

function setup(purgeIntervalMs: number, deleteRecords?: (o: TopicPartitionOffset[]) => Promise<void>) {
  const calls: TopicPartitionOffset[][] = [];
  let commitFails = false;
  const producer = {
    initTransactions: async () => {}, beginTransaction: async () => {}, sendOffsetsToTransaction: async () => {},
    commitTransaction: async () => { if (commitFails) throw new Error("fenced"); }, produce: () => true,
  } as unknown as KafkaProducerClient;
  const admin = {
    createTopic: async () => true,
    metadata: async () => ({ brokers: [], topics: [{ name: "changelog", partitions: 2, partitionDetails: [] }] }),
    deleteRecords: async (o: TopicPartitionOffset[]) => { calls.push(o); await deleteRecords?.(o); },
  } as unknown as KafkaAdminClient;
  const tx = new KafkaTransactions({ factory: { name: "fake" } as KafkaClientFactory, client: {}, producer, admin, changelogTopic: "changelog", taskMode: true, intervalMs: 100, purgeIntervalMs });
  const consumer = {} as KafkaConsumerClient;
  const source = { interner: new Interner(), exportState: () => ({}), importState: () => {} };
  // Combined partitions: 0-1 the input, 2-3 the first repartition topic, 4-5 the second.
  tx.addInput({ topic: "in", partitions: 2, consumer, source });
  tx.addInput({ topic: "rp-a", partitions: 2, consumer, source, purge: true });
  tx.addInput({ topic: "rp-b", partitions: 2, consumer, source, purge: true });
  return { tx, calls, failCommits: () => { commitFails = true; } };
}

describe("KafkaTransactions purges repartition topics", () => {
  it("to the positions a commit carried, of the purge topics only", async () => {
    const { tx, calls } = setup(0);
    await tx.start();
    await tx.commit(state, [[0, 50], [1, 60], [2, 5], [5, 9]]);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([[{ topic: "rp-a", partition: 0, offset: 5 }, { topic: "rp-b", partition: 1, offset: 9 }]]);
    expect(tx.purges).toBe(1);
    // Only partitions that moved since are asked again.
    await tx.commit(state, [[2, 5], [3, 4]]);
    await new Promise((r) => setImmediate(r));
    expect(calls[1]).toEqual([{ topic: "rp-a", partition: 1, offset: 4 }]);
  });

  it("at most once per interval and one at a time", async () => {
    let release: () => void = () => {};
    const { tx, calls } = setup(60_000, () => new Promise<void>((r) => { release = r; }));
    await tx.start();
    await tx.commit(state, [[2, 5]]);
    await tx.commit(state, [[2, 8]]);
    release();
    await new Promise((r) => setImmediate(r));
    await tx.commit(state, [[2, 9]]);
    expect(calls).toEqual([[{ topic: "rp-a", partition: 0, offset: 5 }]]);
    const busy = setup(0, () => new Promise<void>((r) => { release = r; }));
    await busy.tx.start();
    await busy.tx.commit(state, [[2, 5]]);
    await busy.tx.commit(state, [[2, 8]]); // the first purge is still in flight
    expect(busy.calls.length).toBe(1);
    release();
    await new Promise((r) => setImmediate(r));
    await busy.tx.commit(state, [[3, 1]]);
    expect(busy.calls[1]).toEqual([{ topic: "rp-a", partition: 0, offset: 8 }, { topic: "rp-a", partition: 1, offset: 1 }]);
  });

  it("nothing that a failed commit carried", async () => {
    const { tx, calls, failCommits } = setup(0);
    await tx.start();
    failCommits();
    await expect(tx.commit(state, [[2, 5]])).rejects.toThrow(/fenced/);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([]);
  });
});
