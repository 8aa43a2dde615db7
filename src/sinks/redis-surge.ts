/**
 * surge-pricing with `--redis`: the current surge of each region in a hash, for pricing services
 * to read (the seed's `pricingService.updateSurgePricing(regionId, surgeMultiplier)`):
 *
 *   surge:<region>   hash {multiplier, requests, drivers, windowStart, windowEnd}   (e.g. surge:9q8yy)
 *
 * Window results are coalesced per region between pipelines (the newest window wins) and written
 * by one Lua script per pipeline that also ignores a window older than the one stored, so a replay
 * after a restart cannot bring back an old price. Keys expire 5 minutes (wall clock) after their
 * last update: a region whose job stopped stops surging. Acknowledgement as in the GEO sink: a
 * pipeline's replies acknowledge every result written before it was sent.
 */
import { RedisSinkError, type RedisClient, type RedisCommand } from "./redis-client.js";
import type { Output, Sink } from "./sink.js";

export const SURGE_TTL_SECONDS = 300;

const SURGE_SCRIPT = `
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, 6 do
  local key = p .. 'surge:' .. ARGV[i]
  local stored = redis.call('HGET', key, 'windowEnd')
  if (not stored) or tonumber(stored) <= tonumber(ARGV[i + 5]) then
    redis.call('HSET', key, 'multiplier', ARGV[i + 1], 'requests', ARGV[i + 2], 'drivers', ARGV[i + 3],
      'windowStart', ARGV[i + 4], 'windowEnd', ARGV[i + 5])
    n = n + 1
  end
  redis.call('EXPIRE', key, ttl)
end
return n
`;

export interface RedisSurgeSinkOptions {
  client: RedisClient;
  /** Prepended to every key. @default "" */
  prefix?: string;
  /** @default 2 */
  maxInFlight?: number;
  /** @default 30000 */
  flushTimeoutMs?: number;
}

export class RedisSurgeSink implements Sink {
  readonly wantsObjects = true;
  written = 0;
  acknowledged = 0;
  pipelines = 0;
  private readonly latest = new Map<string, Output>();
  private inFlight = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(private readonly options: RedisSurgeSinkOptions) {}

  get pending(): number {
    return this.written - this.acknowledged;
  }

  write(output: Output): void {
    if (output.type !== "window") return;
    this.written++;
    const region = output["key"] as string;
    const prev = this.latest.get(region);
    if (prev === undefined || (prev["windowStart"] as number) <= (output["windowStart"] as number)) this.latest.set(region, output);
  }

  service(): void {
    if (this.failure) throw this.failure;
    if (this.latest.size === 0) {
      if (this.inFlight === 0) this.acknowledged = this.written;
      return;
    }
    if (this.inFlight >= (this.options.maxInFlight ?? 2)) return;
    const upTo = this.written;
    const args: Array<string | number> = ["EVAL", SURGE_SCRIPT, 0, this.options.prefix ?? "", SURGE_TTL_SECONDS];
    for (const [region, o] of this.latest) {
      args.push(region, o["surgeMultiplier"] as number, o["requests"] as number, o["drivers"] as number, o["windowStart"] as number, o["windowEnd"] as number);
    }
    this.latest.clear();
    const commands: RedisCommand[] = [args];
    this.inFlight++;
    this.pipelines++;
    const sent = this.options.client.pipeline(commands);
    this.sending = this.sending.then(() => sent).then(
      () => { if (upTo > this.acknowledged) this.acknowledged = upTo; },
      (err: unknown) => {
        this.failure ??= err instanceof RedisSinkError ? err : new RedisSinkError(`Redis surge update failed: ${(err as Error).message}`, { cause: err });
      },
    ).finally(() => { this.inFlight--; });
  }

  async flush(): Promise<void> {
    const limit = this.options.flushTimeoutMs ?? 30_000;
    const deadline = Date.now() + limit;
    while (this.acknowledged < this.written || this.inFlight > 0) {
      this.service();
      if (Date.now() > deadline) throw new RedisSinkError(`${this.written - this.acknowledged} surge updates were not acknowledged by Redis within ${limit} ms`);
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
