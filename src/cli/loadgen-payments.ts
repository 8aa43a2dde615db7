/**
 * `riptide loadgen --kind payments`: the payment generator's events (src/sources/payment-generator.ts,
 * the stream `riptide run payments` generates in-process for the same --seed/--partitions, --drivers
 * = users) into one topic as JSON, one event per message. Generator partition p goes to topic
 * partition p, keyed by userId, so a user's payments stay in order.
 */
import { performance } from "node:perf_hooks";
import { drain, StagedRecords } from "./loadgen-produce.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { PaymentGenerator, type PaymentColumns } from "../sources/payment-generator.js";
import { ensureTopic } from "./kafka.js";

export interface PaymentLoadgenOptions {
  brokers: string;
  topic: string;
  rate: number;
  events: number | undefined;
  duration: number | undefined;
  partitions: number;
  seed: number;
  users: number | undefined;
  json: boolean;
  quiet: boolean;
}

export async function paymentLoadgen(o: PaymentLoadgenOptions): Promise<number> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: o.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, o.topic, o.partitions);
  await admin.disconnect();

  let errors = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers: o.brokers, lingerMs: 5, maxQueuedMessages: 1_000_000, deliveryReports: "errors" });
  // Only failures are reported (no callback per message); drain() waits for the rest.
  producer.onDelivery((err) => { if (err) errors++; });
  await producer.connect();

  const gen = new PaymentGenerator({ seed: o.seed, partitions, ...(o.users !== undefined && { users: o.users }) });
  const batch = 256;
  const cols: PaymentColumns = { paymentId: new Uint32Array(batch), userId: new Uint32Array(batch), amount: new Float64Array(batch), ts: new Float64Array(batch) };
  const total = o.events ?? Infinity;
  const endAt = o.duration === undefined ? Infinity : performance.now() + o.duration * 1000;
  const started = performance.now();
  let sent = 0;
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
    gen.fill(p, cols, 0, n);
    for (let i = 0; i < n; i++) {
      const e = gen.toEvent(cols, i);
      const key = e["userId"] as string;
      staged.add(o.topic, p, JSON.stringify(e), key === "" ? null : key);
    }
    await staged.send();
    messages += n;
    sent += n;
    p = (p + 1) % partitions;
    producer.poll(); // delivery reports, once per batch
    const now = performance.now();
    if (!o.quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${sent} payment events, ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
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
    kind: "payments", topic: o.topic, format: "json", partitions, events: sent, messages,
    seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!o.quiet) process.stderr.write(`${tty ? "\n" : ""}loadgen: ${sent} payment events to ${o.topic} in ${summary.seconds} s, ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
