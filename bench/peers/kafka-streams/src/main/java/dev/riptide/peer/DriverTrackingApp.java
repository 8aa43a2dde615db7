package dev.riptide.peer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowBytesStoreSupplier;

/**
 * Riptide's driver-tracking job as a Kafka Streams application, the peer of `npm run bench:peers`.
 *
 * <pre>
 *  input topic (JSON per message, keyed by driver)
 *    └─ FixProcessor, per input partition (task): decode, validate, stream time, anomaly (per-driver
 *       store), late check against the partition's stream time, geohash-5
 *         ├─ invalid / anomaly / late ──────────────────────────────► O.invalid | O.anomaly | O.late
 *         ├─ undecodable ───────────────────────────────────────────► O.dlq
 *         └─ (region, speed µkm/h) + stream-time ticks (multicast to every partition)
 *              └─ repartition by region ─ groupByKey ─ windowedBy(60 s, grace 10 s) ─ aggregate
 *                   ─ suppress(untilWindowCloses) ─ drop tick windows ──────────────────► O
 * </pre>
 *
 * Ticks: Kafka Streams' window and suppress processors advance on the timestamps they see, so a
 * repartition partition that receives few regions would hold its windows open; each task therefore
 * multicasts its stream time every 10 s of event time, and once the whole input has been idle for
 * --stop-when-idle it multicasts a final tick past every window (Riptide flushes at end of input
 * the same way). Tick windows never leave the app.
 *
 * Usage: DriverTrackingApp --brokers B --input-topic T --output-topic O --application-id A
 *        [--threads N] [--state rocksdb|memory] [--stop-when-idle S] [--commit-interval-ms MS]
 * Ends (with --stop-when-idle) by printing one JSON summary line on stdout.
 */
public final class DriverTrackingApp {
  static final String TICK = "";
  static final String DRIVER_STORE = "drivers";

  // Run-wide bookkeeping shared by the stream threads (read by the main thread's idle loop).
  static final LongAdder events = new LongAdder();
  /** Fixes sent to the window stage, and the counts of the windows that came out of it. */
  static final LongAdder fixesAccepted = new LongAdder();
  static final LongAdder fixesInWindows = new LongAdder();
  static final AtomicLong firstRecordAt = new AtomicLong(0);
  static volatile long lastRecordAt = 0;
  static volatile long lastOutputAt = 0;
  static volatile boolean flushRequested = false;
  static volatile long runningSince = 0;
  static final AtomicLong maxStreamTime = new AtomicLong(Long.MIN_VALUE);
  static final Map<String, LongAdder> outputs = new HashMap<>();

  static {
    for (String k : new String[] {"window", "invalid", "anomaly", "late", "dlq"}) outputs.put(k, new LongAdder());
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> o = parseArgs(args);
    String brokers = required(o, "brokers");
    String input = required(o, "input-topic");
    String output = required(o, "output-topic");
    String appId = required(o, "application-id");
    int threads = Integer.parseInt(o.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
    String state = o.getOrDefault("state", "rocksdb");
    if (!state.equals("rocksdb") && !state.equals("memory")) usage("--state must be rocksdb or memory, got " + state);
    double idleSeconds = Double.parseDouble(o.getOrDefault("stop-when-idle", "0"));
    long commitMs = Long.parseLong(o.getOrDefault("commit-interval-ms", "1000"));

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
    p.put(StreamsConfig.STATE_DIR_CONFIG, o.getOrDefault("state-dir", System.getProperty("java.io.tmpdir") + "/riptide-peer-" + appId));
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);

    KafkaStreams streams = new KafkaStreams(topology(input, output, state.equals("memory")), p);
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("peer: stream thread failed: " + e);
      e.printStackTrace();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(30))));
    // The idle clock starts (and restarts after a rebalance) when the instance is RUNNING, as
    // Riptide's --stop-when-idle counts from the first assignment.
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        runningSince = System.currentTimeMillis();
        System.err.println("peer: running");
      }
    });
    streams.start();
    if (idleSeconds <= 0) {
      Thread.currentThread().join();
      return;
    }
    long idleMs = (long) (idleSeconds * 1000);
    long flushAt = 0;
    for (;;) {
      Thread.sleep(50);
      KafkaStreams.State st = streams.state();
      if (st == KafkaStreams.State.ERROR || st == KafkaStreams.State.PENDING_ERROR || st == KafkaStreams.State.NOT_RUNNING) {
        System.err.println("peer: streams state " + st);
        System.exit(1);
      }
      long now = System.currentTimeMillis();
      long since = Math.max(lastRecordAt, runningSince);
      if (!flushRequested) {
        if (st == KafkaStreams.State.RUNNING && runningSince > 0 && now - since >= idleMs) {
          flushRequested = true; // the tasks' wall-clock punctuators send the final ticks
          flushAt = now;
          if (events.sum() == 0) break;
        }
      } else if (now - Math.max(lastOutputAt, flushAt) >= idleMs) {
        break;
      }
    }
    long dropped = droppedRecords(streams);
    streams.close(Duration.ofSeconds(60));
    long first = firstRecordAt.get();
    long n = events.sum();
    // As Riptide's summary: first record consumed to last output, less the idle wait before the flush.
    double seconds = first > 0 ? Math.max(lastOutputAt - first - Math.max(flushAt - lastRecordAt, 0), 0) / 1000.0 : 0;
    StringBuilder sb = new StringBuilder();
    sb.append("{\"engine\":\"kafka-streams\",\"events\":").append(n)
        .append(",\"seconds\":").append(seconds)
        .append(",\"eventsPerSec\":").append(seconds > 0 ? Math.round(n / seconds) : 0)
        .append(",\"threads\":").append(threads)
        .append(",\"state\":\"").append(state).append('"')
        .append(",\"firstRecordAt\":").append(first)
        .append(",\"lastRecordAt\":").append(lastRecordAt)
        .append(",\"flushAt\":").append(flushAt)
        .append(",\"lastOutputAt\":").append(lastOutputAt)
        .append(",\"droppedRecords\":").append(fixesAccepted.sum() - fixesInWindows.sum())
        .append(",\"droppedRecordsMetric\":").append(dropped)
        .append(",\"outputs\":{");
    boolean firstKey = true;
    for (String k : new String[] {"window", "invalid", "anomaly", "late", "dlq"}) {
      if (!firstKey) sb.append(',');
      firstKey = false;
      sb.append('"').append(k).append("\":").append(outputs.get(k).sum());
    }
    sb.append("}}");
    System.out.println(sb);
    System.out.flush();
    System.exit(0);
  }

  /**
   * Kafka Streams' dropped-records-total: records its window stage refused because its task's stream
   * time had passed their window. It also counts ticks that arrive behind, so the summary's
   * droppedRecords is computed instead: fixes sent to the window stage minus the counts of the windows.
   */
  static long droppedRecords(KafkaStreams streams) {
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> e : streams.metrics().entrySet()) {
      MetricName m = e.getKey();
      if (m.name().equals("dropped-records-total") && m.group().equals("stream-task-metrics")) {
        Object v = e.getValue().metricValue();
        if (v instanceof Number num) sum += num.doubleValue();
      }
    }
    return Math.round(sum);
  }

  static org.apache.kafka.streams.Topology topology(String input, String output, boolean inMemory) {
    StreamsBuilder b = new StreamsBuilder();
    KeyValueBytesStoreSupplier driverSupplier = inMemory ? Stores.inMemoryKeyValueStore(DRIVER_STORE) : Stores.persistentKeyValueStore(DRIVER_STORE);
    StoreBuilder<KeyValueStore<String, byte[]>> driverStore = Stores.keyValueStoreBuilder(driverSupplier, Serdes.String(), Serdes.ByteArray());
    if (inMemory) driverStore = driverStore.withLoggingDisabled();
    b.addStateStore(driverStore);

    KStream<String, Routed> routed = b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(FixProcessor::new, DRIVER_STORE);

    // Side outputs and dead letters: JSON bytes, keyed by driver (null when driverId is not a string).
    for (int kind : new int[] {Routed.INVALID, Routed.ANOMALY, Routed.LATE, Routed.DLQ}) {
      String name = Routed.NAMES[kind];
      routed.filter((k, v) -> v.kind == kind)
          .peek((k, v) -> { outputs.get(name).increment(); lastOutputAt = System.currentTimeMillis(); })
          .mapValues(v -> v.json)
          .to(output + "." + name, Produced.with(Serdes.String(), Serdes.ByteArray()));
    }

    TimeWindows windows = TimeWindows.ofSizeAndGrace(Duration.ofMillis(DriverTracking.WINDOW_MS), Duration.ofMillis(DriverTracking.GRACE_MS));
    Materialized<String, Agg, org.apache.kafka.streams.state.WindowStore<org.apache.kafka.common.utils.Bytes, byte[]>> mat;
    if (inMemory) {
      WindowBytesStoreSupplier ws = Stores.inMemoryWindowStore("region-windows",
          Duration.ofMillis(DriverTracking.WINDOW_MS + DriverTracking.GRACE_MS), Duration.ofMillis(DriverTracking.WINDOW_MS), false);
      mat = Materialized.<String, Agg>as(ws).withKeySerde(Serdes.String()).withValueSerde(Agg.SERDE).withLoggingDisabled();
    } else {
      mat = Materialized.<String, Agg, org.apache.kafka.streams.state.WindowStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("region-windows")
          .withKeySerde(Serdes.String()).withValueSerde(Agg.SERDE);
    }
    Suppressed<? super Windowed<String>> suppress = inMemory
        ? Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded().withLoggingDisabled())
        : Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded());

    routed.filter((k, v) -> v.kind == Routed.FIX || v.kind == Routed.TICK_KIND)
        .mapValues(v -> v.speedMicro)
        .repartition(Repartitioned.<String, Long>as("regions").withKeySerde(Serdes.String()).withValueSerde(Serdes.Long())
            .withStreamPartitioner(new TickMulticast()))
        .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()))
        .windowedBy(windows)
        .aggregate(() -> Agg.EMPTY, (region, speed, agg) -> agg.add(speed), mat)
        .suppress(suppress)
        .toStream()
        .filter((wk, agg) -> !wk.key().equals(TICK))
        .peek((wk, agg) -> {
          outputs.get("window").increment();
          fixesInWindows.add(agg.count);
          lastOutputAt = System.currentTimeMillis();
        })
        .map((wk, agg) -> KeyValue.pair(wk.key(), windowJson(wk, agg)))
        .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));
    return b.build();
  }

  /** {"type":"window","key","windowStart","windowEnd","count","avgSpeedKmh"} as Riptide's renderWindow. */
  static byte[] windowJson(Windowed<String> wk, Agg agg) {
    long start = wk.window().start();
    StringBuilder sb = new StringBuilder(120);
    sb.append("{\"type\":\"window\",\"key\":\"").append(wk.key()).append("\",\"windowStart\":").append(start)
        .append(",\"windowEnd\":").append(start + DriverTracking.WINDOW_MS)
        .append(",\"count\":").append(agg.count)
        .append(",\"avgSpeedKmh\":");
    if (agg.n > 0) sb.append((double) agg.sum / agg.n / DriverTracking.SPEED_SCALE);
    else sb.append("null");
    sb.append('}');
    return sb.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** Region records go to their key's partition (Kafka's murmur2, as the default); ticks to every partition. */
  static final class TickMulticast implements StreamPartitioner<String, Long> {
    @Override
    public Optional<Set<Integer>> partitions(String topic, String key, Long value, int numPartitions) {
      if (TICK.equals(key)) {
        Set<Integer> all = new HashSet<>();
        for (int i = 0; i < numPartitions; i++) all.add(i);
        return Optional.of(all);
      }
      byte[] kb = key.getBytes(StandardCharsets.UTF_8);
      return Optional.of(Set.of(Utils.toPositive(Utils.murmur2(kb)) % numPartitions));
    }
  }

  /** Window aggregate: count, and the sum and number of speeds in micro-km/h (exact in any order). */
  static final class Agg {
    static final Agg EMPTY = new Agg(0, 0, 0);
    final long count, sum, n;

    Agg(long count, long sum, long n) { this.count = count; this.sum = sum; this.n = n; }

    Agg add(Long speed) {
      long s = speed;
      return s == Routed.NO_SPEED ? new Agg(count + 1, sum, n) : new Agg(count + 1, sum + s, n + 1);
    }

    static final Serde<Agg> SERDE = Serdes.serdeFrom(
        (Serializer<Agg>) (topic, a) -> a == null ? null : ByteBuffer.allocate(24).putLong(a.count).putLong(a.sum).putLong(a.n).array(),
        (Deserializer<Agg>) (topic, bytes) -> {
          if (bytes == null) return null;
          ByteBuffer bb = ByteBuffer.wrap(bytes);
          return new Agg(bb.getLong(), bb.getLong(), bb.getLong());
        });
  }

  static Map<String, String> parseArgs(String[] args) {
    Map<String, String> o = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) usage("bad argument " + a);
      o.put(a.substring(2), args[++i]);
    }
    return o;
  }

  static String required(Map<String, String> o, String k) {
    String v = o.get(k);
    if (v == null || v.isEmpty()) usage("--" + k + " is required");
    return v;
  }

  static void usage(String msg) {
    System.err.println("peer: " + msg + "\nusage: DriverTrackingApp --brokers B --input-topic T --output-topic O --application-id A"
        + " [--threads N] [--state rocksdb|memory] [--stop-when-idle S] [--commit-interval-ms MS]");
    System.exit(2);
  }
}
