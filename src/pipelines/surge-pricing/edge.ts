/** surge-pricing on the main thread: the edge kernel and the output objects. */
import { geohashIntToString } from "../../kernels/geohash.js";
import { OUT_INVALID, OUT_LATE, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import {
  REGION_PRECISION, RIDE_EVENT, RIDE_REASONS, prepareRideEvents, rideEventFromFields, rideInputLayout,
  type RideInputColumns,
} from "../rides/spec.js";
import { ADVANCE_MS, GRACE_MS, PIPELINE, WINDOW_MS, surgeMultiplier } from "./spec.js";

const SIDE_NAMES: Record<number, string> = { [OUT_INVALID]: "invalid", [OUT_LATE]: "late" };

export const surgePricing: PipelineDefinition = {
  name: PIPELINE,
  description: "Uber-style surge pricing: ride requests vs distinct drivers per geohash-5 region on 10-minute windows advancing by 1 minute, a surge multiplier per window",
  schema: RIDE_EVENT,
  // The merger and the commit tracker close a window at start + sizeMs + graceMs and take the last
  // window of a record at floor(ts / sizeMs) · sizeMs. For hopping windows that is the advance and
  // (size − advance + grace): the newest window covering ts starts at floor(ts / advance) · advance
  // and closes at that + size + grace — exactly what these two values give.
  window: { sizeMs: ADVANCE_MS, graceMs: WINDOW_MS - ADVANCE_MS + GRACE_MS },
  outputs: ["window", "invalid", "late"],
  processorConfig: {},
  shardKey: "driverId",
  inputLayout: rideInputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    return prepareRideEvents(columns as unknown as RideInputColumns, n, streamTime, otherMin);
  },

  renderWindow(key: number, start: number, count: number, sum: number): Output {
    const requests = sum;
    const drivers = count - sum;
    return {
      type: "window",
      key: geohashIntToString(key, REGION_PRECISION),
      windowStart: start,
      windowEnd: start + WINDOW_MS,
      requests,
      drivers,
      surgeMultiplier: surgeMultiplier(requests, drivers),
    };
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    const kind = out.kind[i]!;
    if (kind === OUT_INVALID) {
      return { type: "invalid", reason: RIDE_REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
    }
    const wm = out.e[i]!;
    const newest = Math.floor(out.c[i]! / ADVANCE_MS) * ADVANCE_MS;
    return {
      type: SIDE_NAMES[kind] ?? "unknown",
      reason: `every window covering the record closed (the newest, [${newest}, ${newest + WINDOW_MS}), at watermark ${newest + WINDOW_MS + GRACE_MS}); watermark ${wm}`,
      event,
    };
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const id = out.key[i]!;
    return rideEventFromFields(out.f[i]!, id === 0 ? "" : name(id), out.a[i]!, out.b[i]!, out.c[i]!, out.d[i]!);
  },

  outputKey(output: Output): string | null {
    if (output.type === "window") return output["key"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    const id = event?.["requestId"] ?? event?.["driverId"];
    return typeof id === "string" && id !== "" ? id : null;
  },

  sideName(kind: number): string {
    return SIDE_NAMES[kind] ?? "unknown";
  },
};

