/** Pipelines a shard worker can run, by name. Only worker-side code is imported here. */
import { DriverTrackingShard } from "../src/pipelines/driver-tracking/shard.js";
import type { ProcessorConfig, ShardProcessor } from "../src/pipelines/processor.js";

export function createProcessor(pipeline: string, config: ProcessorConfig): ShardProcessor {
  switch (pipeline) {
    case "driver-tracking":
      return new DriverTrackingShard(config);
    default:
      throw new Error(`no shard processor for pipeline ${JSON.stringify(pipeline)}`);
  }
}
