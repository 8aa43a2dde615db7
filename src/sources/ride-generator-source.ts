/** The embedded ride generator as a source: ride events written straight into ring slots. */
import type { OutputColumns } from "../ring/output.js";
import type { ColumnArray } from "../schema/schema.js";
import { KIND_REQUEST, type RideInputColumns } from "../pipelines/rides/spec.js";
import { RideGenerator, type RideColumns } from "./ride-generator.js";
import type { Source } from "./source.js";

export class RideGeneratorSource implements Source {
  readonly partitions: number;
  readonly maxInFlight = Infinity;
  private remaining: number;
  private readonly next: Float64Array;
  private readonly views = new WeakMap<object, RideColumns>();
  private readonly scratch: RideColumns = {
    driver: new Uint32Array(1), request: new Uint32Array(1), lat: new Float64Array(1), lon: new Float64Array(1),
    ts: new Float64Array(1), speed: new Float64Array(1),
  };

  /** `limit`: total events over all partitions (Infinity: unbounded). */
  constructor(readonly generator: RideGenerator, limit = Infinity) {
    this.partitions = generator.partitions;
    this.remaining = limit;
    this.next = new Float64Array(generator.partitions);
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = Math.min(max, this.remaining);
    if (n <= 0) return 0;
    let view = this.views.get(columns);
    if (view === undefined) {
      const c = columns as unknown as RideInputColumns;
      view = { driver: c.driverId, request: c.requestId, lat: c.lat, lon: c.lon, ts: c.ts, speed: c.speedKmh };
      this.views.set(columns, view);
    }
    this.generator.fill(p, view, 0, n);
    const off = (columns as unknown as RideInputColumns)._off;
    const base = this.next[p]!;
    for (let i = 0; i < n; i++) off[i] = base + i;
    this.next[p] = base + n;
    this.remaining -= n;
    return n;
  }

  exhausted(): boolean {
    return this.remaining <= 0;
  }

  /** The event as generated (side outputs of ride pipelines carry the record's kind in `f`). */
  event(out: OutputColumns, i: number): unknown {
    const s = this.scratch;
    const request = out.f[i]! === KIND_REQUEST;
    s.driver[0] = request ? 0 : out.key[i]!;
    s.request[0] = request ? out.key[i]! : 0;
    s.lat[0] = out.a[i]!;
    s.lon[0] = out.b[i]!;
    s.ts[0] = out.c[i]!;
    s.speed[0] = out.d[i]!;
    return this.generator.toEvent(s, 0);
  }

  idName(field: string, id: number): string {
    return field === "requestId" ? this.generator.requestName(id) : this.generator.driverName(id);
  }

  async close(): Promise<void> {}
}
