/**
 * MessageQueue (a ring of message rows) against an array of the messages it was given: any
 * sequence of pushes (packed takes and client messages), shifts and clears, wrapping around and
 * growing while full, reads back every message's offset, timestamp, value, key and frame ids, and
 * counts the value bytes queued.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  PACKED_KEY_LENGTH, PACKED_KEY_START, PACKED_OFFSET, PACKED_PARTITION, PACKED_STRIDE, PACKED_TIMESTAMP, PACKED_VALUE_LENGTH,
  PACKED_VALUE_START, type KafkaMessage,
} from "../../src/io/kafka/client.js";
import { MessageQueue } from "../../src/sources/message-queue.js";

interface Model { offset: number; timestamp: number; value: string | null; key: string | null; ids: number[] | undefined; gen: number }

const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("take" as const), n: fc.integer({ min: 1, max: 300 }), nullKey: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("message" as const), nullValue: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("shift" as const), n: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("ids" as const), gen: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
);

describe("MessageQueue", () => {
  it("gives back what was queued, in order, across wraps, growth and clears", () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 0, max: 3 }), (ops, readGen) => {
      const q = new MessageQueue();
      let model: Model[] = [];
      let next = 0;
      const check = (): void => {
        expect(q.tail - q.head).toBe(model.length);
        expect(q.empty).toBe(model.length === 0);
        expect(q.bytes).toBe(model.reduce((n, m) => n + (m.value === null ? 0 : Buffer.byteLength(m.value)), 0));
        for (let j = 0; j < model.length; j++) {
          const i = q.head + j, m = model[j]!;
          expect(q.offset(i)).toBe(m.offset);
          expect(q.timestamp(i)).toBe(m.timestamp);
          expect(q.value(i)?.toString() ?? null).toBe(m.value);
          const msg = q.message(i, "t", 3);
          expect(msg.key?.toString() ?? null).toBe(m.key);
          expect(msg.offset).toBe(m.offset);
          expect(q.idsOf(i, readGen)).toEqual(m.gen === readGen ? m.ids : undefined);
        }
      };
      for (const o of ops) {
        if (o.kind === "take") {
          // One packed take: values (and keys) side by side in one buffer.
          const parts: string[] = [];
          const meta = new Float64Array(1 + o.n * PACKED_STRIDE);
          let at = 0;
          const rows: Model[] = [];
          for (let k = 0; k < o.n; k++) {
            const value = `v${next}`, key = o.nullKey ? null : `k${next}`;
            const r = 1 + k * PACKED_STRIDE;
            meta[r + PACKED_PARTITION] = 3;
            meta[r + PACKED_OFFSET] = next;
            meta[r + PACKED_TIMESTAMP] = 1000 + next;
            meta[r + PACKED_VALUE_START] = at;
            meta[r + PACKED_VALUE_LENGTH] = value.length;
            parts.push(value);
            at += value.length;
            meta[r + PACKED_KEY_START] = at;
            meta[r + PACKED_KEY_LENGTH] = key === null ? -1 : key.length;
            if (key !== null) { parts.push(key); at += key.length; }
            rows.push({ offset: next, timestamp: 1000 + next, value, key, ids: undefined, gen: -1 });
            next++;
          }
          meta[0] = o.n;
          const data = Buffer.from(parts.join(""));
          for (let k = 0; k < o.n; k++) { q.pushPacked(data, meta, k); model.push(rows[k]!); }
        } else if (o.kind === "message") {
          const value = o.nullValue ? null : `m${next}`;
          const msg: KafkaMessage = { topic: "t", partition: 3, offset: next, timestamp: 1000 + next, key: Buffer.from(`k${next}`), value: value === null ? null : Buffer.from(value) };
          q.pushMessage(msg);
          model.push({ offset: next, timestamp: 1000 + next, value, key: `k${next}`, ids: undefined, gen: -1 });
          next++;
        } else if (o.kind === "shift") {
          for (let k = 0; k < o.n && !q.empty; k++) { q.shift(); model.shift(); }
        } else if (o.kind === "ids") {
          if (model.length > 0) {
            const ids = [o.gen, next];
            q.setIds(ids, o.gen);
            model.at(-1)!.ids = ids;
            model.at(-1)!.gen = o.gen;
          }
        } else {
          q.clear();
          model = [];
        }
        check();
      }
    }), { seed: 0x5eed_0a1, numRuns: 100 });
  });
});
