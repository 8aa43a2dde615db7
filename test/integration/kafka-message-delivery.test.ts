/**
 * message-delivery as a real process against the real broker, the machine's Redis and real
 * WebSocket clients: one input topic with one partition (so the arrival order — which the
 * presence routing and the rate limit depend on — is the topic's order) gives exactly the
 * reference's statuses, channel records, forwards, sessions and invalid outputs on their topics;
 * clients on /messages?user=ID receive their "delivery" messages and, when they come online,
 * their stored ones (forwarded: true) out of Redis; what was stored after a user's last forward is
 * still in pending:{userId}; every ciphertext decrypts with the key, which never appears in the logs.
 * Then `loadgen --kind messages` into two topics (messages, presence) and a run reading both: one
 * channel record per SENT status, and the order-independent checks fail exactly the right messages.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { decryptContent } from "../../src/pipelines/message-delivery/crypto.js";
import { MessageGenerator } from "../../src/sources/message-generator.js";
import { diff } from "../support/driver-reference.js";
import { BROKERS, createTopic, ensureBroker, produceAll, readAll, riptide, uniqueName } from "../support/kafka.js";
import { CHANNELS, messageMultiset, referenceMessages } from "../support/messages-reference.js";

const REDIS_URL = "redis://127.0.0.1:6379";
type Ev = Record<string, unknown>;
let redis: Redis;
const prefix = `riptide-it-md-${randomBytes(4).toString("hex")}:`;

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("message-delivery on Kafka, Redis and WebSocket", () => {
  beforeAll(() => {
    ensureBroker();
    redis = new Redis(REDIS_URL);
  }, 240_000);

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("gives the reference's outputs on their topics, delivers over WebSocket and forwards stored messages from Redis", async () => {
    const input = uniqueName("md-in");
    const output = uniqueName("md-out");
    await createTopic(input, 1);
    const gen = new MessageGenerator({ partitions: 1 }); // the run's membership table: seed 42, 1000 users
    const events: Ev[] = [];
    for (let off = 0; off < 6000; off++) events.push(gen.event(0, off));
    const ref = referenceMessages(events, gen.membership, gen.options.rateLimit);
    // Two users to connect: the one with the most WebSocket deliveries, the one with the most forwards.
    const most = (xs: Ev[], field: string): string => {
      const n = new Map<string, number>();
      for (const x of xs) n.set(x[field] as string, (n.get(x[field] as string) ?? 0) + 1);
      return [...n].sort((a, b) => b[1] - a[1])[0]![0];
    };
    const live = most(ref.filter((o) => o["type"] === "delivery"), "recipientId");
    const returning = most(ref.filter((o) => o["type"] === "forward"), "userId");
    expect(live).not.toBe(returning);

    const keyHex = randomBytes(32).toString("hex");
    const key = Buffer.from(keyHex, "hex");
    const run = riptide(["run", "message-delivery", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "8", "--json", "--workers", "2", "--redis", REDIS_URL, "--redis-prefix", prefix,
      "--http", "127.0.0.1:0", "--encryption-key", keyHex]);
    await waitFor(() => /"event":"http-listening"/.test(run.stderr), 60_000, "the HTTP server");
    const url = (/"url":"(http:[^"]+)"/.exec(run.stderr)![1]!).replace(/^http/, "ws").replace(/\/$/, "");
    const bad = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url}/messages`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => resolve(101));
    });
    expect(bad).toBe(400);
    const received = new Map<string, Ev[]>([[live, []], [returning, []]]);
    const sockets: WebSocket[] = [];
    for (const user of [live, returning]) {
      const ws = new WebSocket(`${url}/messages?user=${encodeURIComponent(user)}`);
      ws.on("message", (d) => received.get(user)!.push(JSON.parse(d.toString()) as Ev));
      sockets.push(ws);
      await waitFor(() => received.get(user)!.some((m) => m["type"] === "connected"), 20_000, `${user} connected`);
    }
    await produceAll(input, [...events.map((e) => ({ value: JSON.stringify(e), partition: 0, key: (e["chatId"] ?? e["userId"]) as string })),
      { value: "{poison", partition: 0 }]);
    expect(await run.exited, run.stderr).toBe(0);
    for (const ws of sockets) ws.close();
    expect(run.stderr).not.toContain(keyHex);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(events.length + 1); // the poison message counts as read (and goes to <input>.dlq)
    expect(summary.deadLetters).toBe(1);

    // Kafka: statuses on the output topic, pushes on <output>.push, the rest on <output>.<name>.
    const topics = [output, `${output}.push`, `${output}.delivery`, `${output}.stored`, `${output}.forward`, `${output}.session`, `${output}.invalid`];
    const outs = (await readAll(topics, 4000)).map((m) => JSON.parse(m.value!.toString()) as Ev);
    expect(diff(messageMultiset(outs), messageMultiset(ref))).toEqual([]);
    const count = (t: string): number => ref.filter((o) => o["type"] === t).length;
    expect(summary.outputs).toEqual({
      status: count("status"), delivery: count("delivery"), push: count("push"), stored: count("stored"),
      forward: count("forward"), session: count("session"), invalid: count("invalid"),
    });
    const statuses = new Set(ref.filter((o) => o["type"] === "status").map((o) => o["status"]));
    expect([...statuses].sort()).toEqual(["DELIVERED", "FAILED", "PUSHED", "READ", "SENT", "STORED"]);
    for (const m of outs.filter((o) => CHANNELS.has(o["type"] as string))) {
      const id = Number((m["messageId"] as string).slice(4));
      expect(decryptContent(key, m as never)).toBe(gen.event(0, id)["content"]);
    }

    // WebSocket: per user, the "delivery" messages, and the stored ones up to their last forward.
    for (const user of [live, returning]) {
      const mine = ref.filter((o) => (CHANNELS.has(o["type"] as string) && o["recipientId"] === user) || (o["type"] === "forward" && o["userId"] === user));
      const lastForward = mine.map((o) => o["type"]).lastIndexOf("forward");
      const expected = mine.flatMap((o, i) => {
        if (o["type"] === "delivery") return [`${o["messageId"]}|live`];
        if (o["type"] === "stored" && i < lastForward) return [`${o["messageId"]}|forwarded`];
        return [];
      }).sort();
      const got = received.get(user)!.filter((m) => m["type"] === "delivery" || m["type"] === "stored");
      expect(got.map((m) => `${m["messageId"]}|${m["forwarded"] ? "forwarded" : "live"}`).sort(), user).toEqual(expected);
      for (const m of got) expect(decryptContent(key, m as never)).toBe(gen.event(0, Number((m["messageId"] as string).slice(4)))["content"]);
      const left = mine.filter((o, i) => o["type"] === "stored" && i > lastForward).map((o) => o["messageId"]);
      const stored = (await redis.lrange(`${prefix}pending:${user}`, 0, -1)).map((s) => (JSON.parse(s) as Ev)["messageId"]);
      expect(stored, user).toEqual(left);
    }
    expect(received.get(returning)!.some((m) => m["forwarded"] === true)).toBe(true);
    // Users never connected keep their stored messages in Redis.
    const storedKeys = await redis.keys(`${prefix}pending:*`);
    expect(storedKeys.length).toBeGreaterThan(10);
    const ttl = await redis.ttl(storedKeys[0]!);
    expect(ttl).toBeGreaterThan(29 * 24 * 3600);
  }, 240_000);

  it("reads messages and presence from two topics written by loadgen --kind messages", async () => {
    const messagesTopic = uniqueName("md-msg");
    const presenceTopic = uniqueName("md-pres");
    const output = uniqueName("md-out2");
    const load = riptide(["loadgen", "--kind", "messages", "--brokers", BROKERS, "--topic", `${messagesTopic},${presenceTopic}`,
      "--rate", "50000", "--events", "12000", "--partitions", "2", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    const produced = JSON.parse(load.stdout.trim().split("\n").pop()!);
    expect(produced).toMatchObject({ events: 12000, errors: 0, partitions: 2 });
    expect(produced.presence).toBeGreaterThan(1000);
    const keyHex = randomBytes(32).toString("hex");
    const run = riptide(["run", "message-delivery", "--brokers", BROKERS, "--input-topic", `${messagesTopic},${presenceTopic}`, "--output-topic", output,
      "--group", uniqueName("g"), "--stop-when-idle", "5", "--json", "--quiet", "--workers", "2", "--encryption-key", keyHex]);
    expect(await run.exited, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(summary.events).toBe(12000);
    const outs = (await readAll([output, `${output}.push`, `${output}.delivery`, `${output}.stored`, `${output}.forward`], 4000)).map((m) => JSON.parse(m.value!.toString()) as Ev);
    const statuses = outs.filter((o) => o["type"] === "status");
    const channel = outs.filter((o) => CHANNELS.has(o["type"] as string));
    expect(statuses.length).toBe(summary.outputs.status);
    // Whatever the interleaving of the two topics: one channel record per SENT, and the checks that
    // do not depend on order (membership, size, banned words) fail exactly the generator's messages.
    const sent = statuses.filter((o) => o["status"] === "SENT").map((o) => o["messageId"]).sort();
    expect(channel.map((o) => o["messageId"]).sort()).toEqual(sent);
    const forwards = outs.filter((o) => o["type"] === "forward");
    expect(statuses.filter((o) => o["forwarded"] === true).length).toBe(forwards.reduce((n, f) => n + (f["messages"] as number), 0));
    const gen = new MessageGenerator({ partitions: 2 });
    const key = Buffer.from(keyHex, "hex");
    for (const m of channel.slice(0, 500)) {
      const id = Number((m["messageId"] as string).slice(4));
      expect(decryptContent(key, m as never)).toBe(gen.event(id % 2, Math.floor(id / 2))["content"]);
    }
    const byReason = (reason: string): string[] => statuses.filter((o) => o["reason"] === reason).map((o) => o["messageId"] as string).sort();
    // The messages loadgen wrote (its partitions' shares follow its pacing), as read back.
    const written = (await readAll([messagesTopic], 3000)).map((m) => JSON.parse(m.value!.toString()) as Ev);
    expect(written.length).toBe(12000 - produced.presence);
    const ref = referenceMessages(written, gen.membership, 1e9);
    const refByReason = (reason: string): string[] => ref.filter((o) => o["reason"] === reason).map((o) => o["messageId"] as string).sort();
    for (const reason of ["sender is not a member of the chat", "content is larger than 65536 bytes", "spam filter: banned word"]) {
      expect(byReason(reason).length, reason).toBeGreaterThan(0);
      expect(byReason(reason), reason).toEqual(refByReason(reason));
    }
  }, 240_000);
});
