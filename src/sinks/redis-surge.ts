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
import type { RedisCommand } from "./redis-client.js";
import { CoalescingRedisSink, type CoalescingRedisSinkOptions } from "./redis-coalescing.js";
import type { Output } from "./sink.js";

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

export type RedisSurgeSinkOptions = CoalescingRedisSinkOptions;

export class RedisSurgeSink extends CoalescingRedisSink {
  constructor(options: RedisSurgeSinkOptions) {
    super(options, "surge");
  }

  protected keyOf(output: Output): { key: string | undefined; counts: boolean } {
    return output.type === "window" ? { key: output["key"] as string, counts: true } : { key: undefined, counts: false };
  }

  protected newer(a: Output, b: Output): boolean {
    return (b["windowStart"] as number) <= (a["windowStart"] as number);
  }

  /** One Lua script for the whole batch (see SURGE_SCRIPT). */
  protected commands(latest: ReadonlyMap<string, Output>, prefix: string): RedisCommand[] {
    const args: Array<string | number> = ["EVAL", SURGE_SCRIPT, 0, prefix, SURGE_TTL_SECONDS];
    for (const [region, o] of latest) {
      args.push(region, o["surgeMultiplier"] as number, o["requests"] as number, o["drivers"] as number, o["windowStart"] as number, o["windowEnd"] as number);
    }
    return [args];
  }
}
