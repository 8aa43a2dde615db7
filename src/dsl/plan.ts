/**
 * The compiled plan of a topology: a DAG of nodes in creation (topological) order. A plan is what
 * `StreamsBuilder.build()` returns; the user functions stay inside its nodes, in the module (and
 * thread) that built it. The executor (executor.ts) instantiates a plan once per shard.
 *
 *   source ──► filter/map/… ──► groupBy ──► windowed aggregate ──► toStream ──► sink
 *   table-source ─────────────────────────────────┐
 *   stream ──► stream-table join ◄────────────────┘
 */
import type { Schema } from "../schema/schema.js";
import type { JoinWindows, SessionWindows, SlidingWindows, TimeWindows } from "./windows.js";
import type { PerKeyStoreSpec } from "./per-key-store.js";

export type KeyValue<K, V> = { key: K; value: V };

/** A numeric aggregation that runs on typed arrays (count, sum, min, max, mean of a number). */
export type BuiltinOp = "count" | "sum" | "min" | "max" | "mean";

export interface AggregateOptions {
  /** Name of the state store (reported with its memory, queryable from the test driver). */
  name?: string;
  /** Topic that receives records too late for their window. @default "riptide-late" */
  late?: string;
  /** How long closed windows stay in the store after they close (event time, ms). @default 0 */
  retentionMs?: number;
}

interface Base {
  readonly id: number;
  readonly name: string;
  readonly parents: number[];
}

export type PlanNode =
  | (Base & {
      kind: "source"; topics: string[]; key?: (value: any) => unknown; timestamp?: (value: any, key: unknown) => number;
      /** For the worker engine: the schema, and the fields holding the key and the event time. */
      schema?: Schema; keyField?: string; timestampField?: string;
    })
  | (Base & {
      kind: "table-source"; topic: string; store: string;
      /** For the worker engine: the schema, the field holding the key, and optionally one holding the record's time. */
      schema?: Schema; keyField?: string; timestampField?: string;
      /** A GlobalKTable: every shard reads the whole topic (broadcast). */
      global?: boolean;
    })
  | (Base & { kind: "filter"; fn: (k: any, v: any) => boolean; negate: boolean })
  | (Base & { kind: "map"; fn: (k: any, v: any) => KeyValue<unknown, unknown> })
  | (Base & { kind: "mapValues"; fn: (v: any, k: any) => unknown })
  | (Base & { kind: "flatMap"; fn: (k: any, v: any) => Iterable<KeyValue<unknown, unknown>> })
  | (Base & { kind: "flatMapValues"; fn: (v: any, k: any) => Iterable<unknown> })
  | (Base & { kind: "peek"; fn: (k: any, v: any) => void })
  /** processValues with an optional per-key store (per-key-store.ts): a string result sends the record to `flagged`. */
  | (Base & { kind: "processValues"; fn: (v: any, state: any, ctx: any) => unknown; store: PerKeyStoreSpec | undefined; flagged: string })
  | (Base & { kind: "selectKey"; fn: (k: any, v: any) => unknown; repartition: boolean })
  | (Base & { kind: "split"; predicates: ((k: any, v: any) => boolean)[]; branches: number[] })
  | (Base & { kind: "branch"; index: number })
  | (Base & { kind: "merge" })
  | (Base & { kind: "sink"; topic: string | ((k: any, v: any) => string) })
  | (Base & { kind: "toStream" })
  | (Base & {
      kind: "aggregate";
      store: string;
      windows: TimeWindows | SlidingWindows | SessionWindows | undefined;
      init: () => unknown;
      adder: (key: any, value: any, agg: any) => unknown;
      merger: ((key: any, a: any, b: any) => unknown) | undefined;
      builtin: { op: BuiltinOp; field: ((v: any) => number) | undefined } | undefined;
      emit: "close" | "update";
      late: string;
      retentionMs: number;
    })
  | (Base & {
      kind: "stream-table-join"; table: number; joiner: (v: any, t: any) => unknown; left: boolean;
      /** A GlobalKTable join: the table key to look up, from the stream record. */
      keySelector?: (k: any, v: any) => unknown;
    })
  | (Base & {
      kind: "stream-stream-join";
      windows: JoinWindows;
      joiner: (l: any, r: any) => unknown;
      join: "inner" | "left" | "outer";
      store: string;
      late: string;
    });

export type NodeKind = PlanNode["kind"];

/** The compiled plan: nodes in topological order (a node's parents come before it). */
export class Topology {
  constructor(readonly nodes: readonly PlanNode[]) {}

  /** Input topics: those read as streams and those read as tables. */
  get sourceTopics(): string[] {
    const out = new Set<string>();
    for (const n of this.nodes) {
      if (n.kind === "source") for (const t of n.topics) out.add(t);
      else if (n.kind === "table-source") out.add(n.topic);
    }
    return [...out];
  }

  /** Output topics (sinks and late outputs). */
  get sinkTopics(): string[] {
    const out = new Set<string>();
    for (const n of this.nodes) {
      if (n.kind === "sink" && typeof n.topic === "string") out.add(n.topic);
      if (n.kind === "aggregate" || n.kind === "stream-stream-join") out.add(n.late);
      if (n.kind === "processValues") out.add(n.flagged);
    }
    return [...out];
  }

  /** A readable description (like Kafka Streams' `Topology.describe()`). */
  describe(): string {
    const children = new Map<number, number[]>();
    for (const n of this.nodes) for (const p of n.parents) children.set(p, [...(children.get(p) ?? []), n.id]);
    return this.nodes
      .map((n) => {
        const extra = n.kind === "source" ? ` topics: ${n.topics.join(", ")}` : n.kind === "table-source" ? ` topic: ${n.topic}` :
          n.kind === "sink" ? ` topic: ${typeof n.topic === "string" ? n.topic : "(dynamic)"}` : "";
        const to = children.get(n.id)?.map((c) => this.nodes[c]!.name).join(", ") ?? "none";
        return `${n.kind} ${n.name}${extra} --> ${to}`;
      })
      .join("\n");
  }
}
