/**
 * `text` fields: UTF-8 written by value into the batch's byte area (no string table), so ids with a
 * value per event do not grow anything. writeUtf8 against Node's encoder on seeded strings of every
 * code-point range (lone surrogates included), the byte limit, and the JSON decoder's placement.
 */
import { describe, expect, it } from "vitest";
import { bindColumns, compileLayout, defineSchema, textOffset, TEXT_BYTES, TEXT_TOO_LONG, writeUtf8 } from "../../src/schema/schema.js";
import { Interner } from "../../src/schema/interner.js";
import { compileJsonDecoder } from "../../src/sources/json.js";
import { mulberry32 } from "../support/random.js";

function randomString(next: () => number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const r = next() % 6;
    if (r === 0) s += String.fromCharCode(0x20 + (next() % 0x5f));
    else if (r === 1) s += String.fromCharCode(0x80 + (next() % 0x780));
    else if (r === 2) s += String.fromCharCode(0x800 + (next() % 0xd000));
    else if (r === 3) s += String.fromCodePoint(0x10000 + (next() % 0xfffff));
    else if (r === 4) s += String.fromCharCode(0xd800 + (next() % 0x800)); // lone surrogate
    else s += "é";
  }
  return s;
}

describe("writeUtf8", () => {
  it("writes what Buffer.from(s, 'utf8') does, for 2000 seeded strings", () => {
    const next = mulberry32(3);
    const to = new Uint8Array(4096);
    for (let k = 0; k < 2000; k++) {
      const s = randomString(next, next() % 60);
      const want = Buffer.from(s, "utf8");
      const n = writeUtf8(s, to, 7, 4000);
      expect(n).toBe(want.length);
      expect(Buffer.from(to.subarray(7, 7 + n)).equals(want)).toBe(true);
    }
  });

  it("returns -1 when the bytes would pass the limit (a 3-byte character at the edge included)", () => {
    const to = new Uint8Array(16);
    expect(writeUtf8("abcd", to, 0, 4)).toBe(4);
    expect(writeUtf8("abcde", to, 0, 4)).toBe(-1);
    expect(writeUtf8("ab€", to, 0, 4)).toBe(-1); // € is 3 bytes: 5 in all
    expect(writeUtf8("a€", to, 0, 4)).toBe(4);
  });
});

describe("text fields in a layout", () => {
  const schema = defineSchema("msg", { id: "text", user: "string", body: "text", n: "f64" });

  it("the decoder puts each record's values at their place; the column holds length + 1; too long and missing are marked", () => {
    const layout = compileLayout([...schema.fields, { name: "_off", type: "f64" }], 8);
    expect(layout.textFields).toEqual(["id", "body"]);
    const cols = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    const decode = compileJsonDecoder(schema, new Interner());
    const rows = [
      { id: "msg-1", user: "u1", body: "héllo 👋", n: 1 },
      { id: "", user: "u2", body: "x".repeat(TEXT_BYTES), n: 2 },
      { id: 42, user: "u3", body: "y".repeat(TEXT_BYTES + 1), n: 3 },
    ];
    rows.forEach((r, i) => decode(r, cols, i));
    const u = cols["_blob"] as Uint8Array;
    const blob = Buffer.from(u.buffer, u.byteOffset, u.length);
    const text = (i: number, f: number, field: string) => {
      const x = cols[field]![i]!;
      const at = textOffset(layout, i, f);
      return x === 0 ? "" : blob.toString("utf8", at, at + x - 1);
    };
    expect(text(0, 0, "id")).toBe("msg-1");
    expect(text(0, 1, "body")).toBe("héllo 👋");
    expect(cols["id"]![1]).toBe(0);
    expect(text(1, 1, "body")).toBe("x".repeat(TEXT_BYTES));
    expect(cols["id"]![2]).toBe(0); // not a string: missing
    expect(cols["body"]![2]).toBe(TEXT_TOO_LONG);
    expect(cols["user"]![2]).toBe(3); // strings are still interned
  });
});
