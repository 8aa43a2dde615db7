/**
 * riptide loadgen: the embedded generator's traffic into a Kafka topic at a target rate, as JSON
 * (one event per message) or Riptide frames (many events per message). Generator partition p goes
 * to topic partition p, keyed by driver id, so a driver's fixes stay in order.
 */
import { performance } from "node:perf_hooks";
import { FrameEncoder } from "../io/frame.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { DRIVER_LOCATION } from "../pipelines/driver-tracking/spec.js";
import type { ColumnArray } from "../schema/schema.js";
import { DriverGenerator, type DriverColumns } from "../sources/driver-generator.js";
import { numberOption, parse, UsageError, type OptionSpec } from "./args.js";
import { ensureTopic } from "./kafka.js";
import { drain, produceWithBackoff, StagedRecords, tryProduce } from "./loadgen-produce.js";
import { getDslPipeline } from "../pipelines/topologies/index.js";

const HELP = `riptide loadgen — produce driver-location traffic into Kafka

  riptide loadgen --brokers LIST --topic T --rate N (--events N | --duration S) [options]

  --brokers LIST      bootstrap brokers (e.g. 127.0.0.1:9092)
  --topic T           topic to produce to (created with --partitions when missing)
  --rate N            target events per second
  --events N          stop after N events
  --duration S        stop after S seconds
  --format F          json (one event per message, default) | frame (packed binary, many per message)
  --frame-size N      events per frame message (default 1000)
  --partitions P      partitions when the topic is created (default 4)
  --seed N            generator seed (default 42); --drivers N (default 10000)
  --kind K            locations (default: driver locations into --topic) | rides (driver locations
                      and ride requests, --topic LOCATIONS,REQUESTS, JSON; the stream of
                      \`riptide run surge-pricing\`, ids consistent across the two topics) |
                      payments (payment events into --topic, JSON keyed by userId; --drivers N
                      is the user count, default 2000; the stream of \`riptide run payments\`) |
                      messages (chat messages and presence, --topic MESSAGES[,PRESENCE], JSON keyed
                      by chatId / userId; the stream of \`riptide run message-delivery\`, with the
                      membership table it checks: no --seed or --drivers)
  --kind engagement   views and the content catalog, --topic VIEWS,METADATA[,INTERACTIONS] (JSON;
                      the catalog first, keyed by contentId, into a compacted topic; views, and
                      with a third topic user interactions, keyed by userId;
                      --drivers N is the user count, default 2000; the stream of
                      \`riptide run engagement-analytics\`)
  --kind <DSL pipeline>
                      the input topics of a DSL pipeline (riptide pipelines: ride-matching,
                      message-enrichment, payments-dsl, content-views, chat-sessions), keyed as the
                      topology reads them, names from the topology with --topic-prefix P in front
                      (no --topic); the stream \`riptide run <kind>\` generates in-process for the
                      same --seed/--drivers
  --kafka-config K=V,…  librdkafka properties of the producer (see riptide run --help); the
                      producer lingers 1 ms for frames, 5 ms for JSON (linger.ms=N to change it)
  --json              end with one JSON summary line on stdout
  --quiet             no progress bar
`;

const OPTIONS: OptionSpec = {
  brokers: { type: "string" }, topic: { type: "string" }, rate: { type: "string" }, events: { type: "string" },
  duration: { type: "string" }, format: { type: "string" }, "frame-size": { type: "string" }, partitions: { type: "string" },
  seed: { type: "string" }, drivers: { type: "string" }, json: { type: "boolean" }, quiet: { type: "boolean" },
  kind: { type: "string" }, "topic-prefix": { type: "string" }, "kafka-config": { type: "string" },
  help: { type: "boolean", short: "h" },
};

export async function loadgenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values["help"]) { process.stdout.write(HELP); return 0; }
  if (positionals.length > 0) throw new UsageError(`loadgen takes no positional arguments, got ${positionals.join(" ")}`);
  const brokers = values["brokers"] as string | undefined;
  const topic = values["topic"] as string | undefined;
  if (!brokers) throw new UsageError("loadgen needs --brokers");
  if (values["kafka-config"] !== undefined) (await import("./kafka-config.js")).applyKafkaConfig(values["kafka-config"]);
  const dsl = getDslPipeline((values["kind"] as string | undefined) ?? "");
  if (dsl) return (await import("./loadgen-dsl.js")).dslLoadgen(dsl, brokers, values);
  if (values["topic-prefix"] !== undefined) throw new UsageError("--topic-prefix applies to --kind <DSL pipeline> only");
  if (!topic) throw new UsageError("loadgen needs --topic");
  const rate = numberOption(values, "rate", { min: 1 });
  if (rate === undefined) throw new UsageError("loadgen needs --rate N (events per second)");
  const events = numberOption(values, "events", { integer: true, min: 1 });
  const duration = numberOption(values, "duration", { min: 0.001 });
  if ((events === undefined) === (duration === undefined)) throw new UsageError("loadgen needs exactly one of --events N or --duration S");
  const format = (values["format"] as string | undefined) ?? "json";
  if (format !== "json" && format !== "frame") throw new UsageError(`--format must be json or frame, got ${JSON.stringify(format)}`);
  const frameSize = numberOption(values, "frame-size", { integer: true, min: 1, max: 100_000 }) ?? 1000;
  const partitionsWanted = numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }) ?? 4;
  const seed = numberOption(values, "seed", { integer: true, min: 0 }) ?? 42;
  const drivers = numberOption(values, "drivers", { integer: true, min: 1 }) ?? 10_000;
  const quiet = values["quiet"] === true;
  const kind = (values["kind"] as string | undefined) ?? "locations";
  if (kind === "engagement") {
    const topics = topic.split(",");
    if (topics.length < 2 || topics.length > 3 || topics.some((t) => t === "")) throw new UsageError("--kind engagement needs --topic VIEWS,METADATA (two topics) or VIEWS,METADATA,INTERACTIONS");
    if (format !== "json") throw new UsageError("--kind engagement produces JSON only (--format json)");
    const { engagementLoadgen } = await import("./loadgen-engagement.js");
    return engagementLoadgen({
      brokers, viewsTopic: topics[0]!, metadataTopic: topics[1]!, interactionsTopic: topics[2], rate, events, duration, partitions: partitionsWanted, seed,
      users: values["drivers"] !== undefined ? drivers : undefined, json: values["json"] === true, quiet,
    });
  }
  if (kind !== "locations" && kind !== "rides" && kind !== "payments" && kind !== "messages") throw new UsageError(`--kind must be locations, rides or payments (also: engagement, messages), got ${JSON.stringify(kind)}`);
  if (kind === "messages") {
    const topics = topic.split(",");
    if (topics.length > 2 || topics.some((t) => t === "")) throw new UsageError("--kind messages needs --topic MESSAGES or MESSAGES,PRESENCE");
    if (format !== "json") throw new UsageError("--kind messages produces JSON only (--format json)");
    for (const g of ["seed", "drivers"]) if (values[g] !== undefined) throw new UsageError(`--${g} cannot be combined with --kind messages (the run checks the default membership table)`);
    const { messageLoadgen } = await import("./loadgen-messages.js");
    return messageLoadgen({
      brokers, messagesTopic: topics[0]!, presenceTopic: topics[1], rate, events, duration, partitions: partitionsWanted,
      json: values["json"] === true, quiet,
    });
  }
  if (kind === "payments") {
    if (topic.includes(",")) throw new UsageError("--kind payments produces to one topic (--topic payment-events)");
    if (format !== "json") throw new UsageError("--kind payments produces JSON only (--format json)");
    const { paymentLoadgen } = await import("./loadgen-payments.js");
    return paymentLoadgen({
      brokers, topic, rate, events, duration, partitions: partitionsWanted, seed,
      users: values["drivers"] !== undefined ? drivers : undefined, json: values["json"] === true, quiet,
    });
  }
  if (kind === "rides") {
    const topics = topic.split(",");
    if (topics.length !== 2 || topics.some((t) => t === "")) throw new UsageError("--kind rides needs --topic LOCATIONS,REQUESTS (two topics)");
    if (format !== "json") throw new UsageError("--kind rides produces JSON only (--format json)");
    const { rideLoadgen } = await import("./loadgen-rides.js");
    return rideLoadgen({
      brokers, locationsTopic: topics[0]!, requestsTopic: topics[1]!, rate, events, duration, partitions: partitionsWanted,
      seed, drivers, json: values["json"] === true, quiet,
    });
  }

  const admin = rdkafkaClientFactory.createAdmin({ brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, topic, partitionsWanted);
  await admin.disconnect();

  let errors = 0;
  // Only failures are reported (no callback per message): the generator shares the CPU with what
  // it feeds, e.g. in the latency benchmark.
  // A frame is a batch already (1000 events, ~48 KB): lingering 5 ms more for the client's batch
  // adds ~4 ms to every record's latency (its Kafka timestamp is taken at produce()) and saves
  // nothing measurable; JSON messages keep librdkafka's 5 ms, which packs them (1 ms cost JSON
  // CPU and tail at 250 k/s here: bench/RESULTS.md, "the producer's linger").
  const producer = rdkafkaClientFactory.createProducer({ brokers, lingerMs: format === "frame" ? 1 : 5, maxQueuedMessages: 1_000_000, deliveryReports: "errors" });
  producer.onDelivery((err) => { if (err) errors++; });
  await producer.connect();

  const gen = new DriverGenerator({ seed, drivers, partitions });
  const name = (id: number): string => gen.driverName(id);
  const batch = format === "frame" ? frameSize : 256;
  const cols: DriverColumns = {
    driver: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch),
    ts: new Float64Array(batch), speed: new Float64Array(batch),
  };
  const frameCols: Record<string, ColumnArray> = { driverId: cols.driver, lat: cols.lat, lon: cols.lon, ts: cols.ts, speedKmh: cols.speed };
  const frames = new FrameEncoder(DRIVER_LOCATION, name);
  const staged = new StagedRecords(producer);
  const total = events ?? Infinity;
  const endAt = duration === undefined ? Infinity : performance.now() + duration * 1000;
  const started = performance.now();
  let sent = 0;
  let messages = 0;
  let p = 0;
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  const print = (final: boolean): void => {
    if (quiet) return;
    const now = performance.now();
    if (!final && now - lastPrint < (tty ? 250 : 5000)) return;
    lastPrint = now;
    const secs = (now - started) / 1000;
    const frac = events !== undefined ? sent / events : Math.min(1, secs / duration!);
    const bar = "=".repeat(Math.round(frac * 30)).padEnd(30, " ");
    const line = `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${sent} events, ${Math.round(sent / Math.max(secs, 1e-3))} events/s, errors ${errors}`;
    process.stderr.write(tty ? `\r\x1b[2K${line}${final ? "\n" : ""}` : `${line}\n`);
  };

  // No promise per message: a backoff only when the client's queue is full.
  const produce = (value: Buffer, key: string | null): Promise<void> | undefined => {
    messages++;
    return tryProduce(producer, topic, p, value, key) ? undefined : produceWithBackoff(producer, topic, p, value, key);
  };

  while (sent < total && performance.now() < endAt) {
    const due = ((performance.now() - started) / 1000) * rate - sent;
    if (due < Math.min(batch, rate / 200)) {
      producer.poll();
      print(false);
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const n = Math.min(batch, total - sent, Math.max(1, Math.floor(due)));
    gen.fill(p, cols, 0, n);
    if (format === "frame") {
      const full = produce(frames.encode(frameCols, n), null);
      if (full) await full;
    } else {
      // Staged, then one produceMany() call per batch (with native-bindings/kafka).
      for (let i = 0; i < n; i++) {
        const e = DriverGenerator.toEvent(cols, i, name);
        staged.add(topic, p, JSON.stringify(e), typeof e["driverId"] === "string" && e["driverId"] !== "" ? (e["driverId"] as string) : null);
      }
      messages += n;
      await staged.send();
    }
    sent += n;
    p = (p + 1) % partitions;
    producer.poll(); // delivery reports, once per batch
    print(false);
  }
  await drain(producer, (message) => {
    errors++;
    process.stderr.write(`loadgen: ${message}\n`);
  });
  const seconds = (performance.now() - started) / 1000;
  print(true);
  await producer.disconnect(10_000).catch(() => undefined);
  const summary = { topic, format, partitions, events: sent, messages, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors };
  if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!quiet) process.stderr.write(`loadgen: ${sent} events in ${messages} messages to ${topic} in ${summary.seconds} s (${summary.eventsPerSec} events/s), ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
