/**
 * The Redis GEO index of active drivers (driver-tracking with `--redis`, seed §3 "update_spatial_index"):
 *
 *   shard: one POSITION output per driver per input batch (its latest aggregated fix)
 *     └─► coordinator (at the batch's ACK) ─► writeRecord(): into a per-driver table (typed arrays;
 *          a newer fix replaces an older one) ─► service(): the dirty drivers as one pipeline
 *          (≤ 1000 drivers per EVAL, plus an expiry sweep), at most `maxInFlight` pipelines at once
 *
 * Keys (with the optional prefix in front of each):
 *   drivers:active          GEO set (a sorted set): every active driver at its latest position
 *   drivers:<region>        GEO set per geohash-5 region, e.g. drivers:9q8yy; a driver is in the set of
 *                           the region of its latest position only (moving removes it from the old one)
 *   drivers:active:seen     sorted set: member → event time (epoch ms) of its latest position
 *   drivers:active:region   hash: member → its current region
 *
 * Expiry, 5 minutes. A GEO key is a sorted set, so Redis cannot expire one member; two mechanisms:
 *   - per member, on event time (as a Kafka Streams/Flink user expects of stream state): each flush
 *     sweeps `drivers:active:seen` for members whose latest fix is more than 5 minutes behind the
 *     newest fix written, and removes them from every key (ZRANGEBYSCORE + ZREM in one script);
 *   - per key, on wall-clock time (as the seed does with EXPIRE): every key written gets
 *     `EXPIRE 300`, refreshed on each write, so an index whose job stops disappears 5 minutes later.
 * Each update is a Lua script, so a driver moves between region sets atomically, and a position
 * older than the one stored is ignored (a replay after a restart cannot move a driver back).
 *
 * Acknowledgement: `written` counts positions handed to the sink; a pipeline carries every
 * position written before it was sent (coalesced per driver), so when its replies arrive
 * `acknowledged` becomes the `written` count at send time — the prefix property the coordinator's
 * offset commits rely on, as with the Kafka sink's delivery reports. A failed pipeline fails the
 * run (its offsets are never committed: nothing is lost).
 */
import { geohashIntToString } from "../kernels/geohash.js";
import type { OutputColumns } from "../ring/output.js";
import { RedisSinkError, type RedisClient, type RedisCommand } from "./redis-client.js";
import type { Output, Sink } from "./sink.js";

export const GEO_TTL_SECONDS = 300;
const REGION_PRECISION = 5;

const UPDATE_SCRIPT = `
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local active = p .. 'drivers:active'
local seen = p .. 'drivers:active:seen'
local where = p .. 'drivers:active:region'
local touched = {}
local n = 0
for i = 3, #ARGV, 5 do
  local m = ARGV[i]
  local ts = tonumber(ARGV[i + 3])
  local prev = redis.call('ZSCORE', seen, m)
  if (not prev) or tonumber(prev) <= ts then
    local r = ARGV[i + 4]
    local old = redis.call('HGET', where, m)
    if old and old ~= r then redis.call('ZREM', p .. 'drivers:' .. old, m) end
    redis.call('GEOADD', active, ARGV[i + 1], ARGV[i + 2], m)
    redis.call('GEOADD', p .. 'drivers:' .. r, ARGV[i + 1], ARGV[i + 2], m)
    redis.call('ZADD', seen, ts, m)
    if old ~= r then redis.call('HSET', where, m, r) end
    if not touched[r] then
      touched[r] = true
      redis.call('EXPIRE', p .. 'drivers:' .. r, ttl)
    end
    n = n + 1
  end
end
redis.call('EXPIRE', active, ttl)
redis.call('EXPIRE', seen, ttl)
redis.call('EXPIRE', where, ttl)
return n
`;

const SWEEP_SCRIPT = `
local p = ARGV[1]
local seen = p .. 'drivers:active:seen'
local where = p .. 'drivers:active:region'
local stale = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(stale) do
  redis.call('ZREM', p .. 'drivers:active', m)
  local r = redis.call('HGET', where, m)
  if r then redis.call('ZREM', p .. 'drivers:' .. r, m) end
  redis.call('HDEL', where, m)
  redis.call('ZREM', seen, m)
end
return #stale
`;

export interface RedisGeoSinkOptions {
  client: RedisClient;
  /** The member name of an interned driver id (e.g. "drv-000042"). */
  name: (id: number) => string;
  /** Prepended to every key (tests use a unique one). @default "" */
  prefix?: string;
  /** A member whose latest fix is this far behind the newest one leaves the index. @default 300000 */
  expireAfterMs?: number;
  /** Pipelines awaiting their replies at once. @default 2 */
  maxInFlight?: number;
  /** Drivers per update script. @default 1000 */
  chunk?: number;
  /** How long flush() waits for outstanding pipelines. @default 30000 */
  flushTimeoutMs?: number;
}

export class RedisGeoSink implements Sink {
  readonly wantsObjects = false;
  written = 0;
  acknowledged = 0;
  /** Pipelines sent and positions they carried (for the summary and tests). */
  pipelines = 0;
  positionsSent = 0;
  /** Members removed by the expiry sweep. */
  expired = 0;
  private lat = new Float64Array(1024);
  private lon = new Float64Array(1024);
  private ts = new Float64Array(1024).fill(-Infinity);
  private region = new Uint32Array(1024);
  private isDirty = new Uint8Array(1024);
  private dirty = new Uint32Array(1024);
  private dirtyCount = 0;
  private newestTs = -Infinity;
  private inFlight = 0;
  private membersInFlight = 0;
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly names: string[] = [];
  private readonly regionNames = new Map<number, string>();
  private readonly prefix: string;
  private readonly expireAfterMs: number;
  private readonly maxInFlight: number;
  private readonly chunk: number;

  constructor(private readonly options: RedisGeoSinkOptions) {
    this.prefix = options.prefix ?? "";
    this.expireAfterMs = options.expireAfterMs ?? GEO_TTL_SECONDS * 1000;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.chunk = options.chunk ?? 1000;
  }

  /**
   * The Redis backlog: drivers waiting for a pipeline plus drivers in pipelines not yet answered
   * (not written − acknowledged: positions coalesce per driver, so the backlog is bounded by the
   * number of drivers and a fast engine need not slow down to Redis' pace; the index then lags by
   * a pipeline or two).
   */
  get pending(): number {
    return this.dirtyCount + this.membersInFlight;
  }

  write(_output: Output): void {}

  /** A POSITION output: key = driver id, a/b/c = lat/lon/ts, code = geohash-5 region. */
  writeRecord(out: OutputColumns, i: number): void {
    const d = out.key[i]!;
    if (d >= this.ts.length) this.grow(d);
    const t = out.c[i]!;
    if (!(t < this.ts[d]!)) {
      this.lat[d] = out.a[i]!;
      this.lon[d] = out.b[i]!;
      this.ts[d] = t;
      this.region[d] = out.code[i]!;
      if (t > this.newestTs) this.newestTs = t;
    }
    if (this.isDirty[d] === 0) {
      this.isDirty[d] = 1;
      this.dirty[this.dirtyCount++] = d;
    }
    this.written++;
  }

  /** Sends the dirty drivers as one pipeline when fewer than maxInFlight are outstanding. */
  service(): void {
    if (this.failure) throw this.failure;
    if (this.dirtyCount === 0) {
      // Nothing buffered: writes since the last pipeline were all superseded by what it carries.
      if (this.inFlight === 0) this.acknowledged = this.written;
      return;
    }
    if (this.inFlight >= this.maxInFlight) return;
    const upTo = this.written;
    const commands: RedisCommand[] = [];
    let args: Array<string | number> = [];
    const start = (): Array<string | number> => ["EVAL", UPDATE_SCRIPT, 0, this.prefix, GEO_TTL_SECONDS];
    args = start();
    let inChunk = 0;
    for (let k = 0; k < this.dirtyCount; k++) {
      const d = this.dirty[k]!;
      this.isDirty[d] = 0;
      args.push(this.member(d), this.lon[d]!, this.lat[d]!, this.ts[d]!, this.regionName(this.region[d]!));
      if (++inChunk === this.chunk) {
        commands.push(args);
        args = start();
        inChunk = 0;
      }
    }
    if (inChunk > 0) commands.push(args);
    this.positionsSent += this.dirtyCount;
    const members = this.dirtyCount;
    this.membersInFlight += members;
    this.dirtyCount = 0;
    commands.push(["EVAL", SWEEP_SCRIPT, 0, this.prefix, this.newestTs - this.expireAfterMs, 10_000]);
    this.inFlight++;
    this.pipelines++;
    // Pipelines on one connection are answered in order; `sending` keeps the ack order explicit.
    const sent = this.options.client.pipeline(commands);
    this.sending = this.sending.then(() => sent).then(
      (replies) => {
        this.expired += Number(replies[replies.length - 1]) || 0;
        if (upTo > this.acknowledged) this.acknowledged = upTo;
      },
      (err: unknown) => {
        this.failure ??= err instanceof RedisSinkError ? err : new RedisSinkError(`Redis GEO update failed: ${(err as Error).message}`, { cause: err });
      },
    ).finally(() => {
      this.inFlight--;
      this.membersInFlight -= members;
    });
  }

  async flush(): Promise<void> {
    const limit = this.options.flushTimeoutMs ?? 30_000;
    const deadline = Date.now() + limit;
    while (this.acknowledged < this.written || this.inFlight > 0) {
      this.service();
      if (Date.now() > deadline) throw new RedisSinkError(`${this.written - this.acknowledged} positions were not acknowledged by Redis within ${limit} ms`);
      await Promise.race([this.sending, new Promise((r) => setTimeout(r, 5))]);
    }
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.options.client.quit();
    }
  }

  private member(d: number): string {
    let s = this.names[d];
    if (s === undefined) {
      s = this.options.name(d);
      this.names[d] = s;
    }
    return s;
  }

  private regionName(code: number): string {
    let s = this.regionNames.get(code);
    if (s === undefined) {
      s = geohashIntToString(code, REGION_PRECISION);
      this.regionNames.set(code, s);
    }
    return s;
  }

  private grow(id: number): void {
    let cap = this.ts.length;
    while (cap <= id) cap *= 2;
    const f = (a: Float64Array, fill = 0): Float64Array<ArrayBuffer> => { const b = new Float64Array(cap).fill(fill); b.set(a); return b; };
    this.lat = f(this.lat);
    this.lon = f(this.lon);
    this.ts = f(this.ts, -Infinity);
    const r = new Uint32Array(cap); r.set(this.region); this.region = r;
    const x = new Uint8Array(cap); x.set(this.isDirty); this.isDirty = x;
    const l = new Uint32Array(cap); l.set(this.dirty); this.dirty = l;
  }
}
