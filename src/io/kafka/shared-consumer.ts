/**
 * One group consumer read as several topics: a view per topic that a KafkaSource can own as if it
 * were its own consumer. Exactly-once with state per partition (`--instance-id`) for a topology
 * that reads several co-partitioned topics (a join, a table) needs one group member per process
 * for all of them: the range assignor then gives partition q of every topic to the same member,
 * so a task (partition q of each topic, with the state they share) moves as one, and every topic's
 * offsets go to a transaction with that one member's group metadata.
 *
 *   consumer.consume() ──► per-topic buffers ──► view(topic).consume()   (one call in flight)
 *   rebalance ──► each view's listener with its topic's partitions (revokes called together)
 *
 * The real consumer subscribes once every view has subscribed; it is disconnected with the last view.
 */
import type {
  CommittedOffset, KafkaConsumerClient, KafkaMessage, RebalanceListener, TopicPartition, TopicPartitionOffset, WatermarkOffsets,
} from "./client.js";

export class SharedConsumer {
  private readonly views = new Map<string, TopicView>();
  private subscribed = false;
  private pulling: Promise<void> | undefined;
  private open: number;

  /**
   * @param topics every topic a view will be taken of; the subscription waits for all of them.
   * @param take most messages one read takes for all views (KafkaSource's consume batch)
   */
  constructor(readonly consumer: KafkaConsumerClient, readonly topics: readonly string[], private readonly take = 5000) {
    for (const t of topics) this.views.set(t, new TopicView(this, t));
    this.open = this.views.size;
  }

  /** The consumer as seen by the source of `topic`. */
  view(topic: string): KafkaConsumerClient {
    const v = this.views.get(topic);
    if (!v) throw new Error(`shared consumer: no topic ${topic} (it reads ${this.topics.join(", ")})`);
    return v;
  }

  /** @internal A view subscribed: once all have, the real consumer joins the group for every topic. */
  subscribeWhenAll(): void {
    if (this.subscribed || [...this.views.values()].some((v) => !v.listener)) return;
    this.subscribed = true;
    this.consumer.subscribe([...this.topics], {
      onAssign: async (parts) => {
        // Every view's listener in one go (a task spanning topics is registered by the first).
        const results = [...this.views.values()].map((v) => {
          const mine = parts.filter((tp) => tp.topic === v.topic);
          return mine.length > 0 ? v.listener!.onAssign?.(mine) : undefined;
        });
        const starts = (await Promise.all(results)).flatMap((r) => r ?? []);
        return starts.length > 0 ? starts : undefined;
      },
      onRevoke: async (parts) => {
        // Messages of these partitions not taken yet are dropped (their next owner, maybe this
        // process again, reads from the committed offset: a stale one would make the source skip
        // what comes before it).
        const forget = (): void => {
          for (const v of this.views.values()) v.buffer = v.buffer.filter((m) => !parts.some((tp) => tp.topic === m.topic && tp.partition === m.partition));
        };
        forget();
        try {
          // Together: each source stops reading its partitions before any of them is drained.
          await Promise.all([...this.views.values()].map((v) => {
            const mine = parts.filter((tp) => tp.topic === v.topic);
            return mine.length > 0 ? v.listener!.onRevoke?.(mine) : undefined;
          }));
        } finally {
          forget();
        }
      },
    });
  }

  /**
   * @internal Reads once for every view (one consume() in flight), into their buffers: what the
   * client has prefetched (up to `take` messages, without waiting), and only when that is nothing
   * and the caller would wait, up to `timeoutMs` for the next message. The calls a view makes for
   * itself (KafkaSource: consume(1, wait) when its topic is quiet) would otherwise take one message
   * per call for every view while another topic streams.
   */
  pull(max: number, timeoutMs: number): Promise<void> {
    if (!this.subscribed) return new Promise((r) => setTimeout(r, Math.max(1, timeoutMs)));
    this.pulling ??= (async () => {
      let messages = await this.consumer.consume(Math.max(max, this.take), 0);
      if (messages.length === 0 && timeoutMs > 0) messages = await this.consumer.consume(1, timeoutMs);
      for (const m of messages) this.views.get(m.topic)?.buffer.push(m);
    })().finally(() => {
      this.pulling = undefined;
    });
    return this.pulling;
  }

  /** @internal */
  async release(): Promise<void> {
    if (--this.open === 0) await this.consumer.disconnect();
  }
}

class TopicView implements KafkaConsumerClient {
  listener: RebalanceListener | undefined;
  buffer: KafkaMessage[] = [];
  private readonly c: KafkaConsumerClient;
  private released = false;

  constructor(private readonly hub: SharedConsumer, readonly topic: string) {
    this.c = hub.consumer;
    if (this.c.commitAsync) this.commitAsync = (offsets) => this.c.commitAsync!(offsets);
    if (this.c.queryWatermarks) this.queryWatermarks = (topic, partition, timeoutMs) => this.c.queryWatermarks!(topic, partition, timeoutMs);
  }

  commitAsync?: (offsets: TopicPartitionOffset[]) => void;
  queryWatermarks?: (topic: string, partition: number, timeoutMs?: number) => Promise<WatermarkOffsets>;

  connect(): Promise<void> {
    return Promise.resolve(); // the shared consumer is connected by whoever made it
  }

  subscribe(topics: string[], listener: RebalanceListener = {}): void {
    if (topics.length !== 1 || topics[0] !== this.topic) throw new Error(`shared consumer: the view of ${this.topic} cannot subscribe to ${topics.join(", ")}`);
    this.listener = listener;
    this.hub.subscribeWhenAll();
  }

  assignment(): TopicPartition[] {
    return this.c.assignment().filter((tp) => tp.topic === this.topic);
  }

  async consume(maxMessages: number, timeoutMs = 100): Promise<KafkaMessage[]> {
    if (this.buffer.length === 0) await this.hub.pull(maxMessages, timeoutMs);
    if (this.buffer.length <= maxMessages) {
      const out = this.buffer;
      this.buffer = [];
      return out;
    }
    return this.buffer.splice(0, maxMessages);
  }

  pause(partitions: TopicPartition[]): void {
    this.c.pause(partitions);
  }

  resume(partitions: TopicPartition[]): void {
    this.c.resume(partitions);
  }

  seek(topic: string, partition: number, offset: number): Promise<void> {
    // Messages of the partition buffered here are older than the new position: the source skips
    // them by offset (it resumes at the first message it has not queued).
    return this.c.seek(topic, partition, offset);
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    return this.c.commit(offsets);
  }

  committed(partitions?: TopicPartition[], timeoutMs?: number): Promise<CommittedOffset[]> {
    return this.c.committed(partitions ?? this.assignment(), timeoutMs);
  }

  async disconnect(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.hub.release();
  }
}
