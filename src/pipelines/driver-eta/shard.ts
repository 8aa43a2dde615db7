/**
 * driver-eta inside its shard (see spec.ts): per record in arrival order, a request joins the
 * open-request table; a location updates the region's speed, the driver's availability, scans the
 * open requests in the ±5 km latitude band for ETAs, and may match.
 *
 *   open requests: parallel typed arrays sorted by latitude (insert/remove shift them: requests
 *                  are rare next to locations); a driver's band is found by binary search
 *   drivers:       seen / held flags and the end of the hold, indexed by interned driver id
 *   regions:       EWMA of reported speed per geohash-5 region (RegionSpeeds)
 */
import { EARTH_RADIUS_KM, haversineKm } from "../../kernels/geo.js";
import { geohashEncodeBatch } from "../../kernels/geohash.js";
import { OUT_INVALID, type OutputWriter } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { ShardProcessor } from "../processor.js";
import { KIND_REQUEST, REGION_PRECISION, type RideInputColumns } from "../rides/spec.js";
import { RegionSpeeds } from "./region-speed.js";
import {
  BASE_SPEED_KMH, MATCH_HOLD_MS, MATCH_MAX_ETA_MIN, OUT_AVAILABILITY, OUT_ETA, REQUEST_TTL_MS, SEARCH_RADIUS_KM,
  SPEED_EWMA_ALPHA, trafficMultiplier,
} from "./spec.js";

const BAND_DEG = (SEARCH_RADIUS_KM * (1 + 1e-9)) / ((EARTH_RADIUS_KM * Math.PI) / 180);

export class DriverEtaShard implements ShardProcessor {
  // Open requests, sorted by latitude.
  private n = 0;
  private rLat = new Float64Array(1024);
  private rLon = new Float64Array(1024);
  private rTs = new Float64Array(1024);
  private rId = new Uint32Array(1024);
  private rSeq = new Float64Array(1024);
  private seq = 0;
  // Drivers.
  private seen = new Uint8Array(1024);
  private held = new Uint8Array(1024);
  private heldUntil = new Float64Array(1024);
  private readonly speeds = new RegionSpeeds();
  private regions = new Uint32Array(0);
  private regionsHi = new Uint32Array(0);

  process(columns: Record<string, ColumnArray>, n: number, partition: number, out: OutputWriter): void {
    const c = columns as unknown as RideInputColumns;
    const { driverId, requestId, lat, lon, ts, speedKmh, _wm, _reason, _kind, _off } = c;
    if (this.regions.length < n) {
      this.regions = new Uint32Array(n);
      this.regionsHi = new Uint32Array(n);
    }
    geohashEncodeBatch(lat, lon, n, REGION_PRECISION, this.regionsHi, this.regions);
    for (let i = 0; i < n; i++) {
      if (_reason[i] !== 0) {
        const req = requestId[i]!;
        out.side(OUT_INVALID, _reason[i]!, req !== 0 ? req : driverId[i]!, partition, _off[i]!, lat[i]!, lon[i]!, ts[i]!, speedKmh[i]!, 0, _kind[i]!);
        continue;
      }
      if (_kind[i] === KIND_REQUEST) {
        this.open(requestId[i]!, lat[i]!, lon[i]!, ts[i]!);
        continue;
      }
      this.location(driverId[i]!, lat[i]!, lon[i]!, ts[i]!, speedKmh[i]!, this.regions[i]!, _wm[i]!, partition, _off[i]!, out);
    }
  }

  private location(d: number, la: number, lo: number, t: number, speed: number, region: number, wm: number,
    partition: number, off: number, out: OutputWriter): void {
    if (d >= this.seen.length) this.growDrivers(d);
    if (speed - speed === 0) this.speeds.update(region, speed, SPEED_EWMA_ALPHA);
    if (this.seen[d] === 0) {
      this.seen[d] = 1;
      out.side(OUT_AVAILABILITY, 1, d, partition, off, 0, NaN, t, la, lo, region);
    } else if (this.held[d] === 1 && t >= this.heldUntil[d]!) {
      this.held[d] = 0;
      out.side(OUT_AVAILABILITY, 1, d, partition, off, 0, NaN, t, la, lo, region);
    }
    const mult = trafficMultiplier(this.speeds.get(region));
    let best = -1;
    let bestEta = Infinity;
    const rLat = this.rLat, rLon = this.rLon, rTs = this.rTs, rSeq = this.rSeq;
    const top = la + BAND_DEG;
    for (let k = this.lowerBound(la - BAND_DEG); k < this.n && rLat[k]! <= top; k++) {
      if (rTs[k]! + REQUEST_TTL_MS <= wm) continue; // expired (removed at the batch's end)
      const dist = haversineKm(la, lo, rLat[k]!, rLon[k]!);
      if (!(dist <= SEARCH_RADIUS_KM)) continue;
      const eta = (dist / (BASE_SPEED_KMH / mult)) * 60;
      out.side(OUT_ETA, 0, d, partition, off, this.rId[k]!, eta, dist, t, mult, 0);
      if (eta <= MATCH_MAX_ETA_MIN && (eta < bestEta || (eta === bestEta && rSeq[k]! < rSeq[best]!))) {
        best = k;
        bestEta = eta;
      }
    }
    if (best >= 0 && this.held[d] === 0) {
      this.held[d] = 1;
      this.heldUntil[d] = t + MATCH_HOLD_MS;
      out.side(OUT_AVAILABILITY, 0, d, partition, off, this.rId[best]!, bestEta, t, la, lo, region);
      this.removeAt(best);
    }
  }

  /** First index whose latitude is ≥ x. */
  private lowerBound(x: number): number {
    let lo = 0, hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rLat[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private open(id: number, la: number, lo: number, t: number): void {
    if (this.n === this.rLat.length) this.growRequests();
    let k = this.lowerBound(la);
    while (k < this.n && this.rLat[k] === la) k++;
    const n = this.n;
    this.rLat.copyWithin(k + 1, k, n);
    this.rLon.copyWithin(k + 1, k, n);
    this.rTs.copyWithin(k + 1, k, n);
    this.rId.copyWithin(k + 1, k, n);
    this.rSeq.copyWithin(k + 1, k, n);
    this.rLat[k] = la;
    this.rLon[k] = lo;
    this.rTs[k] = t;
    this.rId[k] = id;
    this.rSeq[k] = this.seq++;
    this.n = n + 1;
  }

  private removeAt(k: number): void {
    const n = this.n;
    this.rLat.copyWithin(k, k + 1, n);
    this.rLon.copyWithin(k, k + 1, n);
    this.rTs.copyWithin(k, k + 1, n);
    this.rId.copyWithin(k, k + 1, n);
    this.rSeq.copyWithin(k, k + 1, n);
    this.n = n - 1;
  }

  /** Forgets requests whose 10 minutes passed (they were already invisible to later records). */
  advance(watermark: number, _out: OutputWriter): void {
    let j = 0;
    for (let k = 0; k < this.n; k++) {
      if (this.rTs[k]! + REQUEST_TTL_MS <= watermark) continue;
      if (j !== k) {
        this.rLat[j] = this.rLat[k]!; this.rLon[j] = this.rLon[k]!; this.rTs[j] = this.rTs[k]!;
        this.rId[j] = this.rId[k]!; this.rSeq[j] = this.rSeq[k]!;
      }
      j++;
    }
    this.n = j;
  }

  /** Open requests held (for tests and metrics). */
  get openRequests(): number {
    return this.n;
  }

  stateBytes(): number {
    return this.rLat.length * 36 + this.seen.length * 10;
  }

  /**
   * Layout: [open requests n, seq, drivers L, regions R, rLat × n, rLon × n, rTs × n, rId × n,
   * rSeq × n, seen × L, held × L, heldUntil × L, (region, mean speed) × R].
   */
  snapshot(into: Float64Array): number {
    const n = this.n, L = this.seen.length;
    let at = 4;
    if (at + 5 * n + 3 * L > into.length) return -1;
    for (const a of [this.rLat, this.rLon, this.rTs, this.rSeq]) {
      into.set(a.subarray(0, n), at);
      at += n;
    }
    for (let k = 0; k < n; k++) into[at + k] = this.rId[k]!;
    at += n;
    for (let d = 0; d < L; d++) {
      into[at + d] = this.seen[d]!;
      into[at + L + d] = this.held[d]!;
    }
    at += 2 * L;
    into.set(this.heldUntil, at);
    at += L;
    const rw = this.speeds.exportTo(into, at);
    if (rw < 0) return -1;
    into[0] = n;
    into[1] = this.seq;
    into[2] = L;
    into[3] = rw / 2;
    return at + rw;
  }

  restore(from: Float64Array, _words: number): void {
    const n = from[0]!, L = from[2]!;
    let cap = 1024;
    while (cap < n + 1) cap *= 2;
    this.rLat = new Float64Array(cap); this.rLon = new Float64Array(cap); this.rTs = new Float64Array(cap);
    this.rSeq = new Float64Array(cap); this.rId = new Uint32Array(cap);
    let at = 4;
    for (const a of [this.rLat, this.rLon, this.rTs, this.rSeq]) {
      a.set(from.subarray(at, at + n));
      at += n;
    }
    for (let k = 0; k < n; k++) this.rId[k] = from[at + k]!;
    at += n;
    this.n = n;
    this.seq = from[1]!;
    this.seen = new Uint8Array(L); this.held = new Uint8Array(L);
    for (let d = 0; d < L; d++) {
      this.seen[d] = from[at + d]!;
      this.held[d] = from[at + L + d]!;
    }
    at += 2 * L;
    this.heldUntil = from.slice(at, at + L);
    at += L;
    this.speeds.importFrom(from, at, from[3]!);
  }

  private growRequests(): void {
    const cap = this.rLat.length * 2;
    const f = (a: Float64Array): Float64Array<ArrayBuffer> => { const b = new Float64Array(cap); b.set(a); return b; };
    this.rLat = f(this.rLat); this.rLon = f(this.rLon); this.rTs = f(this.rTs); this.rSeq = f(this.rSeq);
    const id = new Uint32Array(cap); id.set(this.rId); this.rId = id;
  }

  private growDrivers(id: number): void {
    let cap = this.seen.length;
    while (cap <= id) cap *= 2;
    const s = new Uint8Array(cap); s.set(this.seen); this.seen = s;
    const h = new Uint8Array(cap); h.set(this.held); this.held = h;
    const u = new Float64Array(cap); u.set(this.heldUntil); this.heldUntil = u;
  }
}
