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
import type { RedisCommand } from "./redis-client.js";
import { CoalescingRedisSink, type CoalescingRedisSinkOptions } from "./redis-coalescing.js";
import type { Output } from "./sink.js";

export type RedisRecsSinkOptions = CoalescingRedisSinkOptions;

export class RedisRecsSink extends CoalescingRedisSink {
  /** Keys set so far. */
  keysSet = 0;

  constructor(options: RedisRecsSinkOptions) {
    super(options, "recommendation");
  }

  protected keyOf(output: Output): { key: string | undefined; counts: boolean } {
    if (output.type !== "session") return { key: undefined, counts: false };
    if ((output["genres"] as string[]).length === 0) return { key: undefined, counts: true };
    return { key: output["userId"] as string, counts: true };
  }

  protected newer(a: Output, b: Output): boolean {
    return (b["end"] as number) <= (a["end"] as number);
  }

  protected commands(latest: ReadonlyMap<string, Output>, prefix: string): RedisCommand[] {
    const commands: RedisCommand[] = [];
    for (const [user, o] of latest) commands.push(["SET", `${prefix}rec:${user}`, JSON.stringify(o["genres"]), "EX", REC_TTL_SECONDS]);
    return commands;
  }

  protected override sent(n: number): void {
    this.keysSet += n;
  }
}
