/** What both halves of a topology on the engine share (engine.ts, engine-shard.ts): reason codes and module loading. */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { TopologyError } from "./errors.js";
import type { Topology } from "./plan.js";
import type { SharedStrings } from "./shared-strings.js";
import { OUT_INVALID, type OutputWriter } from "../ring/output.js";

/** Reason codes of the invalid output (edge) and of records whose user function threw (worker). */
export const DSL_BAD_TIMESTAMP = 1;
export const DSL_NO_KEY = 2;
export const DSL_USER_ERROR = 3;
export const DSL_NOT_A_NUMBER = 4;
export const DSL_UNKNOWN_GROUP_KEY = 5;
export const DSL_NOT_SERIALISABLE = 6;
export const DSL_OUTPUT_TOO_LARGE = 7;
export const DSL_TEXT_TOO_LONG = 8;
/** groupBy partials: an integer key k travels as k + NUMERIC_KEY, a string key as its id (< NUMERIC_KEY). */
export const NUMERIC_KEY = 2 ** 31;
export const REASONS = ["", "no valid event time (the timestamp field must be a finite number ≥ 0)", "no key (the key field is missing or empty)",
  "a user function threw", "the aggregate is not a number (only numeric aggregates run on the engine)",
  "the groupBy key is neither a string of the input records nor an integer in [0, 2^31) (the engine sends keys as ids)",
  "an output value cannot be written as JSON (a cycle or a BigInt)", "an output is larger than an output slot's byte area (256 KiB as JSON)",
  "a text field is longer than 252 bytes of UTF-8"];

/** Imports a topology module: its default export (or `topology` export) is a Topology or a function returning one. */
export async function loadTopology(modulePath: string): Promise<Topology> {
  const url = modulePath.startsWith("file:") ? modulePath : pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(modulePath)).href;
  const mod = (await import(url)) as Record<string, unknown>;
  let t = mod["default"] ?? mod["topology"];
  if (typeof t === "function") t = await (t as () => unknown)();
  if (!t || !Array.isArray((t as Topology).nodes)) {
    throw new TopologyError(`${modulePath} must export (default or as "topology") a Topology from builder.build(), or a function returning one`);
  }
  return t as Topology;
}

/**
 * Key codes of the typed stores in a shard's checkpoint: u32 ids ≥ 0 as themselves, strings as
 * −(their id in the shared string table); NaN for a key with neither (the executor then writes it as JSON).
 */
export function storeKeyCodec(strings: SharedStrings | undefined): { encode(k: unknown): number; decode(x: number): unknown } {
  return {
    encode(k) {
      if (typeof k === "number") return Number.isInteger(k) && k >= 0 ? k : NaN;
      if (typeof k === "string") {
        const id = strings?.ids.get(k);
        return id === undefined ? NaN : -id;
      }
      return NaN;
    },
    decode: (x) => (x >= 0 ? x : strings ? strings.name(-x) : String(-x)),
  };
}

/**
 * An output value as JSON (`{ k, v }`) in the output ring's byte area (OUT_OBJECT, `code`: which
 * output); a value JSON cannot write, or one larger than the area, goes to the invalid output instead.
 */
export function writeObjectOutput(out: OutputWriter, code: number, key: unknown, value: unknown, ts: number, start: number, end: number,
  keyId: number, partition: number, off: number): void {
  let text: string;
  try {
    text = JSON.stringify({ k: key ?? null, v: value ?? null });
  } catch {
    out.side(OUT_INVALID, DSL_NOT_SERIALISABLE, keyId, partition, off, ts, NaN, NaN, NaN, 0, 0);
    return;
  }
  if (!out.object(code, partition, off, ts, start, end, text)) out.side(OUT_INVALID, DSL_OUTPUT_TOO_LARGE, keyId, partition, off, ts, NaN, NaN, NaN, 0, 0);
}
