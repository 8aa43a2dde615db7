/**
 * `riptide run --topology ./topology.js --input events.jsonl [--output out.jsonl | --sink console] [--workers N]`:
 * a DSL topology module on the worker engine (engine.ts). Options that apply to the built-in
 * pipelines only are refused by name.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { numberOption, UsageError } from "../cli/args.js";
import { ConsoleSink, FileSink, NullSink, type Sink } from "../sinks/sink.js";
import { runTopology } from "./engine.js";

const ALLOWED = new Set(["topology", "input", "output", "sink", "workers", "batch-size", "ring-slots", "idle-timeout", "json", "quiet", "help"]);

export async function runTopologyCommand(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number> {
  const module = values["topology"];
  if (typeof module !== "string" || module.length === 0) throw new UsageError("--topology needs the path of a topology module");
  if (!existsSync(module)) throw new UsageError(`--topology ${module}: no such file`);
  if (positionals.length > 0) throw new UsageError(`--topology runs the module's topology; drop the pipeline name ${positionals.join(" ")}`);
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && !ALLOWED.has(k)) throw new UsageError(`--${k} cannot be combined with --topology (it takes --input, --output/--sink, --workers, --batch-size, --ring-slots, --idle-timeout, --json, --quiet)`);
  }
  const input = values["input"];
  if (typeof input !== "string") throw new UsageError("--topology needs --input FILE (a JSON-lines file; Kafka and the generator are not wired to topologies yet)");
  if (!existsSync(input)) throw new UsageError(`--input ${input}: no such file`);
  const output = values["output"] as string | undefined;
  const sinkKind = (values["sink"] as string | undefined) ?? (output ? "file" : "console");
  if (!["null", "console", "file"].includes(sinkKind)) throw new UsageError(`--sink must be null, console or file, got ${JSON.stringify(sinkKind)}`);
  if (sinkKind === "file" && !output) throw new UsageError("--sink file needs --output FILE");
  const workers = numberOption(values, "workers", { integer: true, min: 1, max: 256 }) ?? availableParallelism();
  const batchSize = numberOption(values, "batch-size", { integer: true, min: 1, max: 65536 });
  const ringSlots = numberOption(values, "ring-slots", { integer: true, min: 2, max: 4096 });
  if (ringSlots !== undefined && (ringSlots & (ringSlots - 1)) !== 0) throw new UsageError(`--ring-slots must be a power of two, got ${ringSlots}`);
  const idle = numberOption(values, "idle-timeout", { min: 0 });
  const sink: Sink = sinkKind === "file" ? new FileSink(output!) : sinkKind === "console" ? new ConsoleSink() : new NullSink();
  const summary = await runTopology(module, {
    input, sink, workers,
    ...(batchSize !== undefined && { batchSize }), ...(ringSlots !== undefined && { ringSlots }), ...(idle !== undefined && { idleTimeoutMs: idle }),
  });
  if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!values["quiet"]) process.stderr.write(`${summary.pipeline}: ${summary.events} events in ${summary.seconds} s on ${summary.workers} workers; outputs ${JSON.stringify(summary.outputs)}\n`);
  return 0;
}
