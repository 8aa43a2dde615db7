/**
 * `riptide run --topology ./topology.js --input events.jsonl [--output out.jsonl | --sink console] [--workers N]`:
 * a DSL topology module on the worker engine (engine.ts). Options that apply to the built-in
 * pipelines only are refused by name. A topology that reads several topics takes a file per topic,
 * `--input ride-requests=r.jsonl,driver-locations=l.jsonl`, and on Kafka reads and writes the
 * topics it names (no --input-topic/--output-topic).
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { instanceIdOption, numberOption, UsageError } from "../cli/args.js";
import { ConsoleSink, FileSink, NullSink, type Sink } from "../sinks/sink.js";
import { resolve } from "node:path";
import { loadTopology, runTopology, topologyShape } from "./engine.js";
import { TopologyError } from "./errors.js";
import { objectShape } from "./engine-objects.js";
import { repartitionTopicFor } from "./repartition.js";
import { assignedOrTimeout } from "../sources/aligned-streams.js";
import { observeRun, OBSERVE_OPTION_NAMES } from "./observe-run.js";
import { startConsumerLag } from "../cli/observe.js";

const ALLOWED = new Set(["topology", "input", "output", "sink", "workers", "batch-size", "ring-slots", "idle-timeout", "json", "quiet", "help",
  "brokers", "input-topic", "output-topic", "group", "stop-when-idle", "partitions", "guarantee", "commit-interval", "wall-clock-close", "kafka-config", "instance-id", "purge-interval",
  ...OBSERVE_OPTION_NAMES]);
const KAFKA_ONLY = ["instance-id", "purge-interval", "input-topic", "output-topic", "group", "stop-when-idle", "partitions", "guarantee", "commit-interval", "wall-clock-close", "kafka-config"];

/** `name`: the pipeline's name in the summary (built-in DSL pipelines), instead of dsl:<module>. */
export async function runTopologyCommand(values: Record<string, string | boolean | undefined>, positionals: string[], name?: string): Promise<number> {
  const module = values["topology"];
  if (typeof module !== "string" || module.length === 0) throw new UsageError("--topology needs the path of a topology module");
  if (!existsSync(module)) throw new UsageError(`--topology ${module}: no such file`);
  if (positionals.length > 0) throw new UsageError(`--topology runs the module's topology; drop the pipeline name ${positionals.join(" ")}`);
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && !ALLOWED.has(k)) throw new UsageError(`--${k} cannot be combined with --topology (it takes --input, --output/--sink, --workers, --batch-size, --ring-slots, --idle-timeout, --json, --quiet, --log-level, --alert-*, --http)`);
  }
  const workers = numberOption(values, "workers", { integer: true, min: 1, max: 256 }) ?? availableParallelism();
  const brokers = values["brokers"];
  if (typeof brokers === "string") return runOnKafka(module, brokers, values, workers, name);
  for (const k of KAFKA_ONLY) if (values[k] !== undefined) throw new UsageError(`--${k} needs --brokers`);
  const input = values["input"];
  if (typeof input !== "string") throw new UsageError("--topology needs --input FILE (a JSON-lines file) or --brokers with --input-topic and --output-topic");
  let inputs: string | Record<string, string> = input;
  if (input.includes("=")) {
    inputs = {};
    for (const part of input.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0 || eq === part.length - 1) throw new UsageError(`--input ${input}: give topic=file pairs separated by commas (got ${JSON.stringify(part)})`);
      inputs[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  for (const f of typeof inputs === "string" ? [inputs] : Object.values(inputs)) if (!existsSync(f)) throw new UsageError(`--input ${f}: no such file`);
  const output = values["output"] as string | undefined;
  const sinkKind = (values["sink"] as string | undefined) ?? (output ? "file" : "console");
  if (!["null", "console", "file"].includes(sinkKind)) throw new UsageError(`--sink must be null, console or file, got ${JSON.stringify(sinkKind)}`);
  if (sinkKind === "file" && !output) throw new UsageError("--sink file needs --output FILE");
  const batchSize = numberOption(values, "batch-size", { integer: true, min: 1, max: 65536 });
  const ringSlots = numberOption(values, "ring-slots", { integer: true, min: 2, max: 4096 });
  if (ringSlots !== undefined && (ringSlots & (ringSlots - 1)) !== 0) throw new UsageError(`--ring-slots must be a power of two, got ${ringSlots}`);
  const idle = numberOption(values, "idle-timeout", { min: 0 });
  const sink: Sink = sinkKind === "file" ? new FileSink(output!) : sinkKind === "console" ? new ConsoleSink() : new NullSink();
  const observed = await observeRun(values, { kafka: false, pipeline: name ?? `dsl:${module}`, source: "file" });
  return observed.around(async () => {
    const summary = await runTopology(module, {
      input: inputs, sink, workers, onLog: observed.onLog, onCoordinator: (c) => observed.attach(c), signal: observed.signal,
      ...(batchSize !== undefined && { batchSize }), ...(ringSlots !== undefined && { ringSlots }), ...(idle !== undefined && { idleTimeoutMs: idle }),
    });
    observed.done(summary);
    if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
    else if (!values["quiet"]) process.stderr.write(`${summary.pipeline}: ${summary.events} events in ${summary.seconds} s on ${summary.workers} workers; outputs ${JSON.stringify(summary.outputs)}\n`);
    return 0;
  });
}

/** `--topology … --brokers B --input-topic T --output-topic O`: the Kafka source and sink of `riptide run` around the topology. */
async function runOnKafka(module: string, brokers: string, values: Record<string, string | boolean | undefined>, workers: number, name?: string): Promise<number> {
  for (const k of ["input", "output", "sink"]) if (values[k] !== undefined) throw new UsageError(`--${k} cannot be combined with --brokers`);
  // The general form (several topics, joins, tables) reads and writes the topics the topology names.
  // State per partition (--instance-id) runs the general form, which reads and writes the topics the topology names.
  const topology = await loadTopology(resolve(module));
  const shape = values["instance-id"] !== undefined ? objectShape(topology) : topologyShape(topology);
  const general = "mode" in shape ? shape : undefined;
  if (general) {
    for (const k of ["input-topic", "output-topic"]) {
      if (values[k] !== undefined) throw new UsageError(`--${k}: this topology names its own topics (reads ${general.inputs.map((i) => i.topic).join(", ")}; writes ${general.outputs.slice(1).join(", ")})`);
    }
  }
  const inputTopic = general ? general.inputs[0]!.topic : values["input-topic"];
  // General form: records whose user function threw go to <first output topic>.invalid.
  const outputTopic = general ? general.outputs[1]! : values["output-topic"];
  if (typeof inputTopic !== "string") throw new UsageError("--brokers needs --input-topic");
  if (typeof outputTopic !== "string") throw new UsageError("--brokers needs --output-topic");
  const stopWhenIdle = numberOption(values, "stop-when-idle", { min: 0 });
  const partitions = numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 });
  const idle = numberOption(values, "idle-timeout", { min: 0 });
  const guarantee = (values["guarantee"] as string | undefined) ?? "at-least-once";
  if (guarantee !== "at-least-once" && guarantee !== "exactly-once") {
    throw new UsageError(`--guarantee must be at-least-once or exactly-once, got ${JSON.stringify(guarantee)}`);
  }
  const commitInterval = numberOption(values, "commit-interval", { integer: true, min: 1, max: 3_600_000 });
  if (commitInterval !== undefined && guarantee !== "exactly-once") throw new UsageError("--commit-interval needs --guarantee exactly-once");
  const exactlyOnce = guarantee === "exactly-once" ? { commitIntervalMs: commitInterval ?? 100 } : undefined;
  const instanceId = instanceIdOption(values, exactlyOnce !== undefined);
  const purgeInterval = numberOption(values, "purge-interval", { integer: true, min: 0, max: 86_400_000 });
  if (purgeInterval !== undefined && instanceId === undefined) throw new UsageError("--purge-interval needs --instance-id (repartition topics are used with state per partition)");
  const quiet = values["quiet"] === true;
  // The run logger's lines (level, time, pid, event, msg; dead-letter bursts summarised) and the
  // alerts, as riptide run's built-in pipelines have them (observe-run.ts).
  const observed = await observeRun(values, { kafka: true, pipeline: name ?? `dsl:${module}`, source: inputTopic });
  const onLog = observed.onLog;
  const { setupKafkaRun } = await import("../cli/kafka.js");
  const { addInputTopic } = await import("../cli/kafka-rides.js");
  let kafka: Awaited<ReturnType<typeof setupKafkaRun>> | undefined;
  const more: { close(): Promise<void> }[] = [];
  const group = (values["group"] as string | undefined) ?? `riptide-topology-${inputTopic}`;
  const edgeTopics = instanceId !== undefined && general ? general.repartitions.map((e) => repartitionTopicFor(group, e)) : [];
  const stopWhenIdleMs = stopWhenIdle === undefined ? undefined : stopWhenIdle * 1000;
  return observed.around(async () => {
    // Exactly-once: the transactions and the restored state come with the first topic's setup,
    // after this object is built (runTopology reads them when it builds the coordinator).
    const options: Parameters<typeof runTopology>[1] = {
      workers, onLog, signal: observed.signal,
      ...(idle !== undefined && { idleTimeoutMs: idle }),
      ...(values["wall-clock-close"] === true && { wallClockClose: true }),
      ...(instanceId !== undefined && { taskState: true }),
      // Fault injection (as riptide run's built-in pipelines): SIGUSR2 makes worker thread 0 exit
      // abruptly at its next batch; the pool restarts it and its shard restores and replays.
      onCoordinator: (c) => {
        observed.attach(c);
        process.on("SIGUSR2", () => c.crashWorker(0));
      },
      // State per partition: each repartition edge is a Kafka topic (records may cross processes).
      ...(instanceId !== undefined && { repartitionTopic: (edge: string) => repartitionTopicFor(group, edge) }),
      source: async (_decoder, interner, _reject, pipeline, topic, decode) => {
        if (kafka && instanceId !== undefined && general?.inputs.find((i) => i.topic === topic)?.global) {
          // State per partition and a global table: this process reads all of it, on a consumer of
          // its own (group <group>.<topic>.<instance id>, never committed: from the beginning at
          // every start), outside every task.
          const extra = await addInputTopic(kafka.sink, { brokers, topic, group, groupSuffix: `${topic}.${instanceId}`, partitions, stopWhenIdleMs, pipeline, onLog, interner, transactions: kafka.transactions, global: true });
          more.push(extra);
          await assignedOrTimeout(extra.source);
          wholeTopicsOnly(extra.source, topic);
          return extra.source;
        }
        if (kafka) {
          // Another topic of the topology: its own consumer, group <group>.<topic> (under
          // exactly-once its offsets go to the same transactions, in the combined source's order).
          // State per partition: the view of the one consumer reading every topic, so that
          // partition q of each comes to the same process (and each task moves whole).
          // A repartition topic (decode given) is internal: no dead letters, its consumed records purged.
          const extra = await addInputTopic(kafka.sink, { brokers, topic, group, groupSuffix: topic, partitions, stopWhenIdleMs, pipeline, onLog, interner, transactions: kafka.transactions, shared: kafka.shared, decode, internal: decode !== undefined });
          more.push(extra);
          if (kafka.shared) return extra.source;
          await assignedOrTimeout(kafka.source);
          await assignedOrTimeout(extra.source);
          if (more.length === 1) wholeTopicsOnly(kafka.source, inputTopic);
          wholeTopicsOnly(extra.source, topic);
          return extra.source;
        }
        // The typed form reads --input-topic; the general form the topics the topology names.
        kafka = await setupKafkaRun({
          brokers, inputTopic: general ? topic : inputTopic, outputTopic, group, partitions, stopWhenIdleMs, pipeline, onLog, ...(general && { interner }), exactlyOnce, instanceId,
          // State per partition: one consumer reads every co-partitioned topic (global tables have their own).
          ...(general && { inputTopics: general.inputs.filter((i) => instanceId === undefined || !i.global).map((i) => i.topic).concat(edgeTopics) }),
          repartitionTopics: edgeTopics,
        });
        observed.setLag(startConsumerLag(kafka, general ? topic : inputTopic, onLog));
        if (kafka.transactions) options.transactions = kafka.transactions;
        if (kafka.transactions && purgeInterval !== undefined) kafka.transactions.purgeIntervalMs = purgeInterval;
        if (kafka.restore) options.restore = kafka.restore;
        // Records moving between shards (groupBy a new key) must find every key's shard in this
        // process: there is no repartition topic between processes, so one process per group.
        if (general && general.repartitions.length > 0 && general.inputs.length === 1 && instanceId === undefined) {
          await assignedOrTimeout(kafka.source);
          wholeTopicsOnly(kafka.source, topic);
        }
        return kafka.source;
      },
      sink: () => kafka!.sink,
    };
    const summary = await runTopology(module, options);
    if (stopWhenIdle !== undefined) await kafka?.settleRetries();
    if (name !== undefined) summary.pipeline = name;
    observed.done(summary);
    if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
    else if (!quiet) process.stderr.write(`${summary.pipeline}: ${summary.events} events in ${summary.seconds} s on ${summary.workers} workers; outputs ${JSON.stringify(summary.outputs)}\n`);
    return 0;
  }, async () => {
    for (const m of more) await m.close();
    await kafka?.close();
  });
}

/**
 * Without --instance-id, a topology reading several topics runs as one process per group: each topic has its own consumer
 * group, so a second process would get partitions of the topics that do not match (a join would
 * silently miss), and a global table must be read whole. So does one that repartitions (records
 * move between the shards of one process; another process's shards are out of reach). When a topic's consumer holds fewer than
 * all of its partitions for longer than a rebalance takes, the next fill fails the run, saying so.
 */
function wholeTopicsOnly(source: { partitions: number; assigned?(p: number): boolean; fill: (...a: never[]) => number }, topic: string, graceMs = 15_000): void {
  if (!source.assigned) return;
  let partialSince = 0;
  const fill = source.fill.bind(source);
  (source as { fill: unknown }).fill = (...args: never[]): number => {
    let held = 0;
    for (let p = 0; p < source.partitions; p++) if (source.assigned!(p)) held++;
    if (held === source.partitions) partialSince = 0;
    else if (partialSince === 0) partialSince = Date.now();
    else if (Date.now() - partialSince > graceMs) {
      throw new TopologyError(`topic ${topic}: this process holds ${held} of its ${source.partitions} partitions for more than ${graceMs / 1000} s — another process joined the group? A topology that reads several topics (joins, tables) or groups by a new key runs as one process per group on Kafka`);
    }
    return fill(...args);
  };
}

