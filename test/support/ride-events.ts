/** Ride generator events in the order the coordinator reads them (round-robin, `batch` per partition). */
import { RideGenerator, type RideColumns, type RideGeneratorOptions } from "../../src/sources/ride-generator.js";
import type { SourcedEvent } from "./driver-reference.js";

export function rideSourceOrder(options: Partial<RideGeneratorOptions>, total: number, batch: number): SourcedEvent[] {
  const gen = new RideGenerator(options);
  const cols: RideColumns = {
    driver: new Uint32Array(batch), request: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch),
    ts: new Float64Array(batch), speed: new Float64Array(batch),
  };
  const out: SourcedEvent[] = [];
  let remaining = total;
  for (let p = 0; remaining > 0; p = (p + 1) % gen.partitions) {
    const n = Math.min(batch, remaining);
    gen.fill(p, cols, 0, n);
    for (let i = 0; i < n; i++) out.push({ partition: p, event: gen.toEvent(cols, i) });
    remaining -= n;
  }
  return out;
}
