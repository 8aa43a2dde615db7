/**
 * engagement-analytics with `--redis`: each closed viewing session's top genres become the user's
 * recommendations (the seed's `redisTemplate.opsForValue().set("rec:" + userId, recommendations,
 * Duration.ofHours(2))`):
 *
 *   rec:<userId>   string, a JSON list of genres, e.g. ["Drama","Crime"]   (2-hour expiry)
 *
 * Sessions are coalesced per user between pipelines (the one ending last wins) and written as
 * `SET key value EX 7200` in one Redis pipeline; a session without a known genre writes nothing.
 * Acknowledgement as in the other Redis sinks: a pipeline's replies acknowledge every output
 * written before it was sent.
 */
import { REC_TTL_SECONDS } from "../pipelines/engagement/spec.js";
import { RedisSinkError, type RedisClient, type RedisCommand } from "./redis-client.js";
import type { Output, Sink } from "./sink.js";

export interface RedisRecsSinkOptions {
  client: RedisClient;
  /** Prepended to every key. @default "" */
  prefix?: string;
  /** @default 2 */
  maxInFlight?: number;
  /** @default 30000 */
  flushTimeoutMs?: number;
}

export class RedisRecsSink implements Sink {
  readonly wantsObjects = true;
  written = 0;
  acknowledged = 0;
  pipelines = 0;
  /** Keys set so far. */
  keysSet = 0;
  private readonly latest = new Map<string, Output>();
  private inFlight = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(private readonly options: RedisRecsSinkOptions) {}

  get pending(): number {
    return this.written - this.acknowledged;
  }

  write(output: Output): void {
    if (output.type !== "session") return;
    this.written++;
    if ((output["genres"] as string[]).length === 0) return;
    const user = output["userId"] as string;
    const prev = this.latest.get(user);
    if (prev === undefined || (prev["end"] as number) <= (output["end"] as number)) this.latest.set(user, output);
  }

  service(): void {
    if (this.failure) throw this.failure;
    if (this.latest.size === 0) {
      if (this.inFlight === 0) this.acknowledged = this.written;
      return;
    }
    if (this.inFlight >= (this.options.maxInFlight ?? 2)) return;
    const upTo = this.written;
    const prefix = this.options.prefix ?? "";
    const commands: RedisCommand[] = [];
    for (const [user, o] of this.latest) commands.push(["SET", `${prefix}rec:${user}`, JSON.stringify(o["genres"]), "EX", REC_TTL_SECONDS]);
    this.latest.clear();
    this.inFlight++;
    this.pipelines++;
    const n = commands.length;
    const sent = this.options.client.pipeline(commands);
    this.sending = this.sending.then(() => sent).then(
      () => {
        this.keysSet += n;
        if (upTo > this.acknowledged) this.acknowledged = upTo;
      },
      (err: unknown) => {
        this.failure ??= err instanceof RedisSinkError ? err : new RedisSinkError(`Redis recommendation update failed: ${(err as Error).message}`, { cause: err });
      },
    ).finally(() => { this.inFlight--; });
  }

  async flush(): Promise<void> {
    const limit = this.options.flushTimeoutMs ?? 30_000;
    const deadline = Date.now() + limit;
    while (this.acknowledged < this.written || this.inFlight > 0) {
      this.service();
      if (Date.now() > deadline) throw new RedisSinkError(`${this.written - this.acknowledged} recommendation updates were not acknowledged by Redis within ${limit} ms`);
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
