package dev.riptide.peer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The per-input-partition stage (one instance per task = per input partition), in arrival order:
 * decode → validate → stream time → anomaly (per-driver `last` in a state store) → late → region.
 *
 * Stream time is the largest ts among this partition's valid fixes (DESIGN.md), and the late check
 * compares against it: Kafka Streams has no cross-partition watermark, so where Riptide uses the
 * minimum over partitions this uses the partition's own time (see bench/peers/README.md).
 */
final class FixProcessor implements Processor<String, byte[], String, Routed> {
  private static final JsonFactory JSON = new JsonFactory();
  private static final int FRAME_MAGIC = 0x31465452;
  private static final long TICK_EVERY_MS = 10_000;

  private ProcessorContext<String, Routed> ctx;
  private KeyValueStore<String, byte[]> drivers;
  private double streamTime = Double.NEGATIVE_INFINITY;
  private long lastTickBucket = Long.MIN_VALUE;
  private boolean flushed = false;

  @Override
  public void init(ProcessorContext<String, Routed> context) {
    this.ctx = context;
    this.drivers = context.getStateStore(DriverTrackingApp.DRIVER_STORE);
    context.schedule(Duration.ofMillis(100), PunctuationType.WALL_CLOCK_TIME, now -> {
      if (!DriverTrackingApp.flushRequested || flushed) return;
      flushed = true;
      // Past every window any partition has: end of input closes them all, as Riptide's final flush.
      long st = Math.max(DriverTrackingApp.maxStreamTime.get(), Double.isFinite(streamTime) ? (long) streamTime : 0);
      ctx.forward(new Record<>(DriverTrackingApp.TICK, Routed.TICK, st + 2 * DriverTracking.WINDOW_MS + DriverTracking.GRACE_MS));
    });
  }

  @Override
  public void process(Record<String, byte[]> record) {
    long now = System.currentTimeMillis();
    DriverTrackingApp.events.increment();
    if (DriverTrackingApp.firstRecordAt.get() == 0) DriverTrackingApp.firstRecordAt.compareAndSet(0, now);
    DriverTrackingApp.lastRecordAt = now;

    byte[] raw = record.value();
    if (raw == null || raw.length == 0) { dlq(record, "empty message"); return; }
    if (raw.length >= 4 && ByteBuffer.wrap(raw, 0, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() == FRAME_MAGIC) {
      dlq(record, "Riptide frames are not decoded by the Kafka Streams peer");
      return;
    }
    // Decode the five fields as Riptide's JSON decoder does: a non-number is NaN, a driverId that is
    // not a non-empty string is "no id"; a value that is not an object counts as {}.
    String driverId = null;
    boolean idIsString = false;
    double lat = Double.NaN, lon = Double.NaN, ts = Double.NaN, speed = Double.NaN;
    try (JsonParser jp = JSON.createParser(raw)) {
      JsonToken t = jp.nextToken();
      if (t == JsonToken.START_OBJECT) {
        while ((t = jp.nextToken()) == JsonToken.FIELD_NAME) {
          String name = jp.currentName();
          JsonToken v = jp.nextToken();
          switch (name) {
            case "driverId" -> {
              idIsString = v == JsonToken.VALUE_STRING;
              driverId = idIsString ? jp.getText() : null;
            }
            case "lat" -> lat = number(jp, v);
            case "lon" -> lon = number(jp, v);
            case "ts" -> ts = number(jp, v);
            case "speedKmh" -> speed = number(jp, v);
            default -> { }
          }
          jp.skipChildren(); // a nested value of any field (a no-op on scalars)
        }
      } else if (t == JsonToken.START_ARRAY) {
        jp.skipChildren();
      }
      if (jp.nextToken() != null) throw new java.io.IOException("unexpected data after the JSON value");
    } catch (java.io.IOException e) {
      dlq(record, "not valid JSON or a Riptide frame: " + e.getMessage().split("\n")[0]);
      return;
    }
    String key = idIsString ? driverId : null;
    boolean hasId = idIsString && !driverId.isEmpty();
    int reason = DriverTracking.fixReason(hasId, lat, lon, ts);
    if (reason != 0) {
      side(Routed.INVALID, key, DriverTracking.FIX_REASONS[reason], raw, record.timestamp());
      return;
    }
    if (ts > streamTime) {
      streamTime = ts;
      long st = (long) ts;
      if (st > DriverTrackingApp.maxStreamTime.get()) DriverTrackingApp.maxStreamTime.accumulateAndGet(st, Math::max);
      long bucket = Math.floorDiv(st, TICK_EVERY_MS);
      if (bucket != lastTickBucket) {
        lastTickBucket = bucket;
        ctx.forward(new Record<>(DriverTrackingApp.TICK, Routed.TICK, st));
      }
    }
    byte[] last = drivers.get(driverId);
    double lastLat = Double.NaN, lastLon = Double.NaN, lastTs = Double.NaN;
    if (last != null) {
      ByteBuffer bb = ByteBuffer.wrap(last);
      lastLat = bb.getDouble();
      lastLon = bb.getDouble();
      lastTs = bb.getDouble();
    }
    if (ts > lastTs) {
      double kmh = DriverTracking.speedKmh(lastLat, lastLon, lastTs, lat, lon, ts);
      if (kmh > DriverTracking.MAX_SPEED_KMH) {
        side(Routed.ANOMALY, key, DriverTracking.anomalyReason(kmh, lastTs), raw, record.timestamp());
        return;
      }
    }
    double start = DriverTracking.windowStart(ts);
    if (start + DriverTracking.WINDOW_MS + DriverTracking.GRACE_MS <= streamTime) {
      side(Routed.LATE, key, DriverTracking.lateReason(start, streamTime, ts), raw, record.timestamp());
      return;
    }
    long micro = speed - speed == 0 ? DriverTracking.speedMicro(speed) : Routed.NO_SPEED;
    String region = DriverTracking.geohash(lat, lon, DriverTracking.REGION_PRECISION);
    DriverTrackingApp.fixesAccepted.increment();
    ctx.forward(new Record<>(region, new Routed(Routed.FIX, micro, null), (long) Math.floor(ts)));
    if (!(lastTs >= ts)) {
      drivers.put(driverId, ByteBuffer.allocate(24).putDouble(lat).putDouble(lon).putDouble(ts).array());
    }
  }

  private static double number(JsonParser jp, JsonToken v) throws java.io.IOException {
    return v == JsonToken.VALUE_NUMBER_INT || v == JsonToken.VALUE_NUMBER_FLOAT ? jp.getDoubleValue() : Double.NaN;
  }

  private void side(int kind, String key, String reason, byte[] raw, long timestamp) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length + reason.length() + 48);
    out.writeBytes(("{\"type\":\"" + Routed.NAMES[kind] + "\",\"reason\":\"" + reason + "\",\"event\":").getBytes(StandardCharsets.UTF_8));
    out.writeBytes(raw);
    out.write('}');
    ctx.forward(new Record<>(key, new Routed(kind, Routed.NO_SPEED, out.toByteArray()), timestamp));
  }

  private void dlq(Record<String, byte[]> record, String error) {
    ctx.forward(new Record<>(record.key(), new Routed(Routed.DLQ, Routed.NO_SPEED, record.value() == null ? new byte[0] : record.value()),
        record.timestamp(), record.headers().add("riptide.error", error.getBytes(StandardCharsets.UTF_8))));
  }
}
