/**
 * `riptide run ride-matching|message-enrichment [options]`: the pipelines written on the DSL
 * (src/pipelines/topologies/). On the embedded generator by default; with --brokers on Kafka, the
 * topics the topology names (with --topic-prefix in front), as `riptide run --topology` does.
 */
import { availableParallelism } from "node:os";
import { numberOption, UsageError } from "./args.js";
import { runTopology } from "../dsl/engine.js";
import { ObjectGeneratorSource } from "../sources/object-generator.js";
import { ConsoleSink, FileSink, NullSink, type Sink } from "../sinks/sink.js";
import type { DslPipeline } from "../pipelines/topologies/index.js";
import { observeRun, OBSERVE_OPTION_NAMES } from "../dsl/observe-run.js";

const GENERATOR = new Set(["events", "seed", "drivers", "workers", "batch-size", "ring-slots", "idle-timeout", "json", "quiet", "output", "sink", "topic-prefix", "rate", "help", ...OBSERVE_OPTION_NAMES]);
const KAFKA = new Set(["brokers", "group", "stop-when-idle", "partitions", "workers", "batch-size", "ring-slots", "idle-timeout", "json", "quiet", "topic-prefix", "help", "guarantee", "commit-interval", "wall-clock-close", "kafka-config", "instance-id", "purge-interval", ...OBSERVE_OPTION_NAMES]);

export async function runDslPipeline(p: DslPipeline, values: Record<string, string | boolean | undefined>): Promise<number> {
  const kafka = typeof values["brokers"] === "string";
  const allowed = kafka ? KAFKA : GENERATOR;
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && !allowed.has(k)) {
      throw new UsageError(`--${k} does not apply to ${p.name}${kafka ? " on Kafka" : ""} (it takes ${[...allowed].filter((o) => o !== "help").map((o) => `--${o}`).join(", ")})`);
    }
  }
  const prefix = values["topic-prefix"];
  if (prefix !== undefined && (typeof prefix !== "string" || !/^[A-Za-z0-9._-]*$/.test(prefix))) {
    throw new UsageError(`--topic-prefix must use letters, digits, '.', '_' or '-', got ${JSON.stringify(prefix)}`);
  }
  // The topology module reads its topic names from the environment: here and in every worker.
  if (typeof prefix === "string") process.env["RIPTIDE_TOPIC_PREFIX"] = prefix;
  if (kafka) {
    const { runTopologyCommand } = await import("../dsl/cli.js");
    const { "topic-prefix": _p, ...rest } = values;
    return runTopologyCommand({ ...rest, topology: p.module }, [], p.name);
  }
  const workers = numberOption(values, "workers", { integer: true, min: 1, max: 256 }) ?? availableParallelism();
  const events = numberOption(values, "events", { integer: true, min: 1 }) ?? 1_000_000;
  const seed = numberOption(values, "seed", { integer: true, min: 0 }) ?? 42;
  const users = numberOption(values, "drivers", { integer: true, min: 1 });
  const rate = numberOption(values, "rate", { min: 1 });
  const batchSize = numberOption(values, "batch-size", { integer: true, min: 1, max: 65536 });
  const ringSlots = numberOption(values, "ring-slots", { integer: true, min: 2, max: 4096 });
  if (ringSlots !== undefined && (ringSlots & (ringSlots - 1)) !== 0) throw new UsageError(`--ring-slots must be a power of two, got ${ringSlots}`);
  const idle = numberOption(values, "idle-timeout", { min: 0 });
  const output = values["output"] as string | undefined;
  const sinkKind = (values["sink"] as string | undefined) ?? (output ? "file" : "null");
  if (!["null", "console", "file"].includes(sinkKind)) throw new UsageError(`--sink must be null, console or file, got ${JSON.stringify(sinkKind)}`);
  if (sinkKind === "file" && !output) throw new UsageError("--sink file needs --output FILE");
  const sink: Sink = sinkKind === "file" ? new FileSink(output!) : sinkKind === "console" ? new ConsoleSink() : new NullSink();
  const generated = p.generate(typeof prefix === "string" ? prefix : "", events, seed, users);
  const observed = await observeRun(values, { kafka: false, pipeline: p.name, source: "generator" });
  const summary = await observed.around(async () => {
    const s = await runTopology(p.module, {
      workers, sink, onLog: observed.onLog, onCoordinator: (c) => observed.attach(c), signal: observed.signal,
      ...(rate !== undefined && { rate }), ...(batchSize !== undefined && { batchSize }), ...(ringSlots !== undefined && { ringSlots }),
      ...(idle !== undefined && { idleTimeoutMs: idle }),
      source: (decoder, _interner, _reject, _pipeline, topic) => {
        const g = generated[topic];
        if (!g) throw new UsageError(`${p.name}: no generator for topic ${topic}`);
        return new ObjectGeneratorSource(decoder, g.count, g.make, g.sequential === true);
      },
    });
    observed.done(s);
    return s;
  });
  const named = { ...summary, pipeline: p.name };
  if (values["json"]) process.stdout.write(JSON.stringify(named) + "\n");
  else if (!values["quiet"]) process.stderr.write(`${p.name}: ${summary.events} events in ${summary.seconds} s on ${summary.workers} workers (${Math.round(summary.eventsPerSec).toLocaleString("en-US")} events/s); outputs ${JSON.stringify(summary.outputs)}\n`);
  return 0;
}
