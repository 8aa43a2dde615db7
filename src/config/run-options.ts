/**
 * `riptide run pipelines/x.yaml [options]`: the file becomes the pipeline name and option values of
 * an ordinary `riptide run`; options given on the command line win over the file's.
 *
 * - Kafka topics and partitions of the file apply only on Kafka (with --brokers), and its `name` is
 *   the consumer group (--group; by name the default is riptide-<pipeline>): without --brokers the
 *   run uses the embedded generator (or --input) as `riptide run <name>` does.
 * - A Redis sink in the file allows --redis URL, which turns it on (the file holds no URL); without
 *   --redis nothing is written to Redis. --redis with a file that has no enabled Redis sink is refused.
 * - WebSocket endpoints are served with --http HOST:PORT.
 */
import { UsageError } from "../cli/args.js";
import { loadPipelineConfig, type PipelineConfig } from "./pipeline-config.js";

export type RunValues = Record<string, string | boolean | undefined>;

export function isPipelineFile(arg: string | undefined): boolean {
  return arg !== undefined && /\.ya?ml$/i.test(arg);
}

/** The option values of a run of `config`: the file's, completed and overridden by `values`. */
export function runValues(config: PipelineConfig, values: RunValues): RunValues {
  const out: RunValues = { ...values };
  if (values["brokers"] !== undefined) {
    if (out["input-topic"] === undefined && config.inputTopics.length > 0) out["input-topic"] = config.inputTopics.join(",");
    if (out["output-topic"] === undefined && config.outputTopic !== undefined) out["output-topic"] = config.outputTopic;
    if (out["partitions"] === undefined && config.partitions !== undefined) out["partitions"] = String(config.partitions);
    // The file's name is the consumer group, as a Kafka Streams application.id is.
    if (out["group"] === undefined) out["group"] = config.name;
  }
  if (values["redis"] !== undefined && !config.redis) {
    throw new UsageError(`--redis: ${config.file} has no enabled Redis sink (${REDIS_SINK[config.pipeline] ?? `${config.pipeline} writes nothing to Redis`})`);
  }
  return out;
}

const REDIS_SINK: Readonly<Record<string, string>> = {
  "engagement-analytics": 'add to output_sinks: - type: "redis", key_pattern: "rec:{user_id}"',
  "driver-tracking": 'add to output_destinations: - type: "redis-geo", key_pattern: "drivers:{region}", and the operation update_spatial_index',
  "message-delivery": 'add to delivery_channels: - type: "redis", key_pattern: "pending:{user_id}"',
};

/** `riptide run FILE.yaml …` → the pipeline name and values `riptide run` goes on with. */
export function pipelineFileArgs(parsed: { values: RunValues; positionals: string[] }): { values: RunValues; positionals: string[]; config: PipelineConfig } {
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`run takes one pipeline name or file, got ${positionals.join(" ")}`);
  if (values["topology"] !== undefined) throw new UsageError(`--topology runs a DSL module; ${positionals[0]} is a pipeline file (give one of them)`);
  const config = loadPipelineConfig(positionals[0]!);
  return { values: runValues(config, values), positionals: [config.pipeline], config };
}
