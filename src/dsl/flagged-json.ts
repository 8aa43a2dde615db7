/**
 * The JSON text of a record that a built-in processValues step of the batch plan flags
 * (Fields.checkLatLon, Fields.speedLimit): `{"k":…,"v":{"reason":…,"event":{…fields}}}`, the text
 * `JSON.stringify({ k: key, v: flaggedRecord(reason, row) })` gives for the row the plan fills
 * (string fields by name from the shared strings, numbers as read), written straight from the
 * batch's columns by a function generated once per schema: no row, no object, no generic
 * serialiser per record (the generic path was most of a flagged record's cost on the worker).
 */
import type { ColumnArray, FieldSpec } from "../schema/schema.js";

/**
 * keyJson: the record key's JSON text (keyJson() below); sq(id): the JSON text of string id of the
 * shared table (a string column's value), which the caller may keep per id.
 */
export type FlaggedJson = (keyJson: string, reason: string, cols: readonly ColumnArray[], i: number, sq: (id: number) => string) => string;

/**
 * String(x), with integer-valued doubles from 2^31 up to 10^15 (epoch milliseconds: event times,
 * a flagged record's and its reason's) written as two small integers' texts, which V8 writes
 * in about half the time of a double's shortest form (41–45 against 87–92 ns a number, measured).
 */
export function numberText(x: number): string {
  if (x >= 2_147_483_648 && x < 1e15 && Math.floor(x) === x) {
    const hi = Math.floor(x / 1e6); // exact: x / 1e6 < 1e9, whose doubles are 1.2e-7 apart
    return String(hi) + String(1e6 + (x - hi * 1e6)).slice(1);
  }
  return String(x);
}

/** A number as JSON writes it (finite: its shortest form, -0 as 0; else null). */
const num = (x: number): string => (x - x === 0 ? numberText(x) : "null");

/**
 * The writer for records of `fields` (cols[j] is field j's column), or undefined where the generic
 * path must stay: a text field, or a field named like an array index (JSON.stringify writes such
 * keys first, whatever the schema's order).
 */
export function flaggedJson(fields: readonly FieldSpec[]): FlaggedJson | undefined {
  if (fields.some((f) => f.type === "text" || /^(0|[1-9][0-9]*)$/.test(f.name))) return undefined;
  const parts = fields.map((f, j) => {
    const name = JSON.stringify(`${j === 0 ? "" : ","}${JSON.stringify(f.name)}:`);
    return `${name} + ${f.type === "string" ? `sq(cols[${j}][i])` : `num(cols[${j}][i])`}`;
  });
  const body = `return (keyJson, reason, cols, i, sq) => '{"k":' + keyJson +
    ',"v":{"reason":' + q(reason) + ',"event":{' + ${parts.length > 0 ? parts.join(" + ") : "''"} + '}}}';`;
  return new Function("q", "num", body)(JSON.stringify, num) as FlaggedJson;
}

/** A record key's JSON text as `JSON.stringify({ k: key })` writes it (undefined as null). */
export function keyJson(key: unknown): string {
  return typeof key === "number" ? num(key) : (JSON.stringify(key ?? null) as string);
}
