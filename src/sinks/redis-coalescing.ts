/**
 * The shared half of the Redis sinks that keep only the newest output per key between pipelines
 * (surge per region, recommendations per user): outputs are coalesced in a Map, sent as one Redis
 * pipeline at a time (at most `maxInFlight` in flight), and a pipeline's replies acknowledge every
 * output written before it was sent. A subclass says which outputs it takes, which of two is newer,
 * and the commands for a batch of them.
 */
import { RedisSinkError, type RedisClient, type RedisCommand } from "./redis-client.js";
import type { Output, Sink } from "./sink.js";

export interface CoalescingRedisSinkOptions {
  client: RedisClient;
  /** Prepended to every key. @default "" */
  prefix?: string;
  /** @default 2 */
  maxInFlight?: number;
  /** @default 30000 */
  flushTimeoutMs?: number;
}

export abstract class CoalescingRedisSink implements Sink {
  readonly wantsObjects = true;
  written = 0;
  acknowledged = 0;
  pipelines = 0;
  private readonly latest = new Map<string, Output>();
  private inFlight = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  /** `what`: the updates' name in errors (e.g. "surge"). */
  constructor(protected readonly options: CoalescingRedisSinkOptions, private readonly what: string) {}

  /** The key of an output this sink writes (counted as written), or undefined for one it ignores (counted when `counts`). */
  protected abstract keyOf(output: Output): { key: string | undefined; counts: boolean };
  /** True when `a` replaces `b` (the newer result of the same key). */
  protected abstract newer(a: Output, b: Output): boolean;
  /** The Redis commands that write these outputs (one per key). */
  protected abstract commands(latest: ReadonlyMap<string, Output>, prefix: string): RedisCommand[];
  /** Called once Redis replied to a pipeline of `n` keys. */
  protected sent(_n: number): void {}

  get pending(): number {
    return this.written - this.acknowledged;
  }

  write(output: Output): void {
    const { key, counts } = this.keyOf(output);
    if (counts) this.written++;
    if (key === undefined) return;
    const prev = this.latest.get(key);
    if (prev === undefined || this.newer(output, prev)) this.latest.set(key, output);
  }

  service(): void {
    if (this.failure) throw this.failure;
    if (this.latest.size === 0) {
      if (this.inFlight === 0) this.acknowledged = this.written;
      return;
    }
    if (this.inFlight >= (this.options.maxInFlight ?? 2)) return;
    const upTo = this.written;
    const n = this.latest.size;
    const commands = this.commands(this.latest, this.options.prefix ?? "");
    this.latest.clear();
    this.inFlight++;
    this.pipelines++;
    const sent = this.options.client.pipeline(commands);
    this.sending = this.sending.then(() => sent).then(
      () => {
        this.sent(n);
        if (upTo > this.acknowledged) this.acknowledged = upTo;
      },
      (err: unknown) => {
        this.failure ??= err instanceof RedisSinkError ? err : new RedisSinkError(`Redis ${this.what} update failed: ${(err as Error).message}`, { cause: err });
      },
    ).finally(() => { this.inFlight--; });
  }

  async flush(): Promise<void> {
    const limit = this.options.flushTimeoutMs ?? 30_000;
    const deadline = Date.now() + limit;
    while (this.acknowledged < this.written || this.inFlight > 0) {
      this.service();
      if (Date.now() > deadline) throw new RedisSinkError(`${this.written - this.acknowledged} ${this.what} updates were not acknowledged by Redis within ${limit} ms`);
      await Promise.race([this.sending, new Promise((r) => setTimeout(r, 5))]);
    }
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.options.client.quit();
    }
  }
}
