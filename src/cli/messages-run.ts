/**
 * `riptide run message-delivery`: what this pipeline adds to a run (kept out of main.ts).
 *
 *   - the AES-256-GCM key: --encryption-key HEX, else the environment's RIPTIDE_ENCRYPTION_KEY,
 *     else a random key for this run only (logged as "ephemeral", never its value)
 *   - the source: the seeded chat generator (--seed, --drivers = users, --partitions), or on Kafka
 *     `--input-topic incoming-messages[,presence]` (one topic carrying both kinds, or two; the
 *     second gets its own consumer, group <group>.requests) wrapped so the edge sees each event
 *   - the delivery channels (src/http/messages-hub.ts): WebSocket /messages?user=ID with --http,
 *     Redis pending:{userId} lists with --redis
 */
import type { KafkaRunSetup } from "./kafka.js";
import { MessagesHub } from "../http/messages-hub.js";
import { parseEncryptionKey } from "../pipelines/message-delivery/crypto.js";
import { bindMessageDelivery } from "../pipelines/message-delivery/edge.js";
import { MessageEdge } from "../pipelines/message-delivery/edge-state.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import type { Sink } from "../sinks/sink.js";
import { MessageEdgeSource } from "../sources/message-edge-source.js";
import { MESSAGE_DEFAULTS, MessageGenerator, MessageGeneratorSource } from "../sources/message-generator.js";
import { ChatMembership } from "../pipelines/message-delivery/spec.js";
import type { Source } from "../sources/source.js";
import { randomBytes } from "node:crypto";
import { UsageError } from "./args.js";

type Values = Record<string, unknown>;

export interface MessagesRun {
  readonly hub: MessagesHub;
  /** True when no key was given (a random one for this run). */
  readonly ephemeralKey: boolean;
  /** The definition the coordinator runs: channel records encrypted with the run's key. */
  bind(pipeline: PipelineDefinition, source: Source): PipelineDefinition;
  generatorSource(options: { seed?: number; users?: number; partitions?: number }, events: number): Source;
  /** Any source of raw events (Kafka, a JSON-lines file) with the edge run on every record. */
  wrap(source: Source): Source;
  kafkaSource(kafka: KafkaRunSetup, opts: {
    brokers: string; group: string; partitions: number | undefined; stopWhenIdleMs: number | undefined;
    pipeline: PipelineDefinition; onLog: (event: string, detail: Record<string, unknown>) => void;
  }): Promise<Source>;
  close(): Promise<void>;
}

export function prepareMessages(values: Values, opts: {
  topics: string[] | undefined; guarantee: string; redisSink: Sink | undefined; env?: NodeJS.ProcessEnv;
}): MessagesRun {
  const { topics } = opts;
  if (topics && (topics.length > 2 || topics.some((t) => t === ""))) {
    throw new UsageError("--input-topic: message-delivery reads incoming messages and presence, one topic with both or two, e.g. --input-topic incoming-messages,presence");
  }
  if (opts.guarantee === "exactly-once") {
    throw new UsageError("--guarantee exactly-once: message-delivery's edge state (presence, rate limit) is not in the transaction's snapshot yet (use at-least-once)");
  }
  const env = opts.env ?? process.env;
  const given = (values["encryption-key"] as string | undefined) ?? env["RIPTIDE_ENCRYPTION_KEY"];
  let key: Buffer;
  try {
    key = given !== undefined ? parseEncryptionKey(given, values["encryption-key"] !== undefined ? "--encryption-key" : "RIPTIDE_ENCRYPTION_KEY") : randomBytes(32);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const hub = opts.redisSink instanceof MessagesHub ? opts.redisSink : new MessagesHub();
  const membership = new ChatMembership(MESSAGE_DEFAULTS.seed, MESSAGE_DEFAULTS.users);
  const rateLimit = MESSAGE_DEFAULTS.rateLimit;
  let second: { close(): Promise<void> } | undefined;
  return {
    hub,
    ephemeralKey: given === undefined,
    bind: (pipeline, source) => ({
      ...bindMessageDelivery({ key, event: (out, i) => source.event(out, i), edge: (source as { edge?: MessageEdge }).edge }),
      processorConfig: pipeline.processorConfig,
    }),
    generatorSource(options, events) {
      try {
        return new MessageGeneratorSource(new MessageGenerator({
          ...(options.seed !== undefined && { seed: options.seed }),
          ...(options.users !== undefined && { users: options.users }),
          ...(options.partitions !== undefined && { partitions: options.partitions }),
        }), events);
      } catch (err) {
        if (err instanceof RangeError) throw new UsageError(err.message);
        throw err;
      }
    },
    wrap: (source) => new MessageEdgeSource(source, (messageName) => new MessageEdge({ membership, rateLimit, messageName })),
    async kafkaSource(kafka, o) {
      let source: Source = kafka.source;
      if (topics && topics.length === 2) {
        const { addSecondInputTopic } = await import("./kafka-rides.js");
        const s = await addSecondInputTopic(kafka.source, kafka.sink, { ...o, topic: topics[1]! });
        source = s.source;
        second = s;
      }
      return new MessageEdgeSource(source, (messageName) => new MessageEdge({ membership, rateLimit, messageName }));
    },
    async close() {
      await second?.close();
    },
  };
}
