/**
 * The shared-memory layout of a BatchRing (src/ring/layout.ts) and the record layouts it maps
 * (src/schema/schema.ts compileLayout): where every word and column lives, that BatchRing maps
 * exactly that, and that writing any slot to its full capacity touches nothing else (canaries).
 */
import { describe, expect, it } from "vitest";
import * as L from "../../src/ring/layout.js";
import { outputLayout } from "../../src/ring/output.js";
import { BatchRing } from "../../src/ring/ring.js";
import { compileLayout, type ColumnArray, type FieldSpec, type FieldType, type RecordLayout } from "../../src/schema/schema.js";
import { inputLayout } from "../../src/pipelines/driver-tracking/spec.js";
import { SchemaError } from "../../src/errors.js";

const CACHE_LINE = 64;
const BYTES: Record<FieldType, number> = { f64: 8, f32: 4, i32: 4, u32: 4, u8: 1, string: 4, text: 4 };

/** mulberry32: a small seeded PRNG returning u32. */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const ALL_TYPES: FieldSpec[] = [
  { name: "a_f64", type: "f64" }, { name: "b_u8", type: "u8" }, { name: "c_f32", type: "f32" },
  { name: "d_i32", type: "i32" }, { name: "e_u32", type: "u32" }, { name: "f_str", type: "string" },
  { name: "g_u8", type: "u8" }, { name: "h_f64", type: "f64" },
];

/** Layouts worth checking: every type, odd capacities (u8 columns of 1, 3, 65 bytes), the real ones. */
function layouts(): Array<[string, RecordLayout]> {
  const out: Array<[string, RecordLayout]> = [];
  for (const cap of [1, 2, 3, 7, 8, 63, 64, 65, 100, 1000, 2048]) out.push([`all types × ${cap}`, compileLayout(ALL_TYPES, cap)]);
  out.push(["u8 only × 5", compileLayout([{ name: "x", type: "u8" }], 5)]);
  out.push(["driver input × 2048", inputLayout(2048)]);
  out.push(["driver input × 3", inputLayout(3)]);
  out.push(["output × 512", outputLayout(512)]);
  out.push(["output × 1", outputLayout(1)]);
  return out;
}

/** Seeded random field lists (types and counts) for the compileLayout properties. */
function randomFields(rand: () => number): FieldSpec[] {
  const types: FieldType[] = ["f64", "f32", "i32", "u32", "u8", "string"];
  const n = 1 + (rand() % 12);
  const fields: FieldSpec[] = [];
  for (let i = 0; i < n; i++) fields.push({ name: `f${i}`, type: types[rand() % types.length]! });
  return fields;
}

describe("control block", () => {
  const controlWords = { HEAD: L.HEAD, CONSUMER_SLEEPING: L.CONSUMER_SLEEPING, CLOSED: L.CLOSED, TAIL: L.TAIL, PRODUCER_SLEEPING: L.PRODUCER_SLEEPING };

  it("puts HEAD and TAIL on different cache lines", () => {
    expect(Math.abs(L.TAIL * 4 - L.HEAD * 4)).toBeGreaterThanOrEqual(CACHE_LINE);
    expect(Math.floor((L.HEAD * 4) / CACHE_LINE)).not.toBe(Math.floor((L.TAIL * 4) / CACHE_LINE));
  });

  it("keeps the producer's words with HEAD and the producer's sleep flag with TAIL", () => {
    // HEAD, CLOSED (producer) and the consumer's sleep flag share HEAD's line; the producer's sleep
    // flag shares TAIL's line (the line the producer polls when full).
    const line = (word: number) => Math.floor((word * 4) / CACHE_LINE);
    expect(line(L.CLOSED)).toBe(line(L.HEAD));
    expect(line(L.CONSUMER_SLEEPING)).toBe(line(L.HEAD));
    expect(line(L.PRODUCER_SLEEPING)).toBe(line(L.TAIL));
  });

  it("has distinct words, all inside a cache-line-sized control block", () => {
    const words = Object.values(controlWords);
    expect(new Set(words).size).toBe(words.length);
    for (const [name, w] of Object.entries(controlWords)) {
      expect(Number.isInteger(w), name).toBe(true);
      expect(w, name).toBeGreaterThanOrEqual(0);
      expect((w + 1) * 4, name).toBeLessThanOrEqual(L.CONTROL_BYTES);
    }
    expect(L.CONTROL_BYTES % CACHE_LINE).toBe(0);
  });
});

describe("slot header", () => {
  const words = { H_COUNT: L.H_COUNT, H_KIND: L.H_KIND, H_PARTITION: L.H_PARTITION, H_WATERMARK: L.H_WATERMARK, H_ENQUEUED_AT: L.H_ENQUEUED_AT, H_SEQ: L.H_SEQ, H_AUX0: L.H_AUX0, H_AUX1: L.H_AUX1 };

  it("is one cache line of f64 words", () => {
    expect(L.HEADER_WORDS * 8).toBe(CACHE_LINE);
  });

  it("has distinct header words within one slot header", () => {
    const values = Object.values(words);
    expect(new Set(values).size).toBe(values.length);
    for (const [name, w] of Object.entries(words)) {
      expect(Number.isInteger(w), name).toBe(true);
      expect(w, name).toBeGreaterThanOrEqual(0);
      expect(w, name).toBeLessThan(L.HEADER_WORDS);
    }
  });

  it("has distinct batch kinds", () => {
    expect(new Set([L.BATCH_DATA, L.BATCH_WATERMARK, L.BATCH_END]).size).toBe(3);
  });
});

describe("compileLayout", () => {
  it("places columns in field order, 64-aligned, without overlap, inside bytesPerSlot", () => {
    const rand = mulberry32(0x1a7047);
    const cases: RecordLayout[] = layouts().map(([, l]) => l);
    for (let k = 0; k < 300; k++) cases.push(compileLayout(randomFields(rand), 1 + (rand() % 3000)));
    for (const layout of cases) {
      let end = 0;
      let perRecord = 0;
      for (const c of layout.columns) {
        expect(c.bytesPerValue).toBe(BYTES[c.type]);
        expect(c.offset % CACHE_LINE).toBe(0);
        expect(c.offset).toBeGreaterThanOrEqual(end); // after the previous column: no overlap
        end = c.offset + layout.capacity * c.bytesPerValue;
        perRecord += c.bytesPerValue;
      }
      expect(end).toBeLessThanOrEqual(layout.bytesPerSlot);
      expect(layout.bytesPerSlot % CACHE_LINE).toBe(0);
      expect(layout.bytesPerRecord).toBe(perRecord);
      // No slack beyond what alignment needs: the last column ends within one line of the slot end.
      expect(layout.bytesPerSlot - end).toBeLessThan(CACHE_LINE);
    }
  });

  it("keeps the field names and types", () => {
    const layout = compileLayout(ALL_TYPES, 10);
    expect(layout.columns.map((c) => [c.name, c.type])).toEqual(ALL_TYPES.map((f) => [f.name, f.type]));
  });

  it("rejects a non-positive or fractional capacity and duplicate fields", () => {
    for (const cap of [0, -1, 1.5, NaN]) expect(() => compileLayout(ALL_TYPES, cap)).toThrow(SchemaError);
    expect(() => compileLayout([{ name: "x", type: "f64" }, { name: "x", type: "u8" }], 4)).toThrow(/x appears twice/);
  });
});

describe("ringBytes and slotDataOffset", () => {
  it("put the headers after the control block and the slots after the headers, back to back", () => {
    for (const [name, layout] of layouts()) {
      for (const slots of [2, 4, 8, 16]) {
        const bps = layout.bytesPerSlot;
        const first = L.slotDataOffset(slots, bps, 0);
        expect(first, name).toBe(L.CONTROL_BYTES + slots * L.HEADER_WORDS * 8);
        expect(first % CACHE_LINE, name).toBe(0);
        for (let s = 0; s < slots; s++) expect(L.slotDataOffset(slots, bps, s), name).toBe(first + s * bps);
        expect(L.ringBytes(slots, bps), name).toBe(L.slotDataOffset(slots, bps, slots));
      }
    }
  });

  it("is what BatchRing maps: headers after the control block, each column inside its own slot, 8-aligned", () => {
    for (const [name, layout] of layouts()) {
      for (const slots of [2, 4, 8]) {
        const ring = BatchRing.create(layout, slots);
        const bps = layout.bytesPerSlot;
        expect(ring.buffer.byteLength, name).toBe(L.ringBytes(slots, bps));
        expect(ring.header.byteOffset, name).toBe(L.CONTROL_BYTES);
        expect(ring.header.length, name).toBe(slots * L.HEADER_WORDS);
        expect(ring.columns.length, name).toBe(slots);
        const headersEnd = L.CONTROL_BYTES + slots * L.HEADER_WORDS * 8;
        for (let s = 0; s < slots; s++) {
          const lo = L.slotDataOffset(slots, bps, s);
          const hi = lo + bps;
          const cols = ring.columns[s]!;
          expect(Object.keys(cols), name).toEqual(layout.columns.map((c) => c.name));
          for (const c of layout.columns) {
            const view = cols[c.name]!;
            expect(view.buffer, name).toBe(ring.buffer);
            expect(view.length, name).toBe(layout.capacity);
            expect(view.BYTES_PER_ELEMENT, name).toBe(c.bytesPerValue);
            expect(view.byteOffset, `${name} slot ${s} ${c.name}`).toBe(lo + c.offset);
            expect(view.byteOffset % 8, name).toBe(0);
            expect(view.byteOffset, name).toBeGreaterThanOrEqual(Math.max(lo, headersEnd));
            expect(view.byteOffset + view.byteLength, name).toBeLessThanOrEqual(hi);
          }
        }
      }
    }
  });
});

describe("canaries", () => {
  const SENTINEL = 0xa5;
  const GUARD = 4096;

  /** Seeded pattern values (any bytes: only bytes outside the written columns are checked). */
  function fill(view: ColumnArray, seed: number, isFloat: boolean): void {
    const rand = mulberry32(seed);
    for (let i = 0; i < view.length; i++) view[i] = isFloat ? (rand() - 2 ** 31) / 7 : rand() | 1;
  }

  /** A ring over a SharedArrayBuffer bigger than it needs, every byte set to SENTINEL. */
  function guardedRing(layout: RecordLayout, slots: number): { ring: BatchRing; bytes: Uint8Array; size: number } {
    const size = L.ringBytes(slots, layout.bytesPerSlot);
    const buffer = new SharedArrayBuffer(size + GUARD);
    const bytes = new Uint8Array(buffer);
    bytes.fill(SENTINEL);
    // The counters must start equal (an empty ring): 0xa5a5a5a5 in HEAD and TAIL is fine.
    return { ring: new BatchRing({ buffer, slots, layout }), bytes, size };
  }

  /** Byte ranges [from, to) that writing slot s may change: its columns' first capacity values. */
  function columnRanges(ring: BatchRing, s: number): Array<[number, number]> {
    return Object.values(ring.columns[s]!).map((v) => [v.byteOffset, v.byteOffset + v.byteLength] as [number, number]);
  }

  function outside(ranges: Array<[number, number]>, at: number): boolean {
    for (const [from, to] of ranges) if (at >= from && at < to) return false;
    return true;
  }

  it("writing every column of slot s to full capacity changes no byte of another slot, a header, the control block or past the ring", () => {
    let seed = 1;
    for (const [name, layout] of layouts()) {
      for (const slots of [2, 4]) {
        const { ring, bytes } = guardedRing(layout, slots);
        for (let s = 0; s < slots; s++) {
          const cols = ring.columns[s]!;
          for (const c of layout.columns) fill(cols[c.name]!, seed++, c.type === "f64" || c.type === "f32");
          const allowed = columnRanges(ring, s);
          let stray = -1;
          for (let at = 0; at < bytes.length; at++) {
            if (bytes[at] !== SENTINEL && outside(allowed, at)) { stray = at; break; }
          }
          expect(stray, `${name}, ${slots} slots: writing slot ${s} changed byte ${stray}`).toBe(-1);
          // Read back through a view made independently from the layout: the data landed where the layout says.
          for (const c of layout.columns) {
            const view = cols[c.name]!;
            const at = L.slotDataOffset(slots, layout.bytesPerSlot, s) + c.offset;
            const copy = new Uint8Array(ring.buffer, at, layout.capacity * c.bytesPerValue);
            expect(Buffer.from(copy).equals(Buffer.from(view.buffer, view.byteOffset, view.byteLength)), `${name} ${c.name}`).toBe(true);
          }
          bytes.fill(SENTINEL); // back to all-sentinel for the next slot
        }
      }
    }
  });

  it("writing every header word of slot s changes only that slot's header line", () => {
    for (const slots of [2, 8]) {
      const layout = compileLayout(ALL_TYPES, 3);
      const { ring, bytes } = guardedRing(layout, slots);
      for (let s = 0; s < slots; s++) {
        for (let w = 0; w < L.HEADER_WORDS; w++) ring.header[s * L.HEADER_WORDS + w] = -(s * 100 + w + 0.5);
        const from = L.CONTROL_BYTES + s * L.HEADER_WORDS * 8;
        const allowed: Array<[number, number]> = [[from, from + L.HEADER_WORDS * 8]];
        for (let at = 0; at < bytes.length; at++) {
          if (bytes[at] !== SENTINEL && outside(allowed, at)) expect.fail(`header of slot ${s} changed byte ${at}`);
        }
        bytes.fill(SENTINEL);
      }
    }
  });

  it("ring operations change only control words, never headers or data", () => {
    const layout = compileLayout(ALL_TYPES, 5);
    const slots = 4;
    const buffer = new SharedArrayBuffer(L.ringBytes(slots, layout.bytesPerSlot) + GUARD);
    const bytes = new Uint8Array(buffer);
    bytes.fill(SENTINEL, L.CONTROL_BYTES); // control block starts zeroed (HEAD = TAIL = 0)
    const producer = new BatchRing({ buffer, slots, layout });
    const consumer = new BatchRing({ buffer, slots, layout });
    for (let k = 0; k < 3 * slots; k++) {
      expect(producer.acquire()).toBe(k & (slots - 1));
      producer.publish();
      expect(consumer.peek()).toBe(k & (slots - 1));
      consumer.release();
    }
    expect(producer.waitWritable(1)).toBe(true);
    expect(consumer.waitReadable(1)).toBe(false);
    producer.close();
    for (let at = L.CONTROL_BYTES; at < bytes.length; at++) {
      if (bytes[at] !== SENTINEL) expect.fail(`a ring operation changed byte ${at} outside the control block`);
    }
    const ctrl = new Int32Array(buffer, 0, L.CONTROL_BYTES / 4);
    expect(ctrl[L.HEAD]).toBe(3 * slots);
    expect(ctrl[L.TAIL]).toBe(3 * slots);
    expect(ctrl[L.CLOSED]).toBe(1);
    expect(ctrl[L.CONSUMER_SLEEPING]).toBe(0);
    expect(ctrl[L.PRODUCER_SLEEPING]).toBe(0);
    const touched = new Set([L.HEAD, L.TAIL, L.CLOSED, L.CONSUMER_SLEEPING, L.PRODUCER_SLEEPING]);
    for (let w = 0; w < ctrl.length; w++) if (!touched.has(w)) expect(ctrl[w], `control word ${w}`).toBe(0);
  });
});
