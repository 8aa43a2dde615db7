/**
 * Runs a topology over N shard executors the way the worker engine does: event time and the
 * watermark are computed once where records enter (one StreamTimeTracker), each record goes to
 * the shard of its key, and every shard is told of every watermark advance. Used to check that
 * results do not depend on the number of shards.
 */
import { StreamTimeTracker, TopologyExecutor, Windowed, type Topology } from "../../src/index.js";

export interface Out { topic: string; key: unknown; value: unknown; timestamp: number; windowStart?: number; windowEnd?: number }

export function hashKey(k: unknown, shards: number): number {
  const s = typeof k === "string" ? k : JSON.stringify(k);
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) % shards;
}

export class ShardedRun {
  readonly outputs: Out[] = [];
  private readonly shards: TopologyExecutor[] = [];
  private readonly time = new StreamTimeTracker();

  constructor(topology: Topology, readonly n: number) {
    const emit = (topic: string, key: unknown, value: unknown, timestamp: number) => {
      if (key instanceof Windowed) this.outputs.push({ topic, key: key.key, value, timestamp, windowStart: key.window.start, windowEnd: key.window.end });
      else this.outputs.push({ topic, key, value, timestamp });
    };
    for (let i = 0; i < n; i++) this.shards.push(new TopologyExecutor(topology, emit));
  }

  pipe(topic: string, key: string, value: unknown, t: number, partition = 0): void {
    const wm = this.time.observe(this.time.partition(`${topic}-${partition}`), t, 0);
    const s = hashKey(key, this.n);
    this.shards[s]!.process(topic, key, value, t, wm);
    for (const x of this.shards) x.advance(wm);
  }

  flush(): void {
    for (const x of this.shards) x.flush();
  }

  topic(name: string): Out[] {
    return this.outputs.filter((o) => o.topic === name);
  }
}

/** Sorts outputs into a canonical order (multiset comparison). */
export function canonical<T>(xs: T[]): T[] {
  return [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
}
