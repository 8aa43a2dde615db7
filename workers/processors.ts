/** Pipelines a shard worker can run, by name. Only worker-side code is imported here. */
import { DriverTrackingShard } from "../src/pipelines/driver-tracking/shard.js";
import type { ProcessorConfig, ShardProcessor } from "../src/pipelines/processor.js";
import { SurgePricingShard } from "../src/pipelines/surge-pricing/shard.js";
import { DriverEtaShard } from "../src/pipelines/driver-eta/shard.js";
import { PaymentsShard } from "../src/pipelines/payments/shard.js";
import { MessageDeliveryShard } from "../src/pipelines/message-delivery/shard.js";
import { EngagementShard } from "../src/pipelines/engagement/shard.js";
import { TaskedProcessor, taskedConfig } from "../src/pipelines/tasked-processor.js";

export function createProcessor(pipeline: string, config: ProcessorConfig): ShardProcessor {
  // State per input partition (--instance-id): one processor per partition the shard is given.
  const copartitions = taskedConfig(config);
  if (copartitions !== undefined) return new TaskedProcessor(() => createPipelineProcessor(pipeline, config), copartitions);
  return createPipelineProcessor(pipeline, config);
}

function createPipelineProcessor(pipeline: string, config: ProcessorConfig): ShardProcessor {
  switch (pipeline) {
    case "driver-tracking":
      return new DriverTrackingShard(config);
    case "surge-pricing":
      return new SurgePricingShard();
    case "driver-eta":
      return new DriverEtaShard();
    case "payments":
      return new PaymentsShard();
    case "message-delivery":
      return new MessageDeliveryShard();
    case "engagement-analytics":
      return new EngagementShard();
    default:
      throw new Error(`no shard processor for pipeline ${JSON.stringify(pipeline)}`);
  }
}
