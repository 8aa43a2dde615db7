/**
 * `riptide loadgen --kind rides --topic LOCATIONS,REQUESTS`: the ride generator's traffic (the
 * drivers of `--kind locations` with ride requests interleaved, exactly the stream `riptide run
 * surge-pricing` generates in-process for the same --seed/--drivers/--partitions) into two topics,
 * JSON one event per message. Generator partition p goes to partition p of both topics; locations
 * are keyed by driver id, requests by request id, so ids are consistent across the two topics.
 */
import { performance } from "node:perf_hooks";
import { drain, StagedRecords } from "./loadgen-produce.js";
import { rdkafkaClientFactory } from "../io/kafka/rdkafka.js";
import { RideGenerator, type RideColumns } from "../sources/ride-generator.js";
import { ensureTopic } from "./kafka.js";

export interface RideLoadgenOptions {
  brokers: string;
  locationsTopic: string;
  requestsTopic: string;
  rate: number;
  events: number | undefined;
  duration: number | undefined;
  partitions: number;
  seed: number;
  drivers: number;
  json: boolean;
  quiet: boolean;
}

export async function rideLoadgen(o: RideLoadgenOptions): Promise<number> {
  const admin = rdkafkaClientFactory.createAdmin({ brokers: o.brokers });
  await admin.connect();
  const partitions = await ensureTopic(admin, o.locationsTopic, o.partitions);
  await ensureTopic(admin, o.requestsTopic, partitions);
  await admin.disconnect();

  let errors = 0;
  const producer = rdkafkaClientFactory.createProducer({ brokers: o.brokers, lingerMs: 5, maxQueuedMessages: 1_000_000, deliveryReports: "errors" });
  // Only failures are reported (no callback per message); drain() waits for the rest.
  producer.onDelivery((err) => { if (err) errors++; });
  await producer.connect();

  const gen = new RideGenerator({ seed: o.seed, drivers: o.drivers, partitions });
  const batch = 256;
  const cols: RideColumns = {
    driver: new Uint32Array(batch), request: new Uint32Array(batch), lat: new Float64Array(batch), lon: new Float64Array(batch),
    ts: new Float64Array(batch), speed: new Float64Array(batch),
  };
  const total = o.events ?? Infinity;
  const endAt = o.duration === undefined ? Infinity : performance.now() + o.duration * 1000;
  const started = performance.now();
  let sent = 0;
  let messages = 0;
  let requests = 0;
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
      const isRequest = cols.request[i]! !== 0;
      if (isRequest) requests++;
      const key = (isRequest ? e["requestId"] : e["driverId"]) as string;
      staged.add(isRequest ? o.requestsTopic : o.locationsTopic, p, JSON.stringify(e), key === "" ? null : key);
    }
    await staged.send();
    messages += n;
    sent += n;
    p = (p + 1) % partitions;
    producer.poll(); // delivery reports, once per batch
    const now = performance.now();
    if (!o.quiet && now - lastPrint > (tty ? 250 : 5000)) {
      lastPrint = now;
      const line = `${sent} events (${requests} ride requests), ${Math.round(sent / Math.max((now - started) / 1000, 1e-3))} events/s, errors ${errors}`;
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
    kind: "rides", topics: [o.locationsTopic, o.requestsTopic], format: "json", partitions, events: sent, requests, messages,
    seconds: Math.round(seconds * 1000) / 1000, eventsPerSec: Math.round(sent / seconds), errors,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else if (!o.quiet) process.stderr.write(`${tty ? "\n" : ""}loadgen: ${sent} events (${requests} ride requests) to ${o.locationsTopic}, ${o.requestsTopic} in ${summary.seconds} s, ${errors} errors\n`);
  return errors > 0 ? 1 : 0;
}
