/** The embedded generator as a source: events are written straight into ring slots. */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import type { DriverInputColumns } from "../pipelines/driver-tracking/spec.js";
import { DriverGenerator, type DriverColumns } from "./driver-generator.js";
import type { Source } from "./source.js";

export class GeneratorSource implements Source {
  readonly partitions: number;
  readonly maxInFlight = Infinity;
  private remaining: number;
  private readonly next: Float64Array;
  private readonly views = new WeakMap<object, DriverColumns>();
  private readonly scratch: DriverColumns = {
    driver: new Uint32Array(1), lat: new Float64Array(1), lon: new Float64Array(1),
    ts: new Float64Array(1), speed: new Float64Array(1),
  };
  private readonly name: (id: number) => string;

  /** `limit`: total events over all partitions (Infinity: unbounded). */
  constructor(readonly generator: DriverGenerator, limit = Infinity) {
    this.partitions = generator.partitions;
    this.remaining = limit;
    this.next = new Float64Array(generator.partitions);
    this.name = (id) => generator.driverName(id);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.remaining);
    if (n <= 0) return 0;
    let view = this.views.get(columns);
    if (view === undefined) {
      const c = columns as unknown as DriverInputColumns;
      view = { driver: c.driverId, lat: c.lat, lon: c.lon, ts: c.ts, speed: c.speedKmh };
      this.views.set(columns, view);
    }
    this.generator.fill(p, view, 0, n);
    const off = (columns as unknown as DriverInputColumns)._off;
    const base = this.next[p]!;
    for (let i = 0; i < n; i++) off[i] = base + i;
    this.next[p] = base + n;
    this.remaining -= n;
    return n;
  }

  exhausted(): boolean {
    return this.remaining <= 0;
  }

  event(out: OutputColumns, i: number): unknown {
    const s = this.scratch;
    s.driver[0] = out.key[i]!;
    s.lat[0] = out.a[i]!;
    s.lon[0] = out.b[i]!;
    s.ts[0] = out.c[i]!;
    s.speed[0] = out.d[i]!;
    return DriverGenerator.toEvent(s, 0, this.name);
  }

  async close(): Promise<void> {}
}
