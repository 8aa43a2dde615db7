/**
 * Transient ids (Interner.internTransient, a schema's `transient` fields): a field with a new value
 * per event (message, payment, request ids) must not grow the string table, while its id still names
 * its string for as long as records can need it. Also: the JSON decoders give such fields transient
 * ids, a snapshot carries them, and message-delivery's stored messages keep their id's string
 * beyond the transient window.
 */
import { describe, expect, it } from "vitest";
import { Interner, TRANSIENT_BASE, transientState } from "../../src/schema/interner.js";
import { compileLayout, defineSchema, type ColumnArray } from "../../src/schema/schema.js";
import { compileJsonBytesDecoder, compileJsonDecoder } from "../../src/sources/json.js";
import { PAYMENT_EVENT } from "../../src/pipelines/payments/spec.js";
import { RIDE_EVENT } from "../../src/pipelines/rides/spec.js";
import { MessageEdge, PRESENCE_OFFLINE, PRESENCE_ONLINE } from "../../src/pipelines/message-delivery/edge-state.js";
import { ChatMembership, ST_STORED, type MessageInputColumns } from "../../src/pipelines/message-delivery/spec.js";
import { StreamsBuilder } from "../../src/dsl/builder.js";
import { topologyShape } from "../../src/dsl/engine.js";

describe("Interner.internTransient", () => {
  it("gives a new id per call, above every interned id, and names it; 0 for what is not a non-empty string", () => {
    const it = new Interner();
    const a = it.intern("drv-1");
    const t1 = it.internTransient("msg-1");
    const t2 = it.internTransient("msg-1");
    expect(t1).toBeGreaterThanOrEqual(TRANSIENT_BASE);
    expect(t2).not.toBe(t1);
    expect(it.name(t1)).toBe("msg-1");
    expect(it.name(t2)).toBe("msg-1");
    expect(it.name(a)).toBe("drv-1");
    expect(it.internTransient("")).toBe(0);
    expect(it.internTransient(7)).toBe(0);
    expect(it.internTransient(null)).toBe(0);
    expect(it.size).toBe(1); // the interned table holds drv-1 only
    expect(it.exportNames()).toEqual(["drv-1"]);
    const bytes = Buffer.from("xx☃-msg-2yy", "utf8");
    const t3 = it.transientBytes(bytes, 2, bytes.length - 4);
    expect(it.name(t3)).toBe("☃-msg-2");
    expect(it.transientBytes(bytes, 0, 0)).toBe(0);
  });

  it("keeps the last transientCapacity strings over many laps and answers \"\" (counted) for older ids", () => {
    const it = new Interner(8);
    const ids: number[] = [];
    for (let i = 0; i < 100; i++) ids.push(it.internTransient(`m-${i}`));
    for (let i = 92; i < 100; i++) expect(it.name(ids[i]!)).toBe(`m-${i}`);
    expect(it.transientMisses).toBe(0);
    expect(it.name(ids[91]!)).toBe("");
    expect(it.name(ids[0]!)).toBe("");
    expect(it.transientMisses).toBe(2);
    // A transient id never handed out (ahead of the newest) is not named either.
    expect(it.name(ids[99]! + 1)).toBe("");
  });

  it("wraps its ids within a u32 column's range and still names the recent ones", () => {
    const it = new Interner(4);
    // Resume near the end of the id span (as a restore of a long run would).
    it.loadTransient({ seq: 0x7ffffffe - 2, names: ["a", "b"] });
    const ids = ["c", "d", "e", "f"].map((s) => it.internTransient(s));
    for (const id of ids) {
      expect(id).toBeGreaterThanOrEqual(TRANSIENT_BASE);
      expect(id).toBeLessThan(2 ** 32 - 1);
      expect(new Uint32Array([id])[0]).toBe(id);
    }
    expect(ids[2]).toBe(TRANSIENT_BASE); // wrapped
    expect(ids.map((id) => it.name(id))).toEqual(["c", "d", "e", "f"]);
  });

  it("exportTransient()/loadTransient(): a restored table names the same ids the same strings", () => {
    const a = new Interner(16);
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) ids.push(a.internTransient(`p-${i}`));
    const saved = JSON.parse(JSON.stringify(a.exportTransient())) as { seq: number; names: string[] };
    expect(saved.names).toHaveLength(16);
    const b = new Interner(16);
    b.loadTransient(saved);
    for (let i = 24; i < 40; i++) expect(b.name(ids[i]!)).toBe(`p-${i}`);
    expect(b.name(ids[23]!)).toBe("");
    // It goes on where the first left off.
    expect(b.internTransient("next")).toBe(a.internTransient("next"));
    expect(() => b.loadTransient({ seq: 1, names: ["x", "y"] })).toThrow(/cannot end at sequence number 1/);
  });
});

describe("transient fields of a schema", () => {
  it("defineSchema accepts string fields only", () => {
    expect(() => defineSchema("s", { id: "f64", k: "string" }, { transient: ["id"] })).toThrow(/transient field "id" must be a string field/);
    expect(() => defineSchema("s", { k: "string" }, { transient: ["nope"] })).toThrow(/transient field "nope"/);
    expect(defineSchema("s", { k: "string", id: "string" }, { transient: ["id"] }).transient).toEqual(["id"]);
  });

  it("a snapshot carries the transient strings only for a schema whose state keeps them (rides: open requests), not payments'", () => {
    const interner = new Interner(1024);
    expect(transientState(interner, RIDE_EVENT)).toEqual({}); // none given yet
    for (let i = 0; i < 3000; i++) interner.internTransient(`p-${i}`);
    expect(transientState(interner, PAYMENT_EVENT)).toEqual({});
    const kept = transientState(interner, RIDE_EVENT).transient!;
    expect(kept.seq).toBe(3000);
    expect(kept.names).toHaveLength(1024);
    expect(kept.names[1023]).toBe("p-2999");
    expect(() => defineSchema("s", { k: "string" }, { transientInState: true })).toThrow(/transientInState without transient fields/);
  });

  it("a topology on the worker engine refuses them, naming the field (its workers name strings from the shared table)", () => {
    const b = new StreamsBuilder();
    const schema = defineSchema("msg", { chatId: "string", messageId: "string", ts: "f64" }, { transient: ["messageId"] });
    b.stream("messages", { schema, key: "chatId", timestamp: "ts" }).to("out");
    expect(() => topologyShape(b.build())).toThrow(/transient fields \(messageId\) are for the built-in pipelines/);
  });

  it("JSON decoding (bytes and parsed) gives payments' paymentId transient ids and interns userId: 20 000 payments, 50 users in the table", () => {
    const layout = compileLayout(PAYMENT_EVENT.fields, 1);
    for (const way of ["bytes", "parsed"] as const) {
      const interner = new Interner(1024);
      const bytesDecoder = compileJsonBytesDecoder(PAYMENT_EVENT, interner);
      const decoder = compileJsonDecoder(PAYMENT_EVENT, interner);
      const columns: Record<string, ColumnArray> = {};
      for (const c of layout.columns) columns[c.name] = c.type === "f64" ? new Float64Array(1) : new Uint32Array(1);
      let last = 0;
      for (let i = 0; i < 20_000; i++) {
        const event = { paymentId: `pay-${i}`, userId: `user-${i % 50}`, amount: 1.5, ts: 1000 + i };
        if (way === "bytes") expect(bytesDecoder(Buffer.from(JSON.stringify(event)), columns, 0)).toBe(true);
        else decoder(event, columns, 0);
        const id = columns["paymentId"]![0]!;
        expect(id).toBeGreaterThanOrEqual(TRANSIENT_BASE);
        expect(id).not.toBe(last);
        last = id;
        expect(interner.name(id)).toBe(`pay-${i}`);
        expect(interner.name(columns["userId"]![0]!)).toBe(`user-${i % 50}`);
      }
      expect(interner.size).toBe(50);
      expect(interner.transientIds).toBe(20_000);
    }
  });
});

describe("message-delivery's stored messages", () => {
  it("keep their id's string after the transient window has moved past it", () => {
    const messages = new Interner(4);
    const users = new Interner();
    const chats = new Interner();
    const membership = new ChatMembership(7, 100);
    const edge = new MessageEdge({ membership, messageName: (id) => messages.name(id) });
    const c: MessageInputColumns = {
      messageId: new Uint32Array(1), chatId: new Uint32Array(1), senderId: new Uint32Array(1), recipientId: new Uint32Array(1),
      userId: new Uint32Array(1), ts: new Float64Array(1), _off: new Float64Array(1), _wm: new Float64Array(1),
      _reason: new Uint8Array(1), _kind: new Uint8Array(1), _route: new Uint8Array(1), _fwd: new Float64Array(1),
    };
    const sender = membership.member(3, 0);
    const recipient = membership.member(3, 1);
    const presence = (status: number, ts: number, off: number): void => {
      c.userId[0] = users.intern(`user-${recipient}`); c.ts[0] = ts; c._off[0] = off;
      edge.annotatePresence(c, 0, status, 0);
    };
    presence(PRESENCE_OFFLINE, 0, 1);
    // A message to the offline recipient, an hour of event time later (no push): stored.
    c.messageId[0] = messages.internTransient("msg-stored"); c.chatId[0] = chats.intern("chat-3");
    c.senderId[0] = users.intern(`user-${sender}`); c.recipientId[0] = users.intern(`user-${recipient}`); c.ts[0] = 3_600_000;
    edge.annotateMessage(c, 0, 3, sender, 5, false);
    expect(c._reason[0]).toBe(0);
    expect(c._route[0]).toBe(ST_STORED);
    const storedId = c.messageId[0]!;
    for (let i = 0; i < 10; i++) messages.internTransient(`msg-${i}`); // the window moves on
    expect(messages.name(storedId)).toBe("");
    presence(PRESENCE_ONLINE, 3_700_000, 2);
    expect(c._fwd[0]).toBe(1);
    const into = new Float64Array(2);
    expect(edge.forwarded(0, 2, 0, into)).toBe("msg-stored");
    expect(chats.name(into[0]!)).toBe("chat-3");
    expect(users.name(into[1]!)).toBe(`user-${sender}`);
    expect(edge.forwarded(0, 2, 0, into)).toBeUndefined(); // handed out once
  });
});
