/**
 * `riptide loadgen --kind messages`: the chat generator's traffic (src/sources/message-generator.ts,
 * the stream `riptide run message-delivery` generates in-process) into Kafka as JSON, one event per
 * message: `--topic MESSAGES` carries messages and presence events together, `--topic
 * MESSAGES,PRESENCE` splits them. Messages are keyed by chatId (generator partition p → partition p,
 * so a chat's messages stay in order), presence events by userId. The generator runs with the
 * membership table the Kafka run checks (seed 42, 1000 users) and as many partitions as the
 * messages topic has.
 */
import { performance } from "node:perf_hooks";
import { drain, StagedRecords } from "./loadgen-produce.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { MessageGenerator } from "../sources/message-generator.js";
import { ensureTopic } from "./kafka.js";

export interface MessageLoadgenOptions {
  brokers: string;
  messagesTopic: string;
  /** Presence events' topic (undefined: the messages topic). */
  presenceTopic: string | undefined;
  rate: number;
  events: number | undefined;
  duration: number | undefined;
  partitions: number;
  json: boolean;
  quiet: boolean;
}

export async function messageLoadgen(o: MessageLoadgenOptions): Promise<number> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: o.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, o.messagesTopic, o.partitions);
  const presencePartitions = o.presenceTopic !== undefined ? await ensureTopic(admin, o.presenceTopic, o.partitions) : partitions;
  await admin.disconnect();

  let errors = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers: o.brokers, lingerMs: 5, maxQueuedMessages: 1_000_000, deliveryReports: "errors" });
  // Only failures are reported (no callback per message); drain() waits for the rest.
  producer.onDelivery((err) => { if (err) errors++; });
  await producer.connect();

  const gen = new MessageGenerator({ partitions });
  const next = new Float64Array(partitions);
  const batch = 256;
  const total = o.events ?? Infinity;
  const endAt = o.duration === undefined ? Infinity : performance.now() + o.duration * 1000;
  const started = performance.now();
  let sent = 0;
  let presence = 0;
  let messages = 0;
  let lastPrint = 0;
  const tty = process.stderr.isTTY === true;

  const staged = new StagedRecords(producer);

  let p = 0;
  while (sent < total && performance.now() < endAt) {
    const due = ((performance.now() - started) / 1000) * o.rate - sent;
    if (due < Math.min(batch, o.rate / 200)) {
      producer.poll();
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const n = Math.min(batch, total - sent, Math.max(1, Math.floor(due)));
    for (let i = 0; i < n; i++) {
      const e = gen.event(p, next[p]! + i);
      const value = JSON.stringify(e);
      if ("messageId" in e) {
        const key = e["chatId"] as string;
        staged.add(o.messagesTopic, p, value, key === "" ? null : key);
      } else {
        presence++;
        const key = e["userId"] as string;
        if (o.presenceTopic !== undefined) staged.add(o.presenceTopic, p % presencePartitions, value, key === "" ? null : key);
        else staged.add(o.messagesTopic, p, value, key === "" ? null : key);
      }
    }
    await staged.send();
    messages += n;
    next[p] = next[p]! + n;
    sent += n;
    p = (p + 1) % partitions;
    producer.poll(); // delivery reports, once per batch
    const now = performance.now();
    if (!o.quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${sent} chat events, ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
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
    kind: "messages", topic: o.messagesTopic, ...(o.presenceTopic !== undefined && { presenceTopic: o.presenceTopic }), format: "json", partitions,
    events: sent, presence, messages, seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!o.quiet) process.stderr.write(`${tty ? "\n" : ""}loadgen: ${sent} chat events (${presence} presence) to ${o.messagesTopic}${o.presenceTopic ? `,${o.presenceTopic}` : ""} in ${summary.seconds} s, ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
