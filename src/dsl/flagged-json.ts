/**
 * The JSON text of a record that a built-in processValues step of the batch plan flags
 * (Fields.checkLatLon, Fields.speedLimit): `{"k":…,"v":{"reason":…,"event":{…fields}}}`, the text
 * `JSON.stringify({ k: key, v: flaggedRecord(reason, row) })` gives for the row the plan fills
 * (string fields by name from the shared strings, numbers as read), written straight from the
 * batch's columns by a function generated once per schema: no row, no object, no generic
 * serialiser per record (the generic path was most of a flagged record's cost on the worker).
 */
import type { ColumnArray, FieldSpec } from "../schema/schema.js";

export type FlaggedJson = (key: unknown, reason: string, cols: readonly ColumnArray[], i: number, str: (id: number) => string) => string;

/** A number as JSON writes it (finite: its shortest form, -0 as 0; else null). */
const num = (x: number): string => (x - x === 0 ? String(x) : "null");

/**
 * The writer for records of `fields` (cols[j] is field j's column), or undefined where the generic
 * path must stay: a text field, or a field named like an array index (JSON.stringify writes such
 * keys first, whatever the schema's order).
 */
export function flaggedJson(fields: readonly FieldSpec[]): FlaggedJson | undefined {
  if (fields.some((f) => f.type === "text" || /^(0|[1-9][0-9]*)$/.test(f.name))) return undefined;
  const parts = fields.map((f, j) => {
    const name = JSON.stringify(`${j === 0 ? "" : ","}${JSON.stringify(f.name)}:`);
    return `${name} + ${f.type === "string" ? `q(str(cols[${j}][i]))` : `num(cols[${j}][i])`}`;
  });
  const body = `return (key, reason, cols, i, str) => '{"k":' + (typeof key === "string" ? q(key) : typeof key === "number" ? num(key) : q(key ?? null)) +
    ',"v":{"reason":' + q(reason) + ',"event":{' + ${parts.length > 0 ? parts.join(" + ") : "''"} + '}}}';`;
  return new Function("q", "num", body)(JSON.stringify, num) as FlaggedJson;
}
