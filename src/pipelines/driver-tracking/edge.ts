/** driver-tracking on the main thread: the edge kernel and the output objects. */
import { geohashIntToString } from "../../kernels/geohash.js";
import { FIX_REASONS, validateFixes } from "../../kernels/validate.js";
import { OUT_ANOMALY, OUT_INVALID, OUT_LATE, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import { lastFixLog } from "./last-fix-log.js";
import {
  DRIVER_LOCATION, GRACE_MS, MAX_SPEED_KMH, PIPELINE, REGION_PRECISION, SPEED_SCALE, WINDOW_MS,
  inputLayout, type DriverInputColumns,
} from "./spec.js";

const SIDE_NAMES: Record<number, string> = { [OUT_INVALID]: "invalid", [OUT_ANOMALY]: "anomaly", [OUT_LATE]: "late" };

export const driverTracking: PipelineDefinition = {
  name: PIPELINE,
  description: "Uber-style driver locations: validate, flag > 250 km/h jumps, count fixes and mean speed per geohash-5 region in 60 s windows (10 s grace)",
  loggedState: lastFixLog,
  schema: DRIVER_LOCATION,
  window: { sizeMs: WINDOW_MS, graceMs: GRACE_MS },
  outputs: ["window", "invalid", "anomaly", "late"],
  processorConfig: {},
  shardKey: "driverId",
  inputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    const c = columns as unknown as DriverInputColumns;
    return validateFixes(c.driverId, c.lat, c.lon, c.ts, n, streamTime, otherMin, c._reason, c._wm);
  },

  renderWindow(key: number, start: number, count: number, sum: number, n: number): Output {
    return {
      type: "window",
      key: geohashIntToString(key, REGION_PRECISION),
      windowStart: start,
      windowEnd: start + WINDOW_MS,
      count,
      avgSpeedKmh: n > 0 ? sum / n / SPEED_SCALE : null,
    };
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    const kind = out.kind[i]!;
    let reason: string;
    if (kind === OUT_INVALID) {
      reason = FIX_REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`;
    } else if (kind === OUT_ANOMALY) {
      const kmh = out.e[i]!;
      reason = `${kmh.toFixed(1)} km/h since the driver's last fix at ${out.f[i]} exceeds ${MAX_SPEED_KMH} km/h`;
    } else {
      const wm = out.e[i]!;
      const start = out.f[i]!;
      reason = `window [${start}, ${start + WINDOW_MS}) closed at watermark ${wm} (end + ${GRACE_MS} ms grace); ` +
        `the fix is ${wm - out.c[i]!} ms behind the watermark`;
    }
    return { type: SIDE_NAMES[kind] ?? "unknown", reason, event };
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const id = out.key[i]!;
    const value = (x: number): number | null => (Number.isNaN(x) ? null : x);
    const event: Record<string, unknown> = { driverId: id === 0 ? "" : name(id), lat: value(out.a[i]!), lon: value(out.b[i]!), ts: value(out.c[i]!) };
    if (!Number.isNaN(out.d[i]!)) event["speedKmh"] = out.d[i]!;
    return event;
  },

  outputKey(output: Output): string | null {
    if (output.type === "window") return output["key"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    return typeof event?.["driverId"] === "string" ? (event["driverId"] as string) : null;
  },

  sideName(kind: number): string {
    return SIDE_NAMES[kind] ?? "unknown";
  },
};
