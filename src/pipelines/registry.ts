/** The pipelines `riptide run` knows, by name. */
import { driverTracking } from "./driver-tracking/edge.js";
import type { PipelineDefinition } from "./pipeline.js";
import { surgePricing } from "./surge-pricing/edge.js";
import { driverEta } from "./driver-eta/edge.js";
import { payments } from "./payments/edge.js";
import { messageDelivery } from "./message-delivery/edge.js";
import { engagementAnalytics } from "./engagement/edge.js";

export const PIPELINES: readonly PipelineDefinition[] = [driverTracking, surgePricing, driverEta, payments, engagementAnalytics, messageDelivery];

export function getPipeline(name: string): PipelineDefinition | undefined {
  return PIPELINES.find((p) => p.name === name);
}
