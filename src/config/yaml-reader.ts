/**
 * Typed reads of a YAML document with positions: every failure is a UsageError whose message starts
 * with `file:line:col path:` (line and column 1-based, from the `yaml` package's LineCounter; the
 * path in the document as `a.b[2].c`).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type Scalar } from "yaml";
import { UsageError } from "../cli/args.js";

/** A node of the document with its YAML path; `node` is the value (or the map for a missing key). */
export interface At {
  readonly node: Node | null;
  readonly path: string;
  /** The key of a map value, for the position of an empty value (`key:` with nothing after it). */
  readonly key?: Node | null;
}

export class YamlReader {
  readonly root: At;

  constructor(readonly file: string, text: string) {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
    this.lines = lineCounter;
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      throw new UsageError(`${where}: invalid YAML: ${err.message.split("\n")[0]}`);
    }
    this.root = { node: (doc.contents as Node | null) ?? null, path: "" };
  }

  private readonly lines: LineCounter;

  /** `file:line:col path` of a node (the file alone when the node has no position). */
  where(at: At): string {
    const offset = at.node?.range?.[0] ?? at.key?.range?.[0];
    const pos = offset === undefined ? undefined : this.lines.linePos(offset);
    return `${pos ? `${this.file}:${pos.line}:${pos.col}` : this.file}${at.path ? ` ${at.path}` : ""}`;
  }

  fail(at: At, message: string): never {
    throw new UsageError(`${this.where(at)}: ${message}`);
  }

  /**
   * The entries of a map, checked against the keys it may have: an unknown key fails at the key,
   * a missing required key at the map. Returns the values by key, absent keys left out.
   */
  map(at: At, keys: { required?: readonly string[]; optional?: readonly string[] }, what: string): Map<string, At> {
    this.noAlias(at);
    if (!isMap(at.node)) this.fail(at, `${what} must be a mapping (key: value lines), got ${describe(at.node)}`);
    const known = [...(keys.required ?? []), ...(keys.optional ?? [])];
    const out = new Map<string, At>();
    for (const pair of at.node.items as Array<Pair<unknown, unknown>>) {
      const key = pair.key as Node | null;
      const name = isScalar(key) ? String(key.value) : undefined;
      const keyAt: At = { node: key, path: at.path };
      if (name === undefined) this.fail(keyAt, `${what}: keys must be plain names, got ${describe(key)}`);
      const path = at.path ? `${at.path}.${name}` : name;
      if (!known.includes(name)) this.fail({ node: key, path }, `unknown key ${JSON.stringify(name)} in ${what} (known: ${known.join(", ")})`);
      out.set(name, { node: (pair.value as Node | null) ?? null, path, key });
    }
    for (const k of keys.required ?? []) {
      if (!out.has(k)) this.fail(at, `${what} needs the key ${JSON.stringify(k)}`);
    }
    return out;
  }

  /** The value of one key of a map, which must be there (other keys are not checked). */
  peek(at: At, key: string, what: string): At {
    this.noAlias(at);
    if (!isMap(at.node)) this.fail(at, `${what} must be a mapping (key: value lines), got ${describe(at.node)}`);
    const pair = (at.node.items as Array<Pair<unknown, unknown>>).find((p) => isScalar(p.key) && p.key.value === key);
    if (!pair) this.fail(at, `${what} needs the key ${JSON.stringify(key)}`);
    return { node: (pair.value as Node | null) ?? null, path: at.path ? `${at.path}.${key}` : key, key: pair.key as Node | null };
  }

  /** The items of a sequence (at least `min`). */
  seq(at: At, what: string, min = 0): At[] {
    this.noAlias(at);
    if (!isSeq(at.node)) this.fail(at, `${what} must be a list ("- item" lines), got ${describe(at.node)}`);
    const items = (at.node.items as Array<Node | null>).map((node, i) => ({ node, path: `${at.path}[${i}]` }));
    if (items.length < min) this.fail(at, `${what} needs at least ${min} item${min === 1 ? "" : "s"}, got ${items.length}`);
    return items;
  }

  /** A non-empty string scalar. */
  string(at: At, what: string): string {
    this.noAlias(at);
    const v = isScalar(at.node) ? (at.node as Scalar).value : undefined;
    if (typeof v !== "string" || v.trim() === "") this.fail(at, `${what} must be a non-empty string, got ${describe(at.node)}`);
    return v;
  }

  /** An integer scalar within [min, max]. */
  integer(at: At, what: string, min: number, max: number): number {
    this.noAlias(at);
    const v = isScalar(at.node) ? (at.node as Scalar).value : undefined;
    if (typeof v !== "number" || !Number.isInteger(v)) this.fail(at, `${what} must be an integer, got ${describe(at.node)}`);
    if (v < min || v > max) this.fail(at, `${what} must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  boolean(at: At, what: string): boolean {
    this.noAlias(at);
    const v = isScalar(at.node) ? (at.node as Scalar).value : undefined;
    if (typeof v !== "boolean") this.fail(at, `${what} must be true or false, got ${describe(at.node)}`);
    return v;
  }

  private noAlias(at: At): void {
    if (isAlias(at.node)) this.fail(at, "aliases (*name) are not supported in pipeline files; write the value out");
  }
}

function describe(node: Node | null | undefined): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return node.value === null ? "null" : JSON.stringify(node.value);
  return "an unsupported node";
}
