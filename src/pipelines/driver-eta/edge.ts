/** driver-eta on the main thread: the edge kernel and the output objects. */
import { geohashIntToString } from "../../kernels/geohash.js";
import { OUT_INVALID, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import {
  REGION_PRECISION, RIDE_EVENT, RIDE_REASONS, prepareRideEvents, rideEventFromFields, rideInputLayout, type RideInputColumns,
} from "../rides/spec.js";
import { OUT_AVAILABILITY, OUT_ETA, PIPELINE } from "./spec.js";

export const driverEta: PipelineDefinition = {
  name: PIPELINE,
  description: "Uber-style ETA: every driver update against the open ride requests within 5 km (30 km/h over a per-region traffic multiplier), matching at ETA ≤ 5 min, availability updates",
  volatileState: "the open ride requests, the drivers' availability and matches, the regions' traffic: after a crash requests opened before the committed offsets get no ETA or match; --guarantee exactly-once restores them",
  schema: RIDE_EVENT,
  // No windows: results are final when emitted. (The merger and commit tracker then only wait for
  // the watermark to pass a record's ts by 1 ms.)
  window: { sizeMs: 1, graceMs: 0 },
  outputs: ["eta", "availability", "invalid"],
  processorConfig: {},
  maxWorkers: 1,
  // On Kafka, ETA updates go to --output-topic (the seed's eta-updates) and availability updates to
  // the same name with eta-updates replaced by driver-availability-updates (else <topic>.availability).
  outputTopics(outputTopic: string): Readonly<Record<string, string>> {
    return {
      eta: outputTopic,
      availability: outputTopic.includes("eta-updates") ? outputTopic.replace("eta-updates", "driver-availability-updates") : `${outputTopic}.availability`,
    };
  },
  inputLayout: rideInputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    return prepareRideEvents(columns as unknown as RideInputColumns, n, streamTime, otherMin);
  },

  renderWindow(): Output {
    throw new Error("driver-eta has no windows");
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    return { type: "invalid", reason: RIDE_REASONS[out.code[i]!] ?? `invalid (code ${out.code[i]})`, event };
  },

  recordName(kind: number): string {
    return kind === OUT_ETA ? "eta" : kind === OUT_AVAILABILITY ? "availability" : `kind-${kind}`;
  },

  renderRecord(out: OutputColumns, i: number, name: (field: string, id: number) => string): Output {
    const driverId = name("driverId", out.key[i]!);
    if (out.kind[i] === OUT_ETA) {
      return {
        type: "eta", driverId, requestId: name("requestId", out.a[i]!), etaMinutes: out.b[i]!, distanceKm: out.c[i]!,
        trafficMultiplier: out.e[i]!, ts: out.d[i]!,
      };
    }
    const available = out.code[i] === 1;
    const o: Output = {
      type: "availability", driverId, available, region: geohashIntToString(out.f[i]!, REGION_PRECISION),
      lat: out.d[i]!, lon: out.e[i]!, ts: out.c[i]!,
    };
    if (!available) {
      o["requestId"] = name("requestId", out.a[i]!);
      o["etaMinutes"] = out.b[i]!;
    }
    return o;
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const id = out.key[i]!;
    return rideEventFromFields(out.f[i]!, id === 0 ? "" : name(id), out.a[i]!, out.b[i]!, out.c[i]!, out.d[i]!);
  },

  outputKey(output: Output): string | null {
    if (typeof output["driverId"] === "string") return output["driverId"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    const id = event?.["requestId"] ?? event?.["driverId"];
    return typeof id === "string" && id !== "" ? id : null;
  },

  sideName(kind: number): string {
    return kind === OUT_INVALID ? "invalid" : "unknown";
  },
};
