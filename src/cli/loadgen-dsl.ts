/**
 * `riptide loadgen --kind ride-matching|message-enrichment [--topic-prefix P]`: the input topics of
 * a DSL pipeline (src/pipelines/topologies/), the events `riptide run <kind>` generates in-process
 * for the same --seed/--drivers, JSON one event per message, keyed by the field the topology joins
 * on (librdkafka's partitioner then puts a key in the same partition of every topic: the topics
 * are co-partitioned). Tables first (their topics have no event time), then the streams merged in
 * event-time order.
 */
import { performance } from "node:perf_hooks";
import { numberOption, UsageError } from "./args.js";
import { ensureTopic } from "./kafka.js";
import { produceWithBackoff } from "./loadgen-produce.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import type { DslPipeline, GeneratedTopic } from "../pipelines/topologies/index.js";

const ALLOWED = new Set(["brokers", "kind", "topic-prefix", "rate", "events", "partitions", "seed", "drivers", "json", "quiet", "help", "kafka-config"]);

export async function dslLoadgen(p: DslPipeline, brokers: string, values: Record<string, string | boolean | undefined>): Promise<number> {
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined && !ALLOWED.has(k)) throw new UsageError(`--${k} does not apply to --kind ${p.name} (it takes --rate, --events, --partitions, --seed, --drivers, --topic-prefix, --kafka-config, --json, --quiet)`);
  }
  const rate = numberOption(values, "rate", { min: 1 });
  if (rate === undefined) throw new UsageError("loadgen needs --rate N (events per second)");
  const events = numberOption(values, "events", { integer: true, min: 1 });
  if (events === undefined) throw new UsageError(`--kind ${p.name} needs --events N (the generated streams are bounded)`);
  const partitions = numberOption(values, "partitions", { integer: true, min: 1, max: 10_000 }) ?? 4;
  const seed = numberOption(values, "seed", { integer: true, min: 0 }) ?? 42;
  const users = numberOption(values, "drivers", { integer: true, min: 1 });
  const prefix = (values["topic-prefix"] as string | undefined) ?? "";
  const quiet = values["quiet"] === true;
  const topics = Object.entries(p.generate(prefix, events, seed, users));

  const admin = rdkafkaClientFactory.createAdmin({ brokers });
  await admin.connect();
  try {
    for (const [t] of topics) {
      const got = await ensureTopic(admin, t, partitions);
      if (got !== partitions) throw new UsageError(`topic ${t} exists with ${got} partitions, not ${partitions}: the topics of ${p.name} must be co-partitioned`);
    }
  } finally {
    await admin.disconnect();
  }
  let errors = 0;
  let delivered = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers, lingerMs: 5, maxQueuedMessages: 1_000_000 });
  producer.onDelivery((err) => { if (err) errors++; else delivered++; });
  await producer.connect();
  const started = performance.now();
  let sent = 0;
  let lastPrint = 0;
  const tty = process.stderr.isTTY === true;
  const send = async (topic: string, g: GeneratedTopic, e: Record<string, unknown>): Promise<void> => {
    while (((performance.now() - started) / 1000) * rate < sent + 1) {
      producer.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
    await produceWithBackoff(producer, topic, null, Buffer.from(JSON.stringify(e)), String(e[g.key]));
    sent++;
    if (sent % 64 === 0) producer.poll();
    const now = performance.now();
    if (!quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${p.name}: ${sent} events, ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    }
  };
  // Tables first, whole.
  for (const [t, g] of topics) {
    if (g.time !== undefined) continue;
    for (let i = 0; i < g.count; i++) await send(t, g, g.make(i) as Record<string, unknown>);
  }
  // Streams merged by event time.
  const streams = topics.filter(([, g]) => g.time !== undefined).map(([t, g]) => ({ t, g, i: 0, next: g.count > 0 ? (g.make(0) as Record<string, unknown>) : undefined }));
  for (;;) {
    let best: (typeof streams)[number] | undefined;
    for (const s of streams) if (s.next && (!best || (s.next[s.g.time!] as number) < (best.next![best.g.time!] as number))) best = s;
    if (!best) break;
    await send(best.t, best.g, best.next!);
    best.i++;
    best.next = best.i < best.g.count ? (best.g.make(best.i) as Record<string, unknown>) : undefined;
  }
  while (delivered + errors < sent) {
    producer.poll();
    await new Promise((r) => setTimeout(r, 5));
  }
  await producer.disconnect(10_000).catch(() => undefined);
  const seconds = (performance.now() - started) / 1000;
  const summary = { kind: p.name, topics: topics.map(([t, g]) => ({ topic: t, events: g.count })), events: sent, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors };
  if (!quiet && tty) process.stderr.write("\n");
  if (values["json"]) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!quiet) process.stderr.write(`${p.name}: ${sent} events in ${summary.seconds} s (${summary.eventsPerSec} events/s), errors ${errors}\n`);
  return errors > 0 ? 1 : 0;
}
