/**
 * Pipeline files against the real broker: a copy of a shipped file with unique topic names, run
 * with only --brokers (its topics and partitions come from the file), writes the same outputs as
 * the same pipeline run by name with --input-topic/--output-topic.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { DriverGenerator, type DriverColumns } from "../../src/sources/driver-generator.js";
import { MessageGenerator } from "../../src/sources/message-generator.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, ROOT, riptide, uniqueName } from "../support/kafka.js";

const dir = mkdtempSync(join(tmpdir(), "riptide-yaml-kafka-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A shipped file with its values replaced (each must occur), written to the temp dir. */
function fileWith(name: string, replace: Array<[string, string]>): string {
  let text = readFileSync(join(ROOT, "pipelines", name), "utf8");
  for (const [from, to] of replace) {
    expect(text.includes(from), `${from} in ${name}`).toBe(true);
    text = text.split(from).join(to);
  }
  const path = join(dir, `${uniqueName("p")}.yaml`);
  writeFileSync(path, text);
  return path;
}

async function runOk(args: string[]): Promise<{ events: number; outputs: Record<string, number> }> {
  const p = riptide(["run", ...args, "--stop-when-idle", "4", "--json", "--quiet", "--workers", "2"]);
  expect(await p.exited, p.stderr).toBe(0);
  return JSON.parse(p.stdout.trim().split("\n").pop()!) as { events: number; outputs: Record<string, number> };
}

/** Values of every message of a topic as sorted JSON strings, and the partitions they were on. */
async function topicContents(topic: string, fields?: readonly string[]): Promise<{ values: string[]; partitions: Set<number> }> {
  const msgs = await readAll([topic], 3000);
  const values = msgs.map((m) => {
    const o = JSON.parse(m.value!.toString()) as Record<string, unknown>;
    return JSON.stringify(fields ? Object.fromEntries(fields.map((f) => [f, o[f]])) : o);
  }).sort();
  return { values, partitions: new Set(msgs.map((m) => m.partition)) };
}

async function waitFor(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("pipeline files on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("driver-location-tracking.yaml: the file's topics and partitions; the same windows and side outputs as driver-tracking by name", async () => {
    const input = uniqueName("yaml-dl-in");
    const fromFile = uniqueName("yaml-dl-file");
    const byName = uniqueName("yaml-dl-name");
    await createTopic(input, 1);
    const gen = new DriverGenerator({ seed: 33, partitions: 1, drivers: 300, outOfOrderShare: 0.05, lateShare: 0.01, invalidShare: 0.01, teleportShare: 0.005 });
    const total = 20_000;
    const cols: DriverColumns = { driver: new Uint32Array(total), lat: new Float64Array(total), lon: new Float64Array(total), ts: new Float64Array(total), speed: new Float64Array(total) };
    gen.fill(0, cols, 0, total);
    const messages: Array<{ value: string; partition: number }> = [];
    for (let i = 0; i < total; i++) messages.push({ value: JSON.stringify(DriverGenerator.toEvent(cols, i, (id) => gen.driverName(id))), partition: 0 });
    await produceAll(input, messages);

    // Only --brokers: input and output topics come from the file, and partitions: 2 is the count of
    // the output topics Riptide creates (by name, they get the input's 1).
    const file = fileWith("driver-location-tracking.yaml", [['"driver-locations"', `"${input}"`], ['"driver-regions"', `"${fromFile}"`], ["partitions: 64", "partitions: 2"]]);
    const a = await runOk([file, "--brokers", BROKERS, "--group", uniqueName("g")]);
    const b = await runOk(["driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", byName, "--group", uniqueName("g")]);
    expect(a.events).toBe(total);
    expect(a.outputs).toEqual(b.outputs);
    expect(a.outputs["window"]).toBeGreaterThan(100);
    expect(a.outputs["invalid"]).toBeGreaterThan(0);
    expect(a.outputs["anomaly"]).toBeGreaterThan(0);
    for (const suffix of ["", ".invalid", ".anomaly", ".late"]) {
      const x = await topicContents(fromFile + suffix);
      const y = await topicContents(byName + suffix);
      expect(x.values.length, `${fromFile}${suffix}`).toBe(a.outputs[suffix === "" ? "window" : suffix.slice(1)]);
      expect(x.values, suffix).toEqual(y.values);
      if (x.values.length > 50) expect([...x.partitions].sort(), `${fromFile}${suffix} partitions`).toEqual([0, 1]);
      if (y.values.length > 0) expect([...y.partitions], `${byName}${suffix} partitions`).toEqual([0]);
    }
  }, 240_000);

  it("engagement-analytics.yaml: views, user interactions and the content-metadata table from the file's three topics, as engagement-analytics by name", async () => {
    const views = uniqueName("yaml-ea-views");
    const meta = uniqueName("yaml-ea-meta");
    const inter = uniqueName("yaml-ea-inter");
    const fromFile = uniqueName("yaml-ea-file");
    const byName = uniqueName("yaml-ea-name");
    const load = riptide(["loadgen", "--brokers", BROKERS, "--kind", "engagement", "--topic", `${views},${meta},${inter}`, "--rate", "100000",
      "--events", "30000", "--partitions", "1", "--drivers", "400", "--seed", "5", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const lg = JSON.parse(load.stdout.trim().split("\n").pop()!) as { views: number; interactions: number };
    // Output for output with the by-name run: the file without its interactions topic (with it, which
    // records are late depends on how the two topics' batches interleave, see the check below).
    const file = fileWith("engagement-analytics.yaml", [['"user-views"', `"${views}"`], ['    - "user-interactions"\n', ""], ['"content-metadata"', `"${meta}"`], ['"processed-analytics"', `"${fromFile}"`]]);
    const a = await runOk([file, "--brokers", BROKERS, "--group", uniqueName("g")]);
    const b = await runOk(["engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta}`, "--output-topic", byName, "--group", uniqueName("g")]);
    expect(a.events).toBe(lg.views);
    expect(a.outputs).toEqual(b.outputs);
    expect(a.outputs["window"]).toBeGreaterThan(100);
    expect(a.outputs["session"]).toBeGreaterThan(0);
    for (const suffix of ["", ".session"]) {
      const x = await topicContents(fromFile + suffix);
      expect(x.values.length, `${fromFile}${suffix}`).toBe(a.outputs[suffix === "" ? "window" : "session"]);
      expect(x.values, suffix).toEqual((await topicContents(byName + suffix)).values);
    }
    // Enriched from the table named in the file.
    expect((await topicContents(fromFile)).values.every((v) => /"title":"[^"]+"/.test(v))).toBe(true);
    // The whole file: its interactions topic is read too, and counted in sessions.
    const withInteractions = uniqueName("yaml-ea-file3");
    const full = fileWith("engagement-analytics.yaml", [['"user-views"', `"${views}"`], ['"user-interactions"', `"${inter}"`], ['"content-metadata"', `"${meta}"`], ['"processed-analytics"', `"${withInteractions}"`]]);
    const c = await runOk([full, "--brokers", BROKERS, "--group", uniqueName("g")]);
    expect(c.events).toBe(30_000);
    expect(a.outputs["invalid"]).toBeLessThan(c.outputs["invalid"]!);
    expect((await topicContents(`${withInteractions}.session`)).values.filter((v) => /"interactions":[1-9]/.test(v)).length).toBeGreaterThan(100);
  }, 240_000);

  it("driver-eta.yaml: two input topics, ETAs and availability on the file's topics, availability on /driver-updates", async () => {
    const locations = uniqueName("yaml-de-loc");
    const requests = uniqueName("yaml-de-req");
    const base = uniqueName("yaml-de");
    const file = fileWith("driver-eta.yaml", [['"driver-locations"', `"${locations}"`], ['"ride-requests"', `"${requests}"`],
      ['"eta-updates"', `"${base}-eta-updates"`], ['"driver-availability-updates"', `"${base}-driver-availability-updates"`], ["partitions: 64", "partitions: 2"]]);
    // The run creates the two input topics (2 partitions, from the file); the clients connect before any input.
    const run = riptide(["run", file, "--brokers", BROKERS, "--group", uniqueName("g"), "--http", "127.0.0.1:0", "--stop-when-idle", "8", "--json", "--quiet"]);
    await waitFor(() => /"event":"http-listening"/.test(run.stderr), 60_000, "the HTTP server");
    const url = (/"url":"(http:[^"]+)"/.exec(run.stderr)![1]!).replace(/^http/, "ws").replace(/\/$/, "");
    const all = "0123456789bcdefghjkmnpqrstuvwxyz".split("").join(",");
    const ws = new WebSocket(`${url}/driver-updates?regions=${all}`);
    const got: Array<Record<string, unknown>> = [];
    ws.on("message", (d) => got.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await waitFor(() => got.some((m) => m["type"] === "subscribed"), 20_000, "the subscription");
    // Ready once Kafka has assigned the partitions of the topics the run created.
    const http = url.replace(/^ws/, "http");
    for (let ready = false, end = Date.now() + 60_000; !ready;) {
      if (Date.now() > end) throw new Error("/readyz: not ready within 60000 ms");
      ready = (await fetch(`${http}/readyz`)).status === 200;
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    const load = riptide(["loadgen", "--brokers", BROKERS, "--kind", "rides", "--topic", `${locations},${requests}`, "--rate", "100000",
      "--events", "40000", "--drivers", "400", "--seed", "8", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    expect(await run.exited, run.stderr).toBe(0);
    await waitFor(() => ws.readyState === WebSocket.CLOSED, 10_000, "the socket closed");
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!) as { events: number; outputs: Record<string, number> };
    expect(summary.events).toBe(40_000);
    const etas = await topicContents(`${base}-eta-updates`);
    const availability = await topicContents(`${base}-driver-availability-updates`);
    expect(etas.values.length).toBe(summary.outputs["eta"]);
    expect(etas.values.length).toBeGreaterThan(100);
    expect([...etas.partitions].sort(), "partitions: 2 of the file").toEqual([0, 1]);
    expect(availability.values.length).toBe(summary.outputs["availability"]);
    expect(availability.values.length).toBeGreaterThan(10);
    // Every availability update also reached the client subscribed to every region.
    const pushed = got.filter((m) => m["type"] === "availability").map((m) => JSON.stringify(m)).sort();
    expect(pushed).toEqual(availability.values);
  }, 240_000);

  it("message-delivery.yaml: statuses on the file's status topic and pushes on <topic>.push, as message-delivery by name", async () => {
    const input = uniqueName("yaml-md-in");
    const fromFile = uniqueName("yaml-md-file");
    const byName = uniqueName("yaml-md-name");
    await createTopic(input, 1);
    const gen = new MessageGenerator({ partitions: 1 }); // the run's membership table: seed 42, 1000 users
    const events: Array<Record<string, unknown>> = [];
    for (let off = 0; off < 6000; off++) events.push(gen.event(0, off) as Record<string, unknown>);
    await produceAll(input, events.map((e) => ({ value: JSON.stringify(e), partition: 0, key: (e["chatId"] ?? e["userId"]) as string })));

    const key = randomBytes(32).toString("hex");
    const file = fileWith("message-delivery.yaml", [['"incoming-messages"', `"${input}"`], ['"message-status"', `"${fromFile}"`], ["partitions: 128", "partitions: 1"]]);
    const a = await runOk([file, "--brokers", BROKERS, "--group", uniqueName("g"), "--encryption-key", key]);
    const b = await runOk(["message-delivery", "--brokers", BROKERS, "--input-topic", input, "--output-topic", byName, "--group", uniqueName("g"), "--encryption-key", key]);
    expect(a.events).toBe(events.length);
    expect(a.outputs).toEqual(b.outputs);
    expect(a.outputs["status"]).toBeGreaterThan(1000);
    expect(a.outputs["push"]).toBeGreaterThan(0);
    const statusA = await topicContents(fromFile);
    expect(statusA.values.length).toBe(a.outputs["status"]);
    expect(statusA.values).toEqual((await topicContents(byName)).values);
    // Push records carry content encrypted with a fresh IV each: compare what is not ciphertext.
    const plain = ["type", "messageId", "chatId", "senderId", "recipientId", "ts"];
    const pushA = await topicContents(`${fromFile}.push`, plain);
    expect(pushA.values.length).toBe(a.outputs["push"]);
    expect(pushA.values[0]).toMatch(/^\{"type":"push","messageId":"[^"]+","chatId":"[^"]+","senderId":"[^"]+","recipientId":"[^"]+","ts":\d+\}$/);
    expect(pushA.values).toEqual((await topicContents(`${byName}.push`, plain)).values);
  }, 240_000);
});
