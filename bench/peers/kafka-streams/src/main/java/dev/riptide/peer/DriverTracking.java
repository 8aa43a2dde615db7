package dev.riptide.peer;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The per-record rules of Riptide's driver-tracking job (DESIGN.md "The main job"), written to give
 * the same answers bit for bit as Riptide's kernels: src/kernels/validate.ts (reasons and their
 * order), src/kernels/geo.ts (haversine with R = 6371.0088 km; StrictMath is fdlibm, as V8's
 * Math.sin/cos/asin are), ngeohash's encode (the bisection, which Riptide's integer kernel matches
 * bit for bit), and src/pipelines/driver-tracking/edge.ts (the JSON text of every output).
 */
final class DriverTracking {
  private DriverTracking() {}

  static final long WINDOW_MS = 60_000;
  static final long GRACE_MS = 10_000;
  static final double MAX_SPEED_KMH = 250;
  static final int REGION_PRECISION = 5;
  /** Speeds are summed in micro-km/h integers, as Riptide does (exact in any order). */
  static final double SPEED_SCALE = 1e6;

  static final double EARTH_RADIUS_KM = 6371.0088;
  private static final double DIAMETER_KM = 2 * EARTH_RADIUS_KM;
  private static final double DEG_TO_RAD = Math.PI / 180;
  private static final double HALF_DEG_TO_RAD = DEG_TO_RAD / 2;
  private static final double MS_PER_HOUR = 3_600_000;

  /** Reason texts, index = Riptide's FIX_* code (src/kernels/validate.ts). */
  static final String[] FIX_REASONS = {
    "",
    "driverId must be a non-empty string",
    "lat must be a finite number",
    "lon must be a finite number",
    "ts must be a finite number",
    "lat must be within [-90, 90]",
    "lon must be within [-180, 180]",
    "lat and lon are both 0",
  };

  /** Riptide's fixReason: 0 when valid. {@code hasId} = driverId is a non-empty string. */
  static int fixReason(boolean hasId, double lat, double lon, double ts) {
    if (!hasId) return 1;
    if (!Double.isFinite(lat)) return 2;
    if (!Double.isFinite(lon)) return 3;
    if (!Double.isFinite(ts)) return 4;
    if (lat < -90 || lat > 90) return 5;
    if (lon < -180 || lon > 180) return 6;
    if (lat == 0 && lon == 0) return 7;
    return 0;
  }

  /** src/kernels/geo.ts haversineKm, operation for operation. */
  static double haversineKm(double lat1, double lon1, double lat2, double lon2) {
    double sinHalfDLat = StrictMath.sin((lat2 - lat1) * HALF_DEG_TO_RAD);
    double sinHalfDLon = StrictMath.sin((lon2 - lon1) * HALF_DEG_TO_RAD);
    double a = sinHalfDLat * sinHalfDLat
        + StrictMath.cos(lat1 * DEG_TO_RAD) * StrictMath.cos(lat2 * DEG_TO_RAD) * sinHalfDLon * sinHalfDLon;
    return DIAMETER_KM * StrictMath.asin(Math.min(1, StrictMath.sqrt(a)));
  }

  /** km/h between two fixes (Riptide's anomaly figure). */
  static double speedKmh(double lat1, double lon1, double ts1, double lat2, double lon2, double ts2) {
    return haversineKm(lat1, lon1, lat2, lon2) / ((ts2 - ts1) / MS_PER_HOUR);
  }

  private static final char[] BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz".toCharArray();

  /** ngeohash.encode(lat, lon, precision), the same bisection in the same doubles. */
  static String geohash(double latitude, double longitude, int precision) {
    char[] chars = new char[precision];
    int n = 0, bits = 0, bitsTotal = 0, value = 0;
    double maxLat = 90, minLat = -90, maxLon = 180, minLon = -180, mid;
    while (n < precision) {
      if (bitsTotal % 2 == 0) {
        mid = (maxLon + minLon) / 2;
        if (longitude > mid) { value = (value << 1) + 1; minLon = mid; } else { value = value << 1; maxLon = mid; }
      } else {
        mid = (maxLat + minLat) / 2;
        if (latitude > mid) { value = (value << 1) + 1; minLat = mid; } else { value = value << 1; maxLat = mid; }
      }
      bits++;
      bitsTotal++;
      if (bits == 5) {
        chars[n++] = BASE32[value];
        bits = 0;
        value = 0;
      }
    }
    return new String(chars);
  }

  /** The window start of a timestamp: Math.floor(t / size) * size, in doubles as Riptide computes it. */
  static double windowStart(double t) {
    return Math.floor(t / WINDOW_MS) * WINDOW_MS;
  }

  /** JS Math.round(sp * 1e6) for a finite speed (floor(x + 0.5), as Java's Math.round). */
  static long speedMicro(double sp) {
    return Math.round(sp * SPEED_SCALE);
  }

  /** A number as JavaScript's String(x) prints it, for the integral values Riptide's reasons carry. */
  static String jsNumber(double x) {
    if (x == Math.rint(x) && Math.abs(x) < 1e18) return Long.toString((long) x);
    if (Double.isNaN(x)) return "NaN";
    if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
    return Double.toString(x); // non-integral: JS may print fewer digits (documented in README)
  }

  /** JavaScript's x.toFixed(1): the exact value, ties away from zero (HALF_UP). */
  static String toFixed1(double x) {
    if (!Double.isFinite(x) || Math.abs(x) >= 1e21) return jsNumber(x);
    return new BigDecimal(x).setScale(1, RoundingMode.HALF_UP).toPlainString();
  }

  static String anomalyReason(double kmh, double lastTs) {
    return toFixed1(kmh) + " km/h since the driver's last fix at " + jsNumber(lastTs) + " exceeds " + jsNumber(MAX_SPEED_KMH) + " km/h";
  }

  static String lateReason(double start, double watermark, double ts) {
    return "window [" + jsNumber(start) + ", " + jsNumber(start + WINDOW_MS) + ") closed at watermark " + jsNumber(watermark)
        + " (end + " + GRACE_MS + " ms grace); the fix is " + jsNumber(watermark - ts) + " ms behind the watermark";
  }
}
