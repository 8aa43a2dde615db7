/**
 * Pipeline files: the seed's YAML descriptions (`stream_pipeline`, `location_pipeline`,
 * `message_pipeline`) as configuration of the built-in pipelines.
 *
 *   pipelines/x.yaml ──► YamlReader (positions) ──► PipelineConfig ──► run options (./run-options.ts)
 *                        top-level key = the kind    built-in pipeline,   --input-topic, --output-topic,
 *                        operations → steps          topics, partitions,  --partitions on Kafka;
 *                        sinks → real sinks          redis on/off, …      --redis allowed or not
 *
 * Nothing here runs anything: a file names which built-in pipeline runs and fills options the
 * command line can override. Anything the built-in pipeline does not do (an unknown operation, a
 * sink Riptide has no client for, a window size the kernel does not have) is refused with
 * `file:line:col path: …`.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "../cli/args.js";
import { kindOfOperation, OPERATIONS, type PipelineKind } from "./operations.js";
import { YamlReader, type At } from "./yaml-reader.js";

export interface PipelineConfig {
  readonly file: string;
  readonly kind: PipelineKind;
  /** The file's `name:`. */
  readonly name: string;
  /** The built-in pipeline that runs it (`riptide pipelines`). */
  readonly pipeline: string;
  /** Kafka input topics in the order `--input-topic` takes them (empty: none given). */
  readonly inputTopics: readonly string[];
  /** Kafka output topic (`--output-topic`), if the file names one. */
  readonly outputTopic?: string;
  /** Partitions of topics created when missing (`--partitions` on Kafka). */
  readonly partitions?: number;
  /** An enabled Redis sink: `--redis URL` is allowed (and needed to write to Redis). */
  readonly redis: boolean;
  /** WebSocket endpoint served with `--http` (driver-eta: /driver-updates, message-delivery: /messages). */
  readonly websocket?: string;
  /** stream_pipeline: the tumbling window's size. */
  readonly windowMs?: number;
  /** The operations listed, in file order. */
  readonly operations: readonly string[];
}

const KINDS: readonly PipelineKind[] = ["stream_pipeline", "location_pipeline", "message_pipeline"];

const UNITS: Readonly<Record<string, number>> = {
  ms: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** "5 minutes", "30s", "1.5 hours" → milliseconds; a string saying what is wrong otherwise. */
export function parseDuration(text: string): number | string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$/.exec(text);
  if (!m) return `expected a number and a unit, e.g. "5 minutes"`;
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return `unknown unit ${JSON.stringify(m[2])} (known: ms, seconds, minutes, hours, days)`;
  const ms = Number(m[1]) * unit;
  if (!(ms > 0)) return "must be more than 0";
  return ms;
}

/** Reads and validates a pipeline file. */
export function loadPipelineConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${file}: cannot read the pipeline file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parsePipelineConfig(text, file);
}

/** Validates a pipeline file's text; `file` is only used in messages. */
export function parsePipelineConfig(text: string, file: string): PipelineConfig {
  const r = new YamlReader(file, text);
  if (r.root.node === null) throw new UsageError(`${file}: empty pipeline file (expected one of ${KINDS.join(", ")})`);
  const top = r.map(r.root, { optional: KINDS }, "a pipeline file");
  if (top.size !== 1) r.fail(r.root, top.size === 0 ? `expected one of ${KINDS.join(", ")}` : `a pipeline file holds one pipeline, got ${[...top.keys()].join(" and ")}`);
  const [kind, at] = [...top][0]! as [PipelineKind, At];
  if (kind === "stream_pipeline") return streamPipeline(r, at);
  if (kind === "location_pipeline") return locationPipeline(r, at);
  return messagePipeline(r, at);
}

// ── shared pieces ────────────────────────────────────────────────────────────────────────────────

interface ListedOp {
  readonly name: string;
  readonly at: At;
  /** stream_pipeline: the type of the processor it is listed in. */
  readonly processorType?: string;
}

/** The operations of one processor/stage: known in this kind, each listed once over the file. */
function readOperations(r: YamlReader, at: At, kind: PipelineKind, seen: Map<string, ListedOp>, processorType?: string): void {
  const known = OPERATIONS[kind];
  for (const item of r.seq(at, "operations", 1)) {
    const name = r.string(item, "an operation");
    if (!(name in known)) {
      const other = kindOfOperation(name);
      if (other) r.fail(item, `operation ${JSON.stringify(name)} belongs to ${other} (${OPERATIONS[other][name]!.pipelines.join(", ")}), not ${kind}`);
      r.fail(item, `unknown operation ${JSON.stringify(name)} (known: ${Object.keys(known).join(", ")})`);
    }
    const first = seen.get(name);
    if (first) r.fail(item, `operation ${JSON.stringify(name)} is listed twice (first at ${r.where(first.at)})`);
    seen.set(name, { name, at: item, ...(processorType !== undefined && { processorType }) });
  }
}

/** Every operation the pipeline always runs must be listed: leaving it out would not remove it. */
function requireOperations(r: YamlReader, at: At, kind: PipelineKind, pipeline: string, seen: Map<string, ListedOp>): void {
  for (const [name, op] of Object.entries(OPERATIONS[kind])) {
    if (!op.pipelines.includes(pipeline) || op.optional !== undefined || seen.has(name)) continue;
    r.fail(at, `operation ${JSON.stringify(name)} is required: ${pipeline} always runs it (${op.step}) and cannot leave it out; list it`);
  }
}

interface SinkType {
  readonly required?: readonly string[];
  readonly optional?: readonly string[];
  /** Riptide has no such sink: only `enabled: false` is accepted; the reason. */
  readonly unavailable?: string;
}

interface ListedSink {
  readonly type: string;
  readonly at: At;
  readonly typeAt: At;
  readonly fields: Map<string, At>;
}

/** A list of sinks/sources/channels by `type`; returns the enabled ones (all are checked). */
function readSinks(r: YamlReader, at: At, what: string, types: Readonly<Record<string, SinkType>>, min = 0): ListedSink[] {
  const out: ListedSink[] = [];
  for (const item of r.seq(at, what, min)) {
    const typeAt = r.peek(item, "type", `an item of ${what}`);
    const type = r.string(typeAt, "type");
    const spec = types[type];
    if (!spec) r.fail(typeAt, `unknown ${what} type ${JSON.stringify(type)} (known: ${Object.keys(types).join(", ")})`);
    const fields = r.map(item, { required: ["type", ...(spec.required ?? [])], optional: [...(spec.optional ?? []), "enabled"] }, `a ${type} item of ${what}`);
    const enabledAt = fields.get("enabled");
    const enabled = enabledAt === undefined ? true : r.boolean(enabledAt, "enabled");
    if (spec.unavailable !== undefined && enabled) {
      r.fail(typeAt, `${what} type ${JSON.stringify(type)} is not available: ${spec.unavailable}; keep it with "enabled: false" or remove it`);
    }
    if (enabled) out.push({ type, at: item, typeAt, fields });
  }
  return out;
}

function only(r: YamlReader, sinks: ListedSink[], type: string, what: string): ListedSink | undefined {
  const of = sinks.filter((s) => s.type === type);
  if (of.length > 1) r.fail(of[1]!.typeAt, `a second enabled ${type} item in ${what} (the built-in pipeline has one; first at ${r.where(of[0]!.typeAt)})`);
  return of[0];
}

function expectValue(r: YamlReader, sink: ListedSink, key: string, expected: string, why: string): void {
  const at = sink.fields.get(key)!;
  const v = r.string(at, key);
  if (v !== expected) r.fail(at, `${key} ${JSON.stringify(v)}: ${why}, so it must be ${JSON.stringify(expected)}`);
}

/** Kafka input sources: topics in order, their partition count (one value for all). */
function kafkaSources(r: YamlReader, sources: ListedSink[]): { topics: string[]; partitions?: number } {
  let partitions: { n: number; at: At } | undefined;
  const topics: string[] = [];
  for (const s of sources) {
    topics.push(r.string(s.fields.get("topic")!, "topic"));
    const pAt = s.fields.get("partitions");
    if (pAt) {
      const n = r.integer(pAt, "partitions", 1, 10_000);
      if (partitions && partitions.n !== n) {
        r.fail(pAt, `partitions ${n} differs from ${partitions.n} at ${r.where(partitions.at)}: --partitions is one count for every topic Riptide creates`);
      }
      partitions = { n, at: pAt };
    }
    const rAt = s.fields.get("replication_factor");
    if (rAt && r.integer(rAt, "replication_factor", 1, 1000) !== 1) {
      r.fail(rAt, "Riptide creates missing topics with replication factor 1 (src/cli/kafka.ts); create the topic with the replication you need beforehand (it is used as it is) and drop this key");
    }
  }
  return { topics, ...(partitions && { partitions: partitions.n }) };
}

const KAFKA_SOURCE: SinkType = { required: ["topic"], optional: ["partitions", "replication_factor"] };

// ── stream_pipeline → engagement-analytics ───────────────────────────────────────────────────────

const ENGAGEMENT_WINDOW_MS = 300_000; // src/pipelines/engagement/spec.ts WINDOW_MS

function streamPipeline(r: YamlReader, at: At): PipelineConfig {
  const kind = "stream_pipeline";
  const pipeline = "engagement-analytics";
  const m = r.map(at, { required: ["name", "input_topics", "processors", "output_sinks"] }, kind);
  const name = r.string(m.get("name")!, "name");
  const topicsAt = m.get("input_topics")!;
  const listed = r.seq(topicsAt, "input_topics", 1).map((t) => r.string(t, "a topic"));
  if (listed.length !== 2 && listed.length !== 3) {
    r.fail(topicsAt, `engagement-analytics reads two or three input topics: the views, optionally the user interactions, then the content-metadata table (the seed's order: "user-views", "user-interactions", "content-metadata"), got ${listed.length}`);
  }
  // --input-topic order: VIEWS,METADATA[,INTERACTIONS] (src/cli/kafka-engagement.ts).
  const inputTopics = listed.length === 3 ? [listed[0]!, listed[2]!, listed[1]!] : listed;
  const ops = new Map<string, ListedOp>();
  let windowMs: number | undefined;
  const processorsAt = m.get("processors")!;
  for (const p of r.seq(processorsAt, "processors", 1)) {
    const pm = r.map(p, { required: ["name", "type", "operations"], optional: ["window_size"] }, "a processor");
    r.string(pm.get("name")!, "name");
    const typeAt = pm.get("type")!;
    const type = r.string(typeAt, "type");
    if (type !== "tumbling-window" && type !== "stream-processor") r.fail(typeAt, `unknown processor type ${JSON.stringify(type)} (known: tumbling-window, stream-processor)`);
    const sizeAt = pm.get("window_size");
    if (type === "tumbling-window") {
      if (!sizeAt) r.fail(p, "a tumbling-window processor needs the key \"window_size\"");
      const text = r.string(sizeAt, "window_size");
      const ms = parseDuration(text);
      if (typeof ms === "string") r.fail(sizeAt, `window_size ${JSON.stringify(text)}: ${ms}`);
      if (ms !== ENGAGEMENT_WINDOW_MS) {
        r.fail(sizeAt, `window_size ${JSON.stringify(text)}: engagement-analytics's view windows are 5 minutes (fixed in its shard kernel, src/pipelines/engagement/spec.ts)`);
      }
      windowMs = ms;
    } else if (sizeAt) {
      r.fail(sizeAt, "window_size applies to a processor of type tumbling-window");
    }
    readOperations(r, pm.get("operations")!, kind, ops, type);
  }
  for (const op of ops.values()) {
    const want = OPERATIONS[kind][op.name]!.processorType!;
    if (op.processorType !== want) r.fail(op.at, `operation ${JSON.stringify(op.name)} (${OPERATIONS[kind][op.name]!.step}) belongs in a processor of type ${want}, not ${op.processorType}`);
  }
  requireOperations(r, processorsAt, kind, pipeline, ops);

  const what = "output_sinks";
  const sinks = readSinks(r, m.get(what)!, what, {
    kafka: { required: ["topic"] },
    redis: { required: ["key_pattern"] },
    elasticsearch: { optional: ["index"], unavailable: "Riptide has no Elasticsearch client (the window results are on the Kafka topic)" },
  });
  const kafka = only(r, sinks, "kafka", what);
  const redis = only(r, sinks, "redis", what);
  if (redis) expectValue(r, redis, "key_pattern", "rec:{user_id}", "the built-in sink writes rec:<userId> (--redis-prefix P prepends P)");
  return {
    file: r.file, kind, name, pipeline, inputTopics,
    ...(kafka && { outputTopic: r.string(kafka.fields.get("topic")!, "topic") }),
    redis: redis !== undefined, windowMs, operations: [...ops.keys()],
  };
}

// ── location_pipeline → driver-tracking or driver-eta ────────────────────────────────────────────

function locationPipeline(r: YamlReader, at: At): PipelineConfig {
  const kind = "location_pipeline";
  const m = r.map(at, { required: ["name", "input_sources", "stream_processors", "output_destinations"] }, kind);
  const name = r.string(m.get("name")!, "name");
  const sourcesAt = m.get("input_sources")!;
  const sources = readSinks(r, sourcesAt, "input_sources", { kafka: KAFKA_SOURCE }, 1);
  const ops = new Map<string, ListedOp>();
  const processorsAt = m.get("stream_processors")!;
  for (const p of r.seq(processorsAt, "stream_processors", 1)) {
    const pm = r.map(p, { required: ["name", "operations"] }, "a stream processor");
    r.string(pm.get("name")!, "name");
    readOperations(r, pm.get("operations")!, kind, ops);
  }
  // driver-eta's steps and driver-tracking's own steps are two built-in pipelines.
  const ownOp = (p: string): ListedOp | undefined => [...ops.values()].find((o) => { const ps = OPERATIONS[kind][o.name]!.pipelines; return ps.length === 1 && ps[0] === p; });
  const eta = ownOp("driver-eta");
  const tracking = ownOp("driver-tracking");
  if (eta && tracking) {
    r.fail(eta.at, `operation ${JSON.stringify(eta.name)} is driver-eta's and ${JSON.stringify(tracking.name)} (${r.where(tracking.at)}) is driver-tracking's: two built-in pipelines that do not run in one process (driver-eta also reads ride requests and keeps its matching state in one shard); describe them in two files, as pipelines/driver-location-tracking.yaml and pipelines/driver-eta.yaml do, and run both`);
  }
  const pipeline = eta ? "driver-eta" : "driver-tracking";
  requireOperations(r, processorsAt, kind, pipeline, ops);

  const { topics, partitions } = kafkaSources(r, sources);
  const wantSources = pipeline === "driver-eta" ? 2 : 1;
  if (sources.length !== wantSources) {
    r.fail(sourcesAt, pipeline === "driver-eta"
      ? `driver-eta reads two kafka sources, driver locations and then ride requests, got ${sources.length}`
      : `driver-tracking reads one kafka source (driver locations), got ${sources.length}`);
  }

  const what = "output_destinations";
  const dests = readSinks(r, m.get(what)!, what, {
    kafka: { required: ["topic"] },
    "redis-geo": { required: ["key_pattern"] },
    websocket: { required: ["endpoint"] },
  });
  let outputTopic: string | undefined;
  let websocket: string | undefined;
  const geo = dests.find((d) => d.type === "redis-geo");
  if (pipeline === "driver-tracking") {
    const ws = dests.find((d) => d.type === "websocket");
    if (ws) r.fail(ws.typeAt, "driver-tracking has no WebSocket output (/driver-updates streams driver-eta's availability updates: a location_pipeline with the eta-calculator operations)");
    const kafka = dests.filter((d) => d.type === "kafka");
    if (kafka.length > 1) r.fail(kafka[1]!.typeAt, `driver-tracking writes windows to one kafka topic (side outputs to <topic>.invalid, .anomaly, .late); first at ${r.where(kafka[0]!.typeAt)}`);
    if (kafka[0]) outputTopic = r.string(kafka[0].fields.get("topic")!, "topic");
    const geos = dests.filter((d) => d.type === "redis-geo");
    if (geos.length > 1) r.fail(geos[1]!.typeAt, "a second enabled redis-geo destination (driver-tracking keeps one GEO index)");
    if (geo) expectValue(r, geo, "key_pattern", "drivers:{region}", "the built-in GEO index is drivers:<geohash-5 region> (and drivers:active; --redis-prefix P prepends P)");
    const spatial = ops.get("update_spatial_index");
    if (spatial && !geo) r.fail(spatial.at, "update_spatial_index writes the Redis GEO index: it needs an enabled redis-geo destination");
    if (geo && !spatial) r.fail(geo.typeAt, "a redis-geo destination is written by the operation update_spatial_index: list it");
  } else {
    if (geo) r.fail(geo.typeAt, "driver-eta writes nothing to Redis (the GEO index is driver-tracking's update_spatial_index)");
    const ws = dests.filter((d) => d.type === "websocket");
    if (ws.length > 1) r.fail(ws[1]!.typeAt, "a second enabled websocket destination (driver-eta serves one, /driver-updates)");
    // Required: riptide run driver-eta --http always serves it (no option switches it off).
    if (!ws[0]) r.fail(m.get(what)!, "the websocket destination /driver-updates is required: driver-eta always serves its availability updates there when run with --http");
    expectValue(r, ws[0], "endpoint", "/driver-updates", "driver-eta's availability updates are served (with --http) on /driver-updates");
    websocket = "/driver-updates";
    outputTopic = etaTopics(r, dests.filter((d) => d.type === "kafka"));
  }
  return {
    file: r.file, kind, name, pipeline, inputTopics: topics, ...(outputTopic !== undefined && { outputTopic }),
    ...(partitions !== undefined && { partitions }), redis: geo !== undefined, ...(websocket && { websocket }), operations: [...ops.keys()],
  };
}

/**
 * driver-eta writes ETAs to --output-topic and availability to the same name with eta-updates
 * replaced by driver-availability-updates (else <topic>.availability): given either or both
 * topics, the --output-topic they come from.
 */
function etaTopics(r: YamlReader, kafka: ListedSink[]): string | undefined {
  let eta: { topic: string; at: At } | undefined;
  let availability: { topic: string; at: At } | undefined;
  for (const k of kafka) {
    const at = k.fields.get("topic")!;
    const topic = r.string(at, "topic");
    const isAvailability = topic.includes("driver-availability-updates") || topic.endsWith(".availability");
    const prev = isAvailability ? availability : eta;
    if (prev) r.fail(at, `a second ${isAvailability ? "availability" : "ETA"} topic (first at ${r.where(prev.at)}); driver-eta writes ETAs to one topic and availability updates to another`);
    if (isAvailability) availability = { topic, at };
    else eta = { topic, at };
  }
  const fromAvailability = availability && (availability.topic.endsWith(".availability")
    ? availability.topic.slice(0, -".availability".length)
    : availability.topic.replace("driver-availability-updates", "eta-updates"));
  if (eta && availability) {
    const expected = eta.topic.includes("eta-updates") ? eta.topic.replace("eta-updates", "driver-availability-updates") : `${eta.topic}.availability`;
    if (availability.topic !== expected) r.fail(availability.at, `driver-eta writes availability updates to ${JSON.stringify(expected)}, the name of its ETA topic ${JSON.stringify(eta.topic)} with eta-updates replaced by driver-availability-updates (else <topic>.availability)`);
  }
  return eta?.topic ?? fromAvailability;
}

// ── message_pipeline → message-delivery ──────────────────────────────────────────────────────────

function messagePipeline(r: YamlReader, at: At): PipelineConfig {
  const kind = "message_pipeline";
  const pipeline = "message-delivery";
  const m = r.map(at, { required: ["name", "ingestion", "processing_stages", "delivery_channels"] }, kind);
  const name = r.string(m.get("name")!, "name");
  const ingestionAt = m.get("ingestion")!;
  const sources = readSinks(r, ingestionAt, "ingestion", { kafka: { required: ["topic"], optional: ["partitions", "replication_factor", "partition_strategy"] } }, 1);
  if (sources.length < 1 || sources.length > 2) {
    r.fail(ingestionAt, `message-delivery reads one kafka topic with messages and presence, or two (messages, then presence), got ${sources.length}`);
  }
  for (const s of sources) {
    const psAt = s.fields.get("partition_strategy");
    if (psAt) {
      const v = r.string(psAt, "partition_strategy");
      if (v !== "hash_by_chat_id") r.fail(psAt, `partition_strategy ${JSON.stringify(v)}: message-delivery keeps per-chat order and chat sessions by chatId (its shard key; riptide loadgen keys messages by chatId), so it must be "hash_by_chat_id"`);
    }
  }
  const { topics, partitions } = kafkaSources(r, sources);
  const ops = new Map<string, ListedOp>();
  const stagesAt = m.get("processing_stages")!;
  for (const p of r.seq(stagesAt, "processing_stages", 1)) {
    const pm = r.map(p, { required: ["name", "operations"] }, "a processing stage");
    r.string(pm.get("name")!, "name");
    readOperations(r, pm.get("operations")!, kind, ops);
  }
  requireOperations(r, stagesAt, kind, pipeline, ops);

  const what = "delivery_channels";
  const channelsAt = m.get(what)!;
  const channels = readSinks(r, channelsAt, what, {
    websocket: { required: ["for"], optional: ["endpoint"] },
    push_notification: { required: ["for"] },
    kafka: { required: ["topic"], optional: ["for"] },
    redis: { required: ["key_pattern"], optional: ["for"] },
    sms_fallback: { required: ["for"], unavailable: "Riptide has no SMS gateway (messages that fail are FAILED statuses on the kafka channel's topic)" },
  });
  const ws = only(r, channels, "websocket", what);
  const push = only(r, channels, "push_notification", what);
  const kafka = only(r, channels, "kafka", what);
  const redis = only(r, channels, "redis", what);
  if (!ws) r.fail(channelsAt, "the websocket channel for online_users is required: message-delivery always routes messages to online recipients as delivery outputs (on /messages with --http)");
  if (!push) r.fail(channelsAt, "the push_notification channel for offline_users is required: message-delivery always routes messages to recently seen recipients as push outputs (<output-topic>.push on Kafka)");
  expectValue(r, ws, "for", "online_users", "the websocket channel delivers to recipients who are online");
  if (ws.fields.has("endpoint")) expectValue(r, ws, "endpoint", "/messages", "message-delivery serves its WebSocket (with --http) on /messages?user=ID");
  expectValue(r, push, "for", "offline_users", "push notifications go to recipients seen within the hour");
  if (kafka?.fields.has("for")) expectValue(r, kafka, "for", "delivery_status", "the kafka channel carries the statuses (SENT, DELIVERED, PUSHED, STORED, FAILED, READ)");
  if (redis) {
    expectValue(r, redis, "key_pattern", "pending:{user_id}", "stored messages wait in pending:<userId> lists (--redis-prefix P prepends P)");
    if (redis.fields.has("for")) expectValue(r, redis, "for", "store_and_forward", "the redis channel keeps messages for recipients not seen within the hour until they come online");
  }
  return {
    file: r.file, kind, name, pipeline, inputTopics: topics, ...(kafka && { outputTopic: r.string(kafka.fields.get("topic")!, "topic") }),
    ...(partitions !== undefined && { partitions }), redis: redis !== undefined, websocket: "/messages", operations: [...ops.keys()],
  };
}
