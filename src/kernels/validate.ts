/**
 * Validation of location fixes and the stream time / watermark that valid fixes advance.
 *
 * Runs where data enters (the coordinator, right after a batch is decoded into its ring slot), so
 * the watermark of every record is fixed in source order and results never depend on how many
 * workers there are. Writes a reason code per record (0 = valid) and the watermark after it.
 */

export const FIX_VALID = 0;
export const FIX_NO_ID = 1;
export const FIX_LAT_NOT_FINITE = 2;
export const FIX_LON_NOT_FINITE = 3;
export const FIX_TS_NOT_FINITE = 4;
export const FIX_LAT_RANGE = 5;
export const FIX_LON_RANGE = 6;
export const FIX_NULL_ISLAND = 7;

/** Reason text per code, as it appears in the `invalid` output. */
export const FIX_REASONS: readonly string[] = [
  "",
  "driverId must be a non-empty string",
  "lat must be a finite number",
  "lon must be a finite number",
  "ts must be a finite number",
  "lat must be within [-90, 90]",
  "lon must be within [-180, 180]",
  "lat and lon are both 0",
];

/** The reason code of one fix (0 when valid). `id` 0 means the string id was missing or empty. */
export function fixReason(id: number, lat: number, lon: number, ts: number): number {
  if (id === 0) return FIX_NO_ID;
  if (!(lat - lat === 0)) return FIX_LAT_NOT_FINITE; // NaN and ±Infinity give NaN
  if (!(lon - lon === 0)) return FIX_LON_NOT_FINITE;
  if (!(ts - ts === 0)) return FIX_TS_NOT_FINITE;
  if (lat < -90 || lat > 90) return FIX_LAT_RANGE;
  if (lon < -180 || lon > 180) return FIX_LON_RANGE;
  if (lat === 0 && lon === 0) return FIX_NULL_ISLAND;
  return FIX_VALID;
}

/**
 * Validates `n` fixes and writes, per record, its reason code and the watermark after it.
 *
 * Stream time of the partition becomes max(streamTime, ts) over valid fixes; the watermark is
 * min(stream time of this partition, `otherMin`), where `otherMin` is the smallest stream time of
 * the other partitions feeding the job (Infinity when there are none). Returns the partition's new
 * stream time.
 */
export function validateFixes(
  id: Uint32Array, lat: Float64Array, lon: Float64Array, ts: Float64Array, n: number,
  streamTime: number, otherMin: number, outReason: Uint8Array, outWatermark: Float64Array,
): number {
  // Numbers from here on (+): a parameter may be anything to the optimizing compiler, and a stream
  // time joined with it would stay a tagged value, boxing each new ts (a heap number per event).
  let st = +streamTime;
  const other = +otherMin;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    const r = fixReason(id[i]!, lat[i]!, lon[i]!, t);
    outReason[i] = r;
    if (r === 0 && t > st) st = t;
    outWatermark[i] = st < other ? st : other;
  }
  return st;
}
