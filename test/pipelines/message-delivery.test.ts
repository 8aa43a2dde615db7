/**
 * message-delivery against a plain reference (test/support/messages-reference.ts): the embedded
 * message generator with 1, 2 and 4 workers gives exactly the reference's statuses, channel
 * records, forwards, sessions and invalid outputs; every channel record decrypts with the run's key
 * to the event's content and fails with another key; the session table round-trips through
 * snapshot()/restore().
 */
import { randomBytes } from "node:crypto";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { scrub } from "../../src/log/logger.js";
import { decryptContent, encryptContent, nextIv, parseEncryptionKey } from "../../src/pipelines/message-delivery/crypto.js";
import { bindMessageDelivery, messageDelivery } from "../../src/pipelines/message-delivery/edge.js";
import { MessageDeliveryShard } from "../../src/pipelines/message-delivery/shard.js";
import { hasBannedWord } from "../../src/pipelines/message-delivery/spec.js";
import { MemorySink } from "../../src/sinks/sink.js";
import { MessageGenerator, MessageGeneratorSource, type MessageGeneratorOptions } from "../../src/sources/message-generator.js";
import { diff } from "../support/driver-reference.js";
import { riptide } from "../support/kafka.js";
import { CHANNELS, messageMultiset, referenceMessages } from "../support/messages-reference.js";

const OPTIONS: Partial<MessageGeneratorOptions> = { seed: 11, users: 300, chats: 40, partitions: 4, stepMs: 2000 };
type Ev = Record<string, unknown>;

/** Generator events in the order the coordinator reads them (round-robin, `batch` per partition). */
function sourceOrder(total: number, batch: number): Ev[] {
  const gen = new MessageGenerator(OPTIONS);
  const out: Ev[] = [];
  const next = new Array<number>(gen.partitions).fill(0);
  let remaining = total;
  for (let p = 0; remaining > 0; p = (p + 1) % gen.partitions) {
    const n = Math.min(batch, remaining);
    for (let i = 0; i < n; i++) out.push(gen.event(p, next[p]! + i));
    next[p]! += n;
    remaining -= n;
  }
  return out;
}

function run(workers: number, total: number, batch: number, key: Buffer): Promise<{ summary: Awaited<ReturnType<Coordinator["run"]>>; outputs: Ev[]; source: MessageGeneratorSource }> {
  const source = new MessageGeneratorSource(new MessageGenerator(OPTIONS), total);
  const pipeline = bindMessageDelivery({ key, event: (out, i) => source.event(out, i), edge: source.edge });
  const sink = new MemorySink();
  const c = new Coordinator({ pipeline, source, sink, workers, batchSize: batch, idleTimeoutMs: 1e9 });
  return c.run().then((summary) => ({ summary, outputs: sink.outputs as Ev[], source }));
}

describe("message-delivery", () => {
  it("gives the reference's statuses, deliveries, forwards and sessions with 1, 2 and 4 workers", async () => {
    const batch = 250;
    const total = 4 * batch * 24; // 24 000 events, 200 minutes of event time per partition
    const events = sourceOrder(total, batch);
    const gen = new MessageGenerator(OPTIONS);
    const ref = referenceMessages(events, gen.membership, gen.options.rateLimit);
    const statuses = ref.filter((o) => o["type"] === "status");
    const count = (status: string): number => statuses.filter((o) => o["status"] === status).length;
    const reasons = new Set(statuses.filter((o) => o["status"] === "FAILED").map((o) => o["reason"]));
    // The data is what the test claims: each status, each failure reason, invalid events, forwards, sessions.
    for (const s of ["SENT", "DELIVERED", "PUSHED", "STORED"]) expect(count(s), s).toBeGreaterThan(100);
    expect([...reasons].sort()).toEqual([
      "content is larger than 65536 bytes", "rate limit: too many messages from the sender this minute",
      "sender is not a member of the chat", "spam filter: banned word",
    ]);
    const invalid = ref.filter((o) => o["type"] === "invalid");
    expect(new Set(invalid.map((o) => o["reason"])).size).toBe(3);
    // Confirmations from recipients: delivery confirmations and read receipts.
    expect(statuses.filter((o) => o["receipt"] === true && o["status"] === "READ").length).toBeGreaterThan(100);
    expect(statuses.filter((o) => o["receipt"] === true && o["status"] === "DELIVERED").length).toBeGreaterThan(50);
    expect(ref.filter((o) => o["type"] === "forward").length).toBeGreaterThan(20);
    expect(statuses.filter((o) => o["forwarded"] === true).length).toBeGreaterThan(50);
    const sessions = ref.filter((o) => o["type"] === "session");
    const perChat = new Map<unknown, number>();
    for (const s of sessions) perChat.set(s["chatId"], (perChat.get(s["chatId"]) ?? 0) + 1);
    expect([...perChat.values()].filter((n) => n >= 2).length).toBeGreaterThan(5); // chats fall silent and start again
    const byName = (t: string): number => ref.filter((o) => o["type"] === t).length;
    const key = randomBytes(32);
    for (const workers of [1, 2, 4]) {
      const { summary, outputs } = await run(workers, total, batch, key);
      expect(summary.events).toBe(total);
      expect(summary.outputs).toEqual({
        status: statuses.length, delivery: byName("delivery"), push: byName("push"), stored: byName("stored"),
        forward: byName("forward"), session: sessions.length, invalid: invalid.length,
      });
      expect(diff(messageMultiset(outputs), messageMultiset(ref)), `workers=${workers}`).toEqual([]);
      // Per chat, statuses keep the chat's order (those of forwarded messages come with the
      // recipient's presence event, from wherever that is processed).
      const order = (xs: Ev[]): string[] => xs.filter((o) => o["type"] === "status" && o["chatId"] === "chat-5" && o["forwarded"] !== true).map((o) => `${o["messageId"]}:${o["status"]}`);
      expect(order(outputs)).toEqual(order(statuses));
    }
  }, 180_000);

  it("replaces a worker that dies mid-run from its checkpoint: no status, delivery or session lost or repeated", async () => {
    const batch = 250;
    const total = 4 * batch * 16;
    const gen = new MessageGenerator(OPTIONS);
    const ref = referenceMessages(sourceOrder(total, batch), gen.membership, gen.options.rateLimit);
    const source = new MessageGeneratorSource(new MessageGenerator(OPTIONS), total);
    const sink = new MemorySink();
    const c = new Coordinator({ pipeline: bindMessageDelivery({ key: randomBytes(32), event: (o, i) => source.event(o, i), edge: source.edge }), source, sink, workers: 2, batchSize: batch, idleTimeoutMs: 1e9 });
    const running = c.run();
    const deadline = Date.now() + 60_000;
    while (c.progress().events < total / 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    c.crashWorker(0);
    const summary = await running;
    expect(summary.workerRestarts).toBeGreaterThanOrEqual(1);
    expect(diff(messageMultiset(sink.outputs as Ev[]), messageMultiset(ref))).toEqual([]);
  }, 120_000);

  it("encrypts each message's content with AES-256-GCM: the key decrypts it, another key does not", async () => {
    const key = randomBytes(32);
    const { outputs, source } = await run(2, 4000, 250, key);
    const messages = outputs.filter((o) => CHANNELS.has(o["type"] as string));
    expect(messages.length).toBeGreaterThan(1000);
    const ivs = new Set<string>();
    const gen = source.generator;
    for (const m of messages) {
      const sealed = { iv: m["iv"] as string, ciphertext: m["ciphertext"] as string, tag: m["tag"] as string };
      expect(Buffer.from(sealed.iv, "base64").length).toBe(12);
      expect(Buffer.from(sealed.tag, "base64").length).toBe(16);
      ivs.add(sealed.iv);
      const id = Number((m["messageId"] as string).slice(4)); // msg-<off·P + p>
      const original = gen.event(id % gen.partitions, Math.floor(id / gen.partitions));
      expect(original["messageId"]).toBe(m["messageId"]);
      expect(decryptContent(key, sealed)).toBe(original["content"]);
      if ((original["content"] as string).length >= 12) expect(JSON.stringify(m)).not.toContain(original["content"] as string);
    }
    expect(ivs.size).toBe(messages.length); // a fresh IV per message
    const m = messages[0]!;
    const sealed = { iv: m["iv"] as string, ciphertext: m["ciphertext"] as string, tag: m["tag"] as string };
    expect(() => decryptContent(randomBytes(32), sealed)).toThrow();
    const flipped = Buffer.from(sealed.ciphertext, "base64"); flipped[0]! ^= 1;
    expect(() => decryptContent(key, { ...sealed, ciphertext: flipped.toString("base64") })).toThrow();
  }, 120_000);

  it("cuts IVs from a pool of random bytes: across several refills each is new, and one handed out never changes", () => {
    const key = randomBytes(32);
    const first = nextIv();
    const kept = Buffer.from(first);
    const seen = new Set<string>([first.toString("hex")]);
    for (let i = 0; i < 10_000; i++) {
      const sealed = encryptContent(key, `message ${i}`);
      seen.add(Buffer.from(sealed.iv, "base64").toString("hex"));
      if (i % 997 === 0) expect(decryptContent(key, sealed)).toBe(`message ${i}`);
    }
    expect(seen.size).toBe(10_001); // 2.4 pools of 4096
    expect(first.equals(kept)).toBe(true);
  });

  it("checks keys and banned words; an unbound definition refuses to render a message", () => {
    expect(() => parseEncryptionKey("ab".repeat(31), "--encryption-key")).toThrow(/--encryption-key must be 64 hex digits/);
    expect(() => parseEncryptionKey("zz".repeat(32), "--encryption-key")).toThrow(/64 hex digits/);
    const key = parseEncryptionKey("0f".repeat(32), "k");
    expect(decryptContent(key, encryptContent(key, "héllo 👋"))).toBe("héllo 👋");
    expect(hasBannedWord("please BUY-FOLLOWERS now")).toBe(true);
    expect(hasBannedWord("buy-followers-not")).toBe(false);
    expect(hasBannedWord("hello")).toBe(false);
    expect(messageDelivery.outputTopics!("msgs")).toEqual({ status: "msgs", push: "msgs.push" });
    // A key that reaches a log detail by name is redacted like other secrets.
    expect(scrub({ encryptionKey: "0f".repeat(32), "encryption-key": "ab", nested: { ENCRYPTION_KEY: "cd" } })).toEqual({
      encryptionKey: "[redacted]", "encryption-key": "[redacted]", nested: { ENCRYPTION_KEY: "[redacted]" },
    });
  });

  it("snapshot()/restore() carry the open sessions (a restored shard closes them as the first would)", () => {
    const a = new MessageDeliveryShard() as unknown as { session(chat: number, t: number, out: unknown): void; open: number };
    const noOut = { side: () => { throw new Error("no output expected"); } };
    for (let chat = 1; chat <= 2000; chat++) a.session(chat, 1000 * chat, noOut);
    expect(a.open).toBe(2000);
    const words = new Float64Array(1 << 14);
    const written = (a as unknown as MessageDeliveryShard).snapshot(words);
    expect(written).toBeGreaterThan(6000);
    const b = new MessageDeliveryShard();
    b.restore(words, written);
    expect(b.stateEntries()).toBe(2000);
    const closed: number[][] = [];
    const out = { side: (_k: number, _c: number, key: number, _p: number, _o: number, a0: number, b0: number, c0: number) => { closed.push([key, a0, b0, c0]); } };
    b.advance(1000 * 1000 + 30 * 60_000, out as never); // chats 1..1000 have passed their gap
    expect(closed.length).toBe(1000);
    expect(closed[0]).toEqual([1, 1000, 1000, 1]);
    expect(b.stateEntries()).toBe(1000);
    expect(new MessageDeliveryShard().snapshot(new Float64Array(10))).toBe(-1);
  });

  it("riptide run message-delivery: the generator's messages decrypt with --encryption-key; bad keys and options are refused by name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-md-"));
    try {
      const keyHex = randomBytes(32).toString("hex");
      const out = join(dir, "out.jsonl");
      const run = riptide(["run", "message-delivery", "--events", "3000", "--workers", "2", "--partitions", "2", "--json", "--quiet", "--encryption-key", keyHex, "--output", out]);
      expect(await run.exited, run.stderr).toBe(0);
      expect(run.stderr).not.toContain(keyHex);
      const summary = JSON.parse(run.stdout.trim().split("\n").pop()!);
      const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Ev);
      expect(summary.outputs.status).toBe(lines.filter((o) => o["type"] === "status").length);
      const channel = lines.filter((o) => CHANNELS.has(o["type"] as string));
      expect(channel.length).toBeGreaterThan(500);
      const gen = new MessageGenerator({ partitions: 2 });
      for (const m of channel) {
        const id = Number((m["messageId"] as string).slice(4));
        expect(decryptContent(Buffer.from(keyHex, "hex"), m as never)).toBe(gen.event(id % 2, Math.floor(id / 2))["content"]);
      }
      const bad = riptide(["run", "message-delivery", "--events", "10", "--encryption-key", "00ff"]);
      expect(await bad.exited).toBe(2);
      expect(bad.stderr).toContain("--encryption-key must be 64 hex digits");
      expect(bad.stderr).not.toContain("00ff");
      const other = riptide(["run", "payments", "--events", "10", "--encryption-key", keyHex]);
      expect(await other.exited).toBe(2);
      expect(other.stderr).toContain("--encryption-key applies to message-delivery only");
      // Refused before anything connects (no broker needed).
      const three = riptide(["run", "message-delivery", "--brokers", "127.0.0.1:9", "--input-topic", "a,b,c", "--output-topic", "o"]);
      expect(await three.exited).toBe(2);
      expect(three.stderr).toContain("--input-topic: message-delivery reads incoming messages and presence");
      const eos = riptide(["run", "message-delivery", "--brokers", "127.0.0.1:9", "--input-topic", "a", "--output-topic", "o", "--guarantee", "exactly-once"]);
      expect(await eos.exited).toBe(2);
      expect(eos.stderr).toContain("--guarantee exactly-once: message-delivery's edge state");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
