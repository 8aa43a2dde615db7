/**
 * `riptide loadgen --kind engagement --topic VIEWS,METADATA`: the engagement generator's stream
 * (src/sources/engagement-generator.ts, what `riptide run engagement-analytics` generates in-process
 * for the same --seed/--partitions, --drivers = users). First the whole catalog into METADATA (a
 * compacted topic, keyed by contentId), then the views into VIEWS as JSON, generator partition p to
 * topic partition p, keyed by userId (a user's views stay in order). Every viewed contentId is in
 * the catalog.
 */
import { performance } from "node:perf_hooks";
import { produceWithBackoff } from "./loadgen.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { EngagementGenerator, type ViewColumns } from "../sources/engagement-generator.js";
import { ensureTopic } from "./kafka.js";

export interface EngagementLoadgenOptions {
  brokers: string;
  viewsTopic: string;
  metadataTopic: string;
  rate: number;
  events: number | undefined;
  duration: number | undefined;
  partitions: number;
  seed: number;
  users: number | undefined;
  json: boolean;
  quiet: boolean;
}

export async function engagementLoadgen(o: EngagementLoadgenOptions): Promise<number> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: o.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, o.viewsTopic, o.partitions);
  await ensureTopic(admin, o.metadataTopic, o.partitions, { "cleanup.policy": "compact" });
  await admin.disconnect();

  let errors = 0;
  let delivered = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers: o.brokers, lingerMs: 5, maxQueuedMessages: 1_000_000 });
  producer.onDelivery((err) => { if (err) errors++; else delivered++; });
  await producer.connect();
  let messages = 0;
  const produce = async (topic: string, p: number | null, value: Buffer, key: string | null): Promise<void> => {
    await produceWithBackoff(producer, topic, p, value, key);
    messages++;
  };

  const gen = new EngagementGenerator({ seed: o.seed, partitions, ...(o.users !== undefined && { users: o.users }) });
  const catalog = gen.catalog();
  for (const row of catalog) await produce(o.metadataTopic, null, Buffer.from(JSON.stringify(row)), row.contentId);
  // The table first: a run started afterwards reads it to its end before any view.
  await producer.flush(60_000).catch(() => undefined);

  const batch = 256;
  const cols: ViewColumns = {
    userId: new Uint32Array(batch), contentId: new Uint32Array(batch), watchSeconds: new Float64Array(batch),
    durationSeconds: new Float64Array(batch), ts: new Float64Array(batch),
  };
  const total = o.events ?? Infinity;
  const endAt = o.duration === undefined ? Infinity : performance.now() + o.duration * 1000;
  const started = performance.now();
  let sent = 0;
  let lastPrint = 0;
  const tty = process.stderr.isTTY === true;
  let p = 0;
  while (sent < total && performance.now() < endAt) {
    const due = ((performance.now() - started) / 1000) * o.rate - sent;
    if (due < Math.min(batch, o.rate / 200)) {
      producer.poll();
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const n = Math.min(batch, total - sent, Math.max(1, Math.floor(due)));
    gen.fill(p, cols, 0, n);
    for (let i = 0; i < n; i++) {
      const e = gen.toEvent(cols, i);
      const key = e["userId"] as string;
      await produce(o.viewsTopic, p, Buffer.from(JSON.stringify(e)), key === "" ? null : key);
    }
    sent += n;
    p = (p + 1) % partitions;
    if (messages % 64 === 0) producer.poll();
    const now = performance.now();
    if (!o.quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${sent} views, ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    }
  }
  await producer.flush(60_000).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  while (delivered + errors < messages && Date.now() < deadline) {
    producer.poll();
    await new Promise((r) => setTimeout(r, 5));
  }
  await producer.disconnect(10_000).catch(() => undefined);
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    kind: "engagement", topic: o.viewsTopic, metadataTopic: o.metadataTopic, format: "json", partitions, events: sent,
    contents: catalog.length, messages, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!o.quiet) process.stderr.write(`${tty ? "\n" : ""}loadgen: ${catalog.length} contents to ${o.metadataTopic}, ${sent} views to ${o.viewsTopic} in ${summary.seconds} s, ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
