/**
 * `--redis URL`: what each pipeline writes to Redis, wired at the sink edge. A pipeline that writes
 * to Redis may need its shards to emit more (driver-tracking: one POSITION output per driver per
 * batch), so this returns the pipeline definition to run as well as the sink to add.
 */
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { connectRedis, type RedisClient } from "./redis-client.js";
import { RedisGeoSink } from "./redis-geo.js";
import { RedisSurgeSink } from "./redis-surge.js";
import { RedisRecsSink } from "./redis-recs.js";
import type { Sink } from "./sink.js";

export interface RedisSetupOptions {
  url: string;
  /** Prepended to every key. @default "" */
  prefix?: string;
  pipeline: PipelineDefinition;
  /** The string of an interned id (driver ids → GEO members). */
  name: (id: number) => string;
  /** For tests: an existing client instead of connecting to `url`. */
  client?: RedisClient;
}

/** Pipelines with Redis outputs, and what they write. */
export const REDIS_PIPELINES: Readonly<Record<string, string>> = {
  "driver-tracking": "GEO index drivers:active and drivers:<region> (5-minute expiry)",
  "surge-pricing": "surge:<region> hash with the newest window's multiplier (5-minute expiry)",
  "engagement-analytics": "rec:<userId>, a JSON list of the last session's top genres (2-hour expiry)",
  "message-delivery": "pending:<userId> lists of stored (encrypted) messages, forwarded when the user comes online (30-day expiry)",
};

export async function setupRedis(opts: RedisSetupOptions): Promise<{ pipeline: PipelineDefinition; sink: Sink }> {
  const { pipeline } = opts;
  if (!(pipeline.name in REDIS_PIPELINES)) {
    throw new RangeError(`--redis: pipeline ${pipeline.name} writes nothing to Redis (pipelines with Redis outputs: ${Object.keys(REDIS_PIPELINES).join(", ")})`);
  }
  const client = opts.client ?? (await connectRedis(opts.url));
  if (pipeline.name === "driver-tracking") {
    return {
      pipeline: withPositions(pipeline),
      sink: new RedisGeoSink({ client, name: opts.name, ...(opts.prefix !== undefined && { prefix: opts.prefix }) }),
    };
  }
  if (pipeline.name === "surge-pricing") {
    return { pipeline, sink: new RedisSurgeSink({ client, ...(opts.prefix !== undefined && { prefix: opts.prefix }) }) };
  }
  if (pipeline.name === "engagement-analytics") {
    return { pipeline, sink: new RedisRecsSink({ client, ...(opts.prefix !== undefined && { prefix: opts.prefix }) }) };
  }
  if (pipeline.name === "message-delivery") {
    const { MessagesHub } = await import("../http/messages-hub.js");
    return { pipeline, sink: new MessagesHub({ client, ...(opts.prefix !== undefined && { prefix: opts.prefix }) }) };
  }
  throw new RangeError(`--redis: no Redis sink for ${pipeline.name}`);
}

/** driver-tracking whose shards also emit each batch's latest position per driver (`position` outputs). */
export function withPositions(pipeline: PipelineDefinition): PipelineDefinition {
  return {
    ...pipeline,
    processorConfig: { ...pipeline.processorConfig, positions: true },
    outputs: [...pipeline.outputs, "position"],
  };
}
