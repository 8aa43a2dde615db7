/**
 * `riptide loadgen --kind engagement --topic VIEWS,METADATA[,INTERACTIONS]`: the engagement
 * generator's stream (src/sources/engagement-generator.ts, what `riptide run engagement-analytics`
 * generates in-process for the same --seed/--partitions, --drivers = users). First the whole
 * catalog into METADATA (a compacted topic, keyed by contentId), then the records as JSON,
 * generator partition p to topic partition p, keyed by userId (a user's events stay in order and on
 * one partition number in both topics): views into VIEWS and, with a third topic, the interleaved
 * interactions (ENGAGEMENT_INTERACTION_SHARE of the records) into INTERACTIONS, created with the
 * views' partition count (co-partitioned). Without it, views only (the same views as before for a
 * seed). Every viewed or interacted contentId is in the catalog. --events counts records of both.
 */
import { performance } from "node:perf_hooks";
import { drain, produceWithBackoff, StagedRecords } from "./loadgen-produce.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { ENGAGEMENT_INTERACTION_SHARE, EngagementGenerator, type ViewColumns } from "../sources/engagement-generator.js";
import { ensureTopic } from "./kafka.js";

export interface EngagementLoadgenOptions {
  brokers: string;
  viewsTopic: string;
  metadataTopic: string;
  /** Interactions into this topic (undefined: views only). */
  interactionsTopic?: string | undefined;
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
  if (o.interactionsTopic !== undefined) {
    const ip = await ensureTopic(admin, o.interactionsTopic, partitions);
    if (ip !== partitions) {
      await admin.disconnect();
      throw new Error(`the interactions topic ${o.interactionsTopic} has ${ip} partitions and the views topic ${partitions}: they must be co-partitioned`);
    }
  }
  await admin.disconnect();

  let errors = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers: o.brokers, lingerMs: 5, maxQueuedMessages: 1_000_000, deliveryReports: "errors" });
  // Only failures are reported (no callback per message); drain() waits for the rest.
  producer.onDelivery((err) => { if (err) errors++; });
  await producer.connect();
  let messages = 0;
  const produce = async (topic: string, p: number | null, value: Buffer, key: string | null): Promise<void> => {
    await produceWithBackoff(producer, topic, p, value, key);
    messages++;
  };
  const staged = new StagedRecords(producer);

  const gen = new EngagementGenerator({
    seed: o.seed, partitions, ...(o.users !== undefined && { users: o.users }),
    ...(o.interactionsTopic !== undefined && { interactionShare: ENGAGEMENT_INTERACTION_SHARE }),
  });
  const catalog = gen.catalog();
  for (const row of catalog) await produce(o.metadataTopic, null, Buffer.from(JSON.stringify(row)), row.contentId);
  // The table first: a run started afterwards reads it to its end before any view.
  await producer.flush(60_000).catch(() => undefined);

  const batch = 256;
  const cols: ViewColumns = {
    userId: new Uint32Array(batch), contentId: new Uint32Array(batch), watchSeconds: new Float64Array(batch),
    durationSeconds: new Float64Array(batch), ts: new Float64Array(batch), action: new Uint32Array(batch), rating: new Float64Array(batch),
  };
  let interactions = 0;
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
      const interaction = cols.action![i] !== 0;
      if (interaction) interactions++;
      staged.add(interaction ? o.interactionsTopic! : o.viewsTopic, p, JSON.stringify(e), key === "" ? null : key);
    }
    await staged.send();
    messages += n;
    sent += n;
    p = (p + 1) % partitions;
    producer.poll(); // delivery reports, once per batch
    const now = performance.now();
    if (!o.quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${sent} records (${interactions} interactions), ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    }
  }
  await drain(producer, (message) => {
    errors++;
    process.stderr.write(`loadgen: ${message}\n`);
  });
  await producer.disconnect(10_000).catch(() => undefined);
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    kind: "engagement", topic: o.viewsTopic, metadataTopic: o.metadataTopic,
    ...(o.interactionsTopic !== undefined && { interactionsTopic: o.interactionsTopic }), format: "json", partitions, events: sent,
    views: sent - interactions, interactions,
    contents: catalog.length, messages, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!o.quiet) process.stderr.write(`${tty ? "\n" : ""}loadgen: ${catalog.length} contents to ${o.metadataTopic}, ${sent - interactions} views to ${o.viewsTopic}${o.interactionsTopic !== undefined ? `, ${interactions} interactions to ${o.interactionsTopic}` : ""} in ${summary.seconds} s, ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
