/**
 * riptide — command line.
 *
 *   riptide run [pipeline] [options]   run a pipeline (driver-tracking by default) on the embedded
 *                                      generator or a JSON-lines file
 *   riptide pipelines                  list the pipelines
 *
 * Exit codes: 0 success, 1 the run failed, 2 bad usage (the message names the option).
 */
import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import { Coordinator, type RunSummary } from "../coordinator/coordinator.js";
import { RiptideError } from "../errors.js";
import { getPipeline, PIPELINES } from "../pipelines/registry.js";
import { DSL_PIPELINES, getDslPipeline } from "../pipelines/topologies/index.js";
import { Interner, TRANSIENT_CAPACITY_MAX, transientSettings } from "../schema/interner.js";
import { ConsoleSink, FileSink, NullSink, type Sink } from "../sinks/sink.js";
import { TeeSink } from "../sinks/tee.js";
import { DriverGenerator } from "../sources/driver-generator.js";
import { JsonLinesFileSource } from "../sources/file-source.js";
import { GeneratorSource } from "../sources/generator-source.js";
import { compileJsonDecoder } from "../sources/json.js";
import type { Source } from "../sources/source.js";
import { instanceIdOption, numberOption, parse, UsageError, type OptionSpec } from "./args.js";
import { createRunLogger } from "../log/logger.js";
import type { ConsumerLag } from "../metrics/lag.js";
import { describeAlerts, OBSERVE_HELP, OBSERVE_OPTIONS, observeSettings, RunObserver, startConsumerLag } from "./observe.js";
import { fmtRate, progressPrinter, StatusLine } from "./status.js";

const HELP = `riptide — real-time event streams on Node.js

Usage:
  riptide run [pipeline] [options]    run a pipeline (default: driver-tracking)
  riptide run FILE.yaml [options]     run the built-in pipeline a seed-style YAML file describes
                                      (pipelines/*.yaml); options given here override the file
  riptide pipelines                   list the pipelines
  riptide run ride-matching|message-enrichment [--events N] [--brokers B] [--topic-prefix P]
                                      the pipelines written on the DSL (joins; on Kafka they read
                                      and write the topics the topology names, P in front)
  riptide run --topology M.js …       a DSL topology module (--input FILE or topic=FILE,…; --brokers)
  riptide loadgen [options]           produce generator traffic into Kafka (see loadgen --help)
  riptide --help                      this text

Input (default: the embedded generator, unbounded until Ctrl-C unless --events/--duration):
  --input FILE          JSON-lines file, one event per line (one partition); ends at end of file
  --topology FILE       run a DSL topology module (StreamsBuilder, see README) instead of a pipeline; with --input or --brokers
  --events N            stop after N generated events (then flush every window)
  --duration S          stop producing after S seconds (then flush every window)
  --rate N              target events per second (default: as fast as possible)
  --seed N              generator seed (default 42)
  --drivers N           generator drivers (default 10000; payments: users, default 2000)
  --partitions N        generator partitions (default 16)
  --skew X              generator activity skew, 0 = uniform (default 0)

Kafka (instead of the generator):
  --brokers LIST        bootstrap brokers, e.g. 127.0.0.1:9092
  --input-topic T       read events from T (JSON per message or Riptide frames); undecodable → T.dlq
                        (engagement-analytics: VIEWS,CONTENT-METADATA[,INTERACTIONS], the second read as a table)
  --output-topic O      windows to O, side outputs to O.invalid, O.anomaly, O.late
  --group G             consumer group (default riptide-<pipeline>)
  --partitions N        partitions of topics created when missing (default: as the input topic)
  --stop-when-idle S    end after S seconds without input, once everything is produced and committed
  --guarantee G         at-least-once (default) or exactly-once: outputs, offsets and state in Kafka
                        transactions (read outputs read_committed); one process per group (see --instance-id)
  --commit-interval MS  exactly-once: how often a transaction commits (default 100; sooner once
                        200 000 outputs wait in it)
  --instance-id ID      exactly-once with state per input partition (payments, --topology and the DSL
                        pipelines), so several processes of a group (each its own ID; a restarted one
                        takes its ID back) split the partitions; a groupBy on a new key goes through a
                        Kafka topic <group>-<node>-<port>-repartition (created with the input's partitions)
  --purge-interval MS   --instance-id: least time between two deletions of the repartition topics'
                        records before their committed offsets (default 30000, as Kafka Streams)
  --max-retries N       a message Kafka refuses with a retriable error goes to T.retry and is retried
                        up to N times (default 3; 0: straight to T.dlq), then to T.dlq
  --retry-backoff MS    wait before the first retry; doubles per retry up to 30 s, or MS if larger (default 1000)
  --delivery-timeout MS how long librdkafka may try to deliver a message before it counts as refused
                        (default librdkafka's 300000)
  --kafka-config K=V,…  librdkafka properties for every client (consumer.K=V / producer.K=V for one
                        kind), after Riptide's own; those its guarantees rest on are refused by name

Output:
  --output FILE         write every output and side output, one JSON object per line
  --sink KIND           null | console | file (default: file with --output, else null)
  --json                end with one JSON summary line on stdout
  --quiet               no status line (a live line on a terminal, a plain line every 5 s otherwise)
  --http HOST:PORT      serve a live dashboard at /, Prometheus metrics at /metrics, /healthz and
                        /readyz, and live updates on the WebSocket /live (HOST default 127.0.0.1);
                        message-delivery: each user's messages on the WebSocket /messages?user=ID
  --redis URL           also write the pipeline's Redis outputs, e.g. redis://127.0.0.1:6379
                        (driver-tracking: GEO index drivers:active, drivers:<region>, 5-minute expiry;
                        surge-pricing: surge:<region> hashes; engagement-analytics: rec:<userId>,
                        the last session's top genres, 2-hour expiry; message-delivery:
                        pending:<userId> lists of stored messages, forwarded when the user comes online)
  --redis-prefix P      prepend P to every Redis key (default none)
  --encryption-key HEX  message-delivery: AES-256-GCM key, 64 hex digits (default: the environment's
                        RIPTIDE_ENCRYPTION_KEY, else a random key for this run); never logged

${OBSERVE_HELP}
Engine:
  --workers N           shard workers (default: cores, here ${availableParallelism()})
  --batch-size N        records per ring slot (default 2048)
  --ring-slots N        batches of --batch-size records an input ring queues, a power of two
                        (default 16; reading --input-topic, 64 while they fit in 8 MiB;
                        small batches may take up to 4× as many slots)
  --idle-timeout MS     a partition idle this long stops holding the watermark back (default 30000)
  --wall-clock-close    once every partition is idle, the watermark follows the wall clock, so the
                        windows of a stream that went quiet still close (later records: late)
  --transient-ids N     JSON input: how many of the latest per-event ids (message, payment and
                        request ids) keep their string for the outputs that name them (default
                        1048576); an output naming an older one carries "" and is counted
                        (a warning, and transientMisses in the --json summary)

Exit codes: 0 done (also after Ctrl-C/SIGTERM: the run stops, flushes and summarises), 1 the run
failed, 2 bad usage (the message names the option), 130 a second Ctrl-C/SIGTERM forced the exit.
`;

const RUN_OPTIONS: OptionSpec = {
  input: { type: "string" }, output: { type: "string" }, sink: { type: "string" }, topology: { type: "string" },
  events: { type: "string" }, duration: { type: "string" }, rate: { type: "string" },
  seed: { type: "string" }, drivers: { type: "string" }, partitions: { type: "string" }, skew: { type: "string" },
  workers: { type: "string" }, "batch-size": { type: "string" }, "ring-slots": { type: "string" },
  "idle-timeout": { type: "string" }, "wall-clock-close": { type: "boolean" }, "topic-prefix": { type: "string" },
  "transient-ids": { type: "string" },
  brokers: { type: "string" }, "input-topic": { type: "string" }, "output-topic": { type: "string" },
  group: { type: "string" }, "stop-when-idle": { type: "string" },
  guarantee: { type: "string" }, "commit-interval": { type: "string" }, "instance-id": { type: "string" }, "purge-interval": { type: "string" },
  "max-retries": { type: "string" }, "retry-backoff": { type: "string" }, "delivery-timeout": { type: "string" }, "kafka-config": { type: "string" },
  json: { type: "boolean" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" },
  http: { type: "string" },
  ...OBSERVE_OPTIONS,
  redis: { type: "string" }, "redis-prefix": { type: "string" },
  "encryption-key": { type: "string" },
};

/** Logs the `stop` line of a run that failed before its main loop (set once `start` is logged). */
let failBeforeStop: ((err: unknown) => void) | undefined;

export async function main(argv: string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === "pipelines") {
      for (const p of PIPELINES) process.stdout.write(`${p.name.padEnd(20)} ${p.description}\n`);
      for (const p of DSL_PIPELINES) process.stdout.write(`${p.name.padEnd(20)} ${p.description}\n`);
      return 0;
    }
    if (command === "run") return await runCommand(rest);
    if (command === "loadgen") return await (await import("./loadgen.js")).loadgenCommand(rest);
    throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: run, pipelines; see --help)`);
  } catch (err) {
    failBeforeStop?.(err);
    failBeforeStop = undefined;
    if (err instanceof UsageError) {
      process.stderr.write(`riptide: ${err.message}\n`);
      return 2;
    }
    const e = err as Error;
    const code = err instanceof RiptideError ? ` [${err.code}]` : "";
    process.stderr.write(`riptide: ${e.message}${code}\n`);
    return 1;
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const parsed = parse(argv, RUN_OPTIONS);
  // riptide run pipelines/x.yaml: the seed's YAML shapes name the pipeline and fill options; the command line wins (src/config/).
  const { isPipelineFile, pipelineFileArgs } = await import("../config/run-options.js");
  const { values, positionals } = !parsed.values["help"] && isPipelineFile(parsed.positionals[0]) ? pipelineFileArgs(parsed) : parsed;
  if (values["help"]) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values["kafka-config"] !== undefined) {
    if (values["brokers"] === undefined) throw new UsageError("--kafka-config needs --brokers");
    (await import("./kafka-config.js")).applyKafkaConfig(values["kafka-config"]);
  }
  if (values["topology"] !== undefined) return (await import("../dsl/cli.js")).runTopologyCommand(values, positionals);
  if (positionals.length > 1) throw new UsageError(`run takes one pipeline name, got ${positionals.join(" ")}`);
  const dsl = getDslPipeline(positionals[0] ?? "");
  if (dsl) return (await import("./dsl-pipelines.js")).runDslPipeline(dsl, values);
  const named = getPipeline(positionals[0] ?? "driver-tracking");
  if (!named) throw new UsageError(`unknown pipeline ${JSON.stringify(positionals[0])} (see riptide pipelines)`);
  // Options only the DSL takes (repartition topics, the topics a topology names).
  if (values["purge-interval"] !== undefined) throw new UsageError(`--purge-interval applies to DSL topologies with --instance-id (their repartition topics); ${named.name} has none`);
  if (values["topic-prefix"] !== undefined) throw new UsageError(`--topic-prefix applies to the DSL pipelines (their topics' names); ${named.name} takes --input-topic and --output-topic`);
  // --instance-id: the shard processors keep one state per input partition (TaskedProcessor).
  const pipeline = values["instance-id"] === undefined ? named : { ...named, processorConfig: { ...named.processorConfig, tasked: true } };

  const workers = numberOption(values, "workers", { integer: true, min: 1, max: 256 }) ?? availableParallelism();
  const events = numberOption(values, "events", { integer: true, min: 1 });
  const duration = numberOption(values, "duration", { min: 0.001 });
  const rate = numberOption(values, "rate", { min: 1 });
  const batchSize = numberOption(values, "batch-size", { integer: true, min: 1, max: 65536 });
  const ringSlots = numberOption(values, "ring-slots", { integer: true, min: 2, max: 4096 });
  if (ringSlots !== undefined && (ringSlots & (ringSlots - 1)) !== 0) throw new UsageError(`--ring-slots must be a power of two, got ${ringSlots}`);
  const idleTimeout = numberOption(values, "idle-timeout", { min: 0 });
  const transientCapacity = numberOption(values, "transient-ids", { integer: true, min: 1, max: TRANSIENT_CAPACITY_MAX });
  const input = values["input"] as string | undefined;
  const output = values["output"] as string | undefined;
  const sinkKind = (values["sink"] as string | undefined) ?? (output ? "file" : "null");
  if (!["null", "console", "file"].includes(sinkKind)) throw new UsageError(`--sink must be null, console or file, got ${JSON.stringify(sinkKind)}`);
  if (sinkKind === "file" && !output) throw new UsageError("--sink file needs --output FILE");
  if (input !== undefined && !existsSync(input)) throw new UsageError(`--input ${input}: no such file`);
  const brokers = values["brokers"] as string | undefined;
  const stopWhenIdle = numberOption(values, "stop-when-idle", { min: 0 });
  const maxRetries = numberOption(values, "max-retries", { integer: true, min: 0, max: 100 });
  const retryBackoff = numberOption(values, "retry-backoff", { min: 1, max: 86_400_000 });
  const deliveryTimeout = numberOption(values, "delivery-timeout", { integer: true, min: 1, max: 2_147_483_647 });
  const guarantee = (values["guarantee"] as string | undefined) ?? "at-least-once";
  if (guarantee !== "at-least-once" && guarantee !== "exactly-once") {
    throw new UsageError(`--guarantee must be at-least-once or exactly-once, got ${JSON.stringify(guarantee)}`);
  }
  const commitInterval = numberOption(values, "commit-interval", { integer: true, min: 1, max: 3_600_000 });
  if (commitInterval !== undefined && guarantee !== "exactly-once") throw new UsageError("--commit-interval needs --guarantee exactly-once");
  const instanceId = instanceIdOption(values, guarantee === "exactly-once");
  if (instanceId !== undefined) {
    if (brokers === undefined) throw new UsageError("--instance-id needs --brokers");
    if (!pipeline.taskState) {
      throw new UsageError(`--instance-id: ${pipeline.name}'s state is not per input partition, so under exactly-once it runs as one process per group; drop --instance-id (payments and DSL topologies take it)`);
    }
  }
  if (brokers !== undefined) {
    if (input !== undefined) throw new UsageError("--brokers and --input are two different sources; give one");
    if (!values["input-topic"]) throw new UsageError("--brokers needs --input-topic");
    if (!values["output-topic"]) throw new UsageError("--brokers needs --output-topic");
    for (const g of ["events", "seed", "drivers", "skew", "rate", "output", "sink"]) {
      if (values[g] !== undefined) throw new UsageError(`--${g} cannot be combined with --brokers`);
    }
  } else {
    for (const k of ["input-topic", "output-topic", "group", "stop-when-idle", "max-retries", "retry-backoff", "delivery-timeout", "guarantee", "commit-interval"]) {
      if (values[k] !== undefined) throw new UsageError(`--${k} needs --brokers`);
    }
  }
  if (transientCapacity !== undefined && brokers === undefined && input === undefined) {
    throw new UsageError("--transient-ids applies to JSON input (--brokers or --input); the generators name their ids themselves");
  }
  if (input !== undefined) {
    for (const g of ["events", "seed", "drivers", "partitions", "skew", "rate"]) {
      if (values[g] !== undefined) throw new UsageError(`--${g} applies to the generator and cannot be combined with --input`);
    }
  }

  const observe = observeSettings(values, { kafka: brokers !== undefined });
  const httpServer = values["http"] === undefined ? undefined : await import("../http/server.js");
  let httpAddress: import("../http/server.js").HttpAddress | undefined;
  try {
    httpAddress = httpServer?.parseHttpAddress(values["http"] as string, "--http");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  // --redis: validated and connected before anything else starts (nothing to undo if it fails).
  let nameOf: (id: number) => string = (id) => String(id);
  let redis: { pipeline: import("../pipelines/pipeline.js").PipelineDefinition; sink: Sink } | undefined;
  if (values["redis-prefix"] !== undefined && values["redis"] === undefined) throw new UsageError("--redis-prefix needs --redis");
  if (values["redis"] !== undefined) {
    const { parseRedisUrl } = await import("../sinks/redis-client.js");
    const { setupRedis, REDIS_PIPELINES } = await import("../sinks/redis-setup.js");
    let url: string;
    try {
      url = parseRedisUrl(values["redis"] as string, "--redis");
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (!(pipeline.name in REDIS_PIPELINES)) throw new UsageError(`--redis: pipeline ${pipeline.name} writes nothing to Redis (see riptide pipelines)`);
    redis = await setupRedis({ url, pipeline, name: (id) => nameOf(id), ...(values["redis-prefix"] !== undefined && { prefix: values["redis-prefix"] as string }) });
  }
  // Ride pipelines read two topics on Kafka: driver locations and ride requests (src/cli/kafka-rides.ts).
  const rideTopics = brokers !== undefined && pipeline.schema.name === "ride-event" ? (values["input-topic"] as string).split(",") : undefined;
  if (rideTopics && (rideTopics.length !== 2 || rideTopics.some((t) => t === ""))) {
    throw new UsageError(`--input-topic: ${pipeline.name} reads two topics, driver locations and ride requests, e.g. --input-topic driver-locations,ride-requests`);
  }
  let rides: { close(): Promise<void> } | undefined;
  // engagement-analytics on Kafka: views, the content-metadata topic read as a table, and optionally
  // user interactions (src/cli/kafka-engagement.ts).
  const viewTopics = brokers !== undefined && pipeline.name === "engagement-analytics" ? (values["input-topic"] as string).split(",") : undefined;
  if (viewTopics && (viewTopics.length < 2 || viewTopics.length > 3 || viewTopics.some((t) => t === ""))) {
    throw new UsageError("--input-topic: engagement-analytics reads two topics, views and the content-metadata table, and optionally a third, user interactions, e.g. --input-topic user-views,content-metadata,user-interactions");
  }
  let engagement: import("./engagement-run.js").EngagementRun | undefined;
  // message-delivery: its key, edge-wrapped source and delivery channels (src/cli/messages-run.ts).
  if (values["encryption-key"] !== undefined && pipeline.name !== "message-delivery") throw new UsageError("--encryption-key applies to message-delivery only");
  const messageTopics = brokers !== undefined && pipeline.name === "message-delivery" ? (values["input-topic"] as string).split(",") : undefined;
  const messages = pipeline.name === "message-delivery" ? (await import("./messages-run.js")).prepareMessages(values, { topics: messageTopics, guarantee, redisSink: redis?.sink }) : undefined;

  // JSON log lines on stderr (pino), printed above the live status line on a terminal.
  const status = new StatusLine();
  const logs = createRunLogger({ level: observe.logLevel, write: (line) => status.above(line) });
  const onLog = logs.log;
  const sourceLabel = brokers !== undefined ? (values["input-topic"] as string) : input !== undefined ? "file" : "generator";
  onLog("start", {
    pipeline: pipeline.name, source: brokers !== undefined ? "kafka" : input !== undefined ? "file" : "generator", input: sourceLabel,
    ...(brokers !== undefined && { brokers, outputTopic: values["output-topic"], group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}` }),
    workers, ...(batchSize !== undefined && { batchSize }), logLevel: observe.logLevel,
    ...(observe.alerts && { alerts: describeAlerts(observe.alerts) }), node: process.version,
  });
  if (brokers !== undefined && guarantee === "at-least-once" && pipeline.volatileState !== undefined) onLog("alo-state", { pipeline: pipeline.name, state: pipeline.volatileState });
  failBeforeStop = (err) => {
    logs.close();
    onLog("stop", { status: "failed", error: String((err as Error)?.message ?? err) });
  };
  // --transient-ids: the interners this run's sources make keep that many per-event ids; the
  // lookups that found one gone are logged as they happen (every 5 s) and summed in the summary.
  const capacityBefore = transientSettings.capacity;
  if (transientCapacity !== undefined) transientSettings.capacity = transientCapacity;
  const missesAtStart = transientSettings.misses;
  let missesLogged = 0;
  const reportMisses = (): number => {
    const n = transientSettings.misses - missesAtStart;
    if (n > missesLogged) {
      onLog("transient-miss", { outputs: n - missesLogged, total: n, transientIds: transientSettings.capacity });
      missesLogged = n;
    }
    return n;
  };
  const missTimer = setInterval(reportMisses, 5000);
  missTimer.unref();
  let lag: ConsumerLag | undefined;
  let sink: Sink = sinkKind === "file" ? new FileSink(output!) : sinkKind === "console" ? new ConsoleSink() : new NullSink();
  let coordinator: Coordinator | undefined;
  let source: Source;
  let kafka: import("./kafka.js").KafkaRunSetup | undefined;
  // Listening before the source is set up: /healthz answers and /readyz says 503 until the run has
  // started (and Kafka has assigned partitions). The server never keeps the process alive by itself.
  let started = false;
  // driver-eta with --http: availability updates on the WebSocket /driver-updates, by region.
  const driverUpdates = httpServer && pipeline.name === "driver-eta" ? new (await import("../http/driver-updates.js")).DriverUpdatesHub() : undefined;
  const http = httpServer && httpAddress && new httpServer.RunHttpServer({
    ...httpAddress, processor: pipeline.name,
    topic: sourceLabel,
    snapshot: () => (started ? coordinator?.progress() : undefined),
    latency: () => coordinator?.latencyHistogram,
    stages: () => coordinator?.stageLatency,
    ...(brokers !== undefined && { lag: () => lag?.snapshot() ?? [] }),
    ...(driverUpdates && { upgrades: { "/driver-updates": (req, socket, head) => driverUpdates.handleUpgrade(req, socket, head) } }),
    ...(messages && { upgrades: { "/messages": (req, socket, head) => messages.hub.handleUpgrade(req, socket, head) } }),
  });
  if (http) onLog("http-listening", { url: await http.start() });
  if (brokers !== undefined) {
    const { setupKafkaRun } = await import("./kafka.js");
    kafka = await setupKafkaRun({
      brokers, inputTopic: rideTopics ? rideTopics[0]! : messageTopics ? messageTopics[0]! : viewTopics ? viewTopics[0]! : (values["input-topic"] as string), outputTopic: values["output-topic"] as string,
      group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}`,
      partitions: numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }),
      stopWhenIdleMs: stopWhenIdle === undefined ? undefined : stopWhenIdle * 1000, pipeline, onLog,
      retry: { ...(maxRetries !== undefined && { maxRetries }), ...(retryBackoff !== undefined && { backoffMs: retryBackoff }) },
      deliveryTimeoutMs: deliveryTimeout,
      exactlyOnce: guarantee === "exactly-once" ? { commitIntervalMs: commitInterval ?? 100 } : undefined,
      instanceId,
    });
    source = kafka.source;
    sink = kafka.sink;
    lag = startConsumerLag(kafka, rideTopics ? rideTopics[0]! : messageTopics ? messageTopics[0]! : viewTopics ? viewTopics[0]! : sourceLabel, onLog);
    const interner = kafka.source.interner;
    nameOf = (id) => interner.name(id);
    if (rideTopics) {
      const { addSecondInputTopic } = await import("./kafka-rides.js");
      const second = await addSecondInputTopic(kafka.source, kafka.sink, {
        brokers, topic: rideTopics[1]!, group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}`,
        partitions: numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }),
        stopWhenIdleMs: stopWhenIdle === undefined ? undefined : stopWhenIdle * 1000, pipeline, onLog, transactions: kafka.transactions,
      });
      source = second.source;
      rides = second;
    }
    if (viewTopics) {
      const { startContentTable, addInteractionsTopic } = await import("./kafka-engagement.js");
      const reader = await startContentTable({
        brokers, topic: viewTopics[1]!, group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}`,
        partitions: numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }), onLog,
      });
      const interactions = viewTopics[2] === undefined ? undefined : await addInteractionsTopic(kafka, {
        brokers, topic: viewTopics[2], group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}`,
        stopWhenIdleMs: stopWhenIdle === undefined ? undefined : stopWhenIdle * 1000, pipeline, onLog,
      }).catch(async (err: unknown) => { await reader.close(); throw err; });
      if (interactions) source = interactions.source;
      engagement = (await import("./engagement-run.js")).engagementWithTable((id) => interner.name(id), reader.table, async () => { await interactions?.close(); await reader.close(); });
    }
    if (messages) {
      source = await messages.kafkaSource(kafka, {
        brokers, group: (values["group"] as string | undefined) ?? `riptide-${pipeline.name}`,
        partitions: numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }),
        stopWhenIdleMs: stopWhenIdle === undefined ? undefined : stopWhenIdle * 1000, pipeline, onLog,
      });
      rides = messages;
    }
  } else if (input !== undefined) {
    const interner = new Interner();
    nameOf = (id) => interner.name(id);
    const decoder = compileJsonDecoder(pipeline.schema, interner);
    source = new JsonLinesFileSource(input, decoder, (p, off, raw, reason) => coordinator!.reject(p, off, raw, reason), undefined, { names: (id) => interner.name(id) });
    if (pipeline.name === "engagement-analytics") engagement = (await import("./engagement-run.js")).engagementWithTable((id) => interner.name(id));
  } else {
    let gen: DriverGenerator;
    try {
      gen = new DriverGenerator({
        ...(values["seed"] !== undefined && { seed: numberOption(values, "seed", { integer: true, min: 0 })! }),
        ...(values["drivers"] !== undefined && { drivers: numberOption(values, "drivers", { integer: true, min: 1 })! }),
        ...(values["partitions"] !== undefined && { partitions: numberOption(values, "partitions", { integer: true, min: 1, max: 4096 })! }),
        ...(values["skew"] !== undefined && { skew: numberOption(values, "skew", { min: 0 })! }),
      });
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw new UsageError(err.message);
      throw err;
    }
    if (pipeline.name === "engagement-analytics") {
      // engagement-analytics: seeded views and their content catalog (src/sources/engagement-generator.ts); --drivers is the user count.
      const e = (await import("./engagement-run.js")).engagementGenerator({
        ...(values["seed"] !== undefined && { seed: gen.options.seed }),
        ...(values["drivers"] !== undefined && { users: gen.options.drivers }),
        ...(values["partitions"] !== undefined && { partitions: gen.options.partitions }),
        events: events ?? Infinity,
      });
      engagement = e;
      source = e.source;
    } else if (pipeline.name === "payments") {
      // payments: seeded payment events (src/sources/payment-generator.ts); --drivers is the user count.
      const { PaymentGenerator, PaymentGeneratorSource } = await import("../sources/payment-generator.js");
      const pay = new PaymentGenerator({
        ...(values["seed"] !== undefined && { seed: gen.options.seed }),
        ...(values["drivers"] !== undefined && { users: gen.options.drivers }),
        partitions: gen.options.partitions,
      });
      source = new PaymentGeneratorSource(pay, events ?? Infinity);
    } else if (messages) {
      // message-delivery: seeded chats, messages and presence (src/sources/message-generator.ts); --drivers is the user count.
      source = messages.generatorSource({
        ...(values["seed"] !== undefined && { seed: gen.options.seed }),
        ...(values["drivers"] !== undefined && { users: gen.options.drivers }),
        ...(values["partitions"] !== undefined && { partitions: gen.options.partitions }),
      }, events ?? Infinity);
    } else if (pipeline.schema.name === "ride-event") {
      // Ride pipelines: the same drivers, with ride requests interleaved (src/sources/ride-generator.ts).
      const { RideGenerator } = await import("../sources/ride-generator.js");
      const { RideGeneratorSource } = await import("../sources/ride-generator-source.js");
      const rides = new RideGenerator(gen.options);
      source = new RideGeneratorSource(rides, events ?? Infinity);
    } else {
      source = new GeneratorSource(gen, events ?? Infinity);
    }
    nameOf = (id) => gen.driverName(id);
  }

  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Fault injection for the chaos suite (scripts/chaos.mjs): SIGUSR2 makes worker thread 0 exit
  // abruptly at its next batch; the pool restarts it and its shard restores and replays.
  process.on("SIGUSR2", () => coordinator?.crashWorker(0));
  const quiet = values["quiet"] === true;
  const progress = quiet ? undefined : progressPrinter(status, { lag: () => (lag && lag.rounds > 0 ? lag.total() : undefined) });
  const observer = new RunObserver({
    settings: observe.alerts, pipeline: pipeline.name, source: sourceLabel, log: onLog,
    snapshot: () => (started ? coordinator?.progress() : undefined), ...(lag && { lag }),
  });
  observer.start();
  let outcome: Record<string, unknown> = { status: "failed" };
  try {
    if (redis) sink = new TeeSink([sink, redis.sink]);
    if (driverUpdates) sink = new TeeSink([sink, driverUpdates]);
    if (messages && messages.hub !== redis?.sink) sink = new TeeSink([sink, messages.hub]);
    if (messages && input !== undefined) source = messages.wrap(source);
    if (messages) onLog("encryption", { cipher: "aes-256-gcm", key: messages.ephemeralKey ? "ephemeral (random, this run only)" : "given" });
    coordinator = new Coordinator({
      pipeline: messages ? messages.bind(redis?.pipeline ?? pipeline, source) : engagement ? engagement.bind(redis?.pipeline ?? pipeline) : redis?.pipeline ?? pipeline, source, sink, workers,
      ...(batchSize !== undefined && { batchSize }),
      ...(ringSlots !== undefined && { ringSlots }),
      ...(rate !== undefined && { rate }),
      ...(duration !== undefined && { durationMs: duration * 1000 }),
      ...(idleTimeout !== undefined && { idleTimeoutMs: idleTimeout }),
      ...(values["wall-clock-close"] === true && { wallClockClose: true }),
      signal: abort.signal,
      ...(progress && { onProgress: progress.update, progressIntervalMs: progress.intervalMs }),
      onLog,
      ...(http && { onWindow: (out) => http.onWindow(out) }),
      ...(kafka?.transactions && { transactions: kafka.transactions }),
      ...(kafka?.restore && { restore: kafka.restore }),
      ...(kafka?.stateLog && { stateLog: kafka.stateLog }),
      ...(instanceId !== undefined && { taskState: true }),
      ...(kafka && { retryCounts: () => kafka!.retry.counts }),
    });
    const running = coordinator.run();
    started = true;
    const summary = await running;
    // A bounded run (--stop-when-idle) also finishes the retries it scheduled; counts in the summary.
    if (kafka && stopWhenIdle !== undefined) await kafka.settleRetries();
    if (kafka) summary.retries = { ...kafka.retry.counts };
    http?.tick();
    progress?.done();
    const misses = reportMisses();
    if (misses > 0) summary.transientMisses = misses;
    outcome = {
      status: abort.signal.aborted ? "interrupted" : "done", events: summary.events, seconds: summary.seconds,
      outputs: summary.outputs, deadLetters: summary.deadLetters ?? 0, workerRestarts: summary.workerRestarts,
    };
    if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
    else if (!quiet) process.stderr.write(describe(summary) + "\n");
    return 0;
  } catch (err) {
    outcome = { status: "failed", error: String((err as Error)?.message ?? err) };
    throw err;
  } finally {
    progress?.done();
    await observer.stop();
    await lag?.stop();
    await http?.stop();
    await rides?.close();
    await engagement?.close();
    await kafka?.close();
    logs.close();
    onLog("stop", outcome);
    failBeforeStop = undefined;
    clearInterval(missTimer);
    transientSettings.capacity = capacityBefore;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function describe(s: RunSummary): string {
  const o = Object.entries(s.outputs).map(([k, v]) => `${k} ${v}`).join(", ");
  return `${s.pipeline}: ${s.events} events in ${s.seconds} s = ${fmtRate(s.eventsPerSec)}events/s on ${s.workers} workers; ` +
    `latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms; outputs: ${o}` +
    (s.retries && s.retries.scheduled + s.retries.deadLettered > 0
      ? `; retries: ${s.retries.scheduled} scheduled, ${s.retries.succeeded} succeeded, ${s.retries.deadLettered} dead-lettered`
      : "");
}
