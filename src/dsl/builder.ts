/**
 * The public DSL, with Kafka Streams' names: StreamsBuilder, KStream, KTable, KGroupedStream and
 * the windowed streams. Each call appends a node to the builder's plan; `build()` freezes it into
 * a {@link Topology}. Nothing here runs records: see executor.ts.
 */
import { OptionRangeError, OptionTypeError } from "../errors.js";
import type { Schema } from "../schema/schema.js";
import { type AggregateOptions, type BuiltinOp, type KeyValue, type PlanNode, Topology } from "./plan.js";
import { EmitStrategy, JoinWindows, SessionWindows, SlidingWindows, Suppressed, TimeWindows, type Windowed } from "./windows.js";
import { checkProcessValues, type PerKeyStoreSpec, type ProcessValuesOptions, type ValueProcessor } from "./per-key-store.js";

/** Where late records go unless an operator names another topic. */
export const DEFAULT_LATE_TOPIC = "riptide-late";
/** Where records a processValues processor flags go unless it names another topic. */
export const DEFAULT_FLAGGED_TOPIC = "riptide-flagged";
/** Where records with an invalid timestamp (not a finite number ≥ 0) go. */
export const INVALID_TOPIC = "riptide-invalid";

type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;
type NodeSpec = DistributiveOmit<PlanNode, "id" | "name" | "parents">;

export interface StreamOptions<V> {
  /** The schema of the topic's records (needed to run on the worker engine; informative here). */
  schema?: Schema;
  /** Key of each record, from its value: a field name or a function (when the topic's records carry none). */
  key?: string | ((value: V) => unknown);
  /**
   * Event time of each record: a field name of the value or a function. @default the record's own
   * timestamp (the one given to pipeInput, or the Kafka message timestamp)
   */
  timestamp?: string | ((value: V, key: unknown) => number);
}

function fn(option: string, f: unknown): void {
  if (typeof f !== "function") throw new OptionTypeError(option, `${option} must be a function, got ${typeof f}`);
}

function topicName(option: string, t: unknown): string {
  if (typeof t !== "string" || t.length === 0) throw new OptionTypeError(option, `${option} must be a non-empty topic name, got ${JSON.stringify(t)}`);
  return t;
}

export class StreamsBuilder {
  /** @internal */
  readonly nodes: PlanNode[] = [];
  private built = false;
  private readonly names = new Set<string>();

  /** @internal Appends a node; returns its id. */
  add(spec: NodeSpec, parents: number[], name?: string): number {
    if (this.built) throw new OptionRangeError("builder", "this StreamsBuilder was already built; make a new one for another topology");
    const id = this.nodes.length;
    let n = name ?? `${spec.kind.toUpperCase()}-${String(id).padStart(10, "0")}`;
    if (this.names.has(n)) n = `${n}-${id}`;
    this.names.add(n);
    this.nodes.push({ ...spec, id, name: n, parents } as PlanNode);
    return id;
  }

  /** @internal */
  node(id: number): PlanNode {
    return this.nodes[id]!;
  }

  stream<V = any, K = any>(topics: string | string[], options: StreamOptions<V> = {}): KStream<K, V> {
    const list = (Array.isArray(topics) ? topics : [topics]).map((t) => topicName("topic", t));
    let key: ((value: any) => unknown) | undefined;
    if (typeof options.key === "string") {
      const field = options.key;
      key = (v) => (v == null ? undefined : (v as Record<string, unknown>)[field]);
    } else if (options.key !== undefined) {
      fn("key", options.key);
      key = options.key as (value: any) => unknown;
    }
    let timestamp: ((value: any, key: unknown) => number) | undefined;
    if (typeof options.timestamp === "string") {
      const field = options.timestamp;
      timestamp = (v) => (v == null ? NaN : (v as Record<string, unknown>)[field] as number);
    } else if (options.timestamp !== undefined) {
      fn("timestamp", options.timestamp);
      timestamp = options.timestamp as (value: any, key: unknown) => number;
    }
    const id = this.add({
      kind: "source", topics: list, ...(key && { key }), ...(timestamp && { timestamp }), ...(options.schema && { schema: options.schema }),
      ...(typeof options.key === "string" && { keyField: options.key }), ...(typeof options.timestamp === "string" && { timestampField: options.timestamp }),
    }, []);
    return new KStream<K, V>(this, id);
  }

  /**
   * A table from a (compacted) topic: the latest value per key; a null value (tombstone) deletes the key.
   * On the worker engine the table needs `schema` and `key` (the field holding the key; the topic
   * must be co-partitioned with the streams joined to it); `timestamp` optionally names a time field.
   */
  table<V = any, K = any>(topic: string, options: { name?: string; schema?: Schema; key?: string; timestamp?: string } = {}): KTable<K, V> {
    const t = topicName("topic", topic);
    if (options.key !== undefined && (typeof options.key !== "string" || options.key.length === 0)) throw new OptionTypeError("key", `a table's key must be a field name, got ${JSON.stringify(options.key)}`);
    if (options.timestamp !== undefined && (typeof options.timestamp !== "string" || options.timestamp.length === 0)) throw new OptionTypeError("timestamp", `a table's timestamp must be a field name, got ${JSON.stringify(options.timestamp)}`);
    const id = this.add({
      kind: "table-source", topic: t, store: options.name ?? `${t}-STORE`,
      ...(options.schema && { schema: options.schema }), ...(options.key !== undefined && { keyField: options.key }),
      ...(options.timestamp !== undefined && { timestampField: options.timestamp }),
    }, []);
    return new KTable<K, V>(this, id, false);
  }

  /**
   * A table every shard holds whole (Kafka Streams' `GlobalKTable`): its topic is read in full by
   * every shard (broadcast), so a stream joins it by any key it computes from a record (no
   * co-partitioning needed). For small tables: content metadata, user profiles. On the worker
   * engine it needs `schema` and `key` (the field holding the key).
   */
  globalTable<V = any, K = any>(topic: string, options: { name?: string; schema?: Schema; key?: string; timestamp?: string } = {}): GlobalKTable<K, V> {
    const t = this.table<V, K>(topic, options);
    (this.nodes[t.id] as { global?: boolean }).global = true;
    return new GlobalKTable<K, V>(this, t.id);
  }

  build(): Topology {
    this.built = true;
    return new Topology(Object.freeze([...this.nodes]));
  }
}

/** A record stream (Kafka Streams' `KStream`). */
export class KStream<K, V> {
  constructor(/** @internal */ readonly builder: StreamsBuilder, /** @internal */ readonly id: number) {}

  private next<K2, V2>(spec: NodeSpec, name?: string): KStream<K2, V2> {
    return new KStream<K2, V2>(this.builder, this.builder.add(spec, [this.id], name));
  }

  filter(predicate: (key: K, value: V) => boolean, name?: string): KStream<K, V> {
    fn("predicate", predicate);
    return this.next({ kind: "filter", fn: predicate, negate: false }, name);
  }

  filterNot(predicate: (key: K, value: V) => boolean, name?: string): KStream<K, V> {
    fn("predicate", predicate);
    return this.next({ kind: "filter", fn: predicate, negate: true }, name);
  }

  map<K2, V2>(mapper: (key: K, value: V) => KeyValue<K2, V2>, name?: string): KStream<K2, V2> {
    fn("mapper", mapper);
    return this.next({ kind: "map", fn: mapper }, name);
  }

  mapValues<V2>(mapper: (value: V, key: K) => V2, name?: string): KStream<K, V2> {
    fn("mapper", mapper);
    return this.next({ kind: "mapValues", fn: mapper }, name);
  }

  flatMap<K2, V2>(mapper: (key: K, value: V) => Iterable<KeyValue<K2, V2>>, name?: string): KStream<K2, V2> {
    fn("mapper", mapper);
    return this.next({ kind: "flatMap", fn: mapper }, name);
  }

  flatMapValues<V2>(mapper: (value: V, key: K) => Iterable<V2>, name?: string): KStream<K, V2> {
    fn("mapper", mapper);
    return this.next({ kind: "flatMapValues", fn: mapper }, name);
  }

  peek(action: (key: K, value: V) => void, name?: string): KStream<K, V> {
    fn("action", action);
    return this.next({ kind: "peek", fn: action }, name);
  }

  /**
   * Kafka Streams' processValues with a state store, for checks that need the key's past: the
   * processor sees each value, the key's state in `store` (Stores.perKey: typed fields per key;
   * undefined for none) and a context (key, timestamp, watermark). A string result flags the
   * record: it goes to `options.flagged` as `{ reason, event }` and does not flow on; otherwise the
   * record flows on unchanged. See per-key-store.ts.
   */
  processValues<F extends string>(store: PerKeyStoreSpec<F> | undefined, processor: ValueProcessor<K, V, F>, options: ProcessValuesOptions = {}): KStream<K, V> {
    checkProcessValues(store, processor);
    const flagged = options.flagged === undefined ? DEFAULT_FLAGGED_TOPIC : topicName("flagged", options.flagged);
    return this.next({ kind: "processValues", fn: processor, store, flagged }, options.name);
  }

  selectKey<K2>(mapper: (key: K, value: V) => K2, name?: string): KStream<K2, V> {
    fn("mapper", mapper);
    return this.next({ kind: "selectKey", fn: mapper, repartition: false }, name);
  }

  /** Splits the stream: each record goes to the first branch whose predicate holds. */
  split(named?: string): BranchedKStream<K, V> {
    return new BranchedKStream<K, V>(this, named ?? "");
  }

  merge(other: KStream<K, V>, name?: string): KStream<K, V> {
    if (!(other instanceof KStream) || other.builder !== this.builder) {
      throw new OptionTypeError("stream", "merge() takes a KStream of the same StreamsBuilder");
    }
    return new KStream<K, V>(this.builder, this.builder.add({ kind: "merge" }, [this.id, other.id], name));
  }

  /** Writes the stream to a topic (or to the topic a function picks per record). */
  to(topic: string | ((key: K, value: V) => string), name?: string): void {
    if (typeof topic !== "function") topicName("topic", topic);
    this.builder.add({ kind: "sink", topic }, [this.id], name);
  }

  groupByKey(): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this.builder, this.id);
  }

  /** Groups by a new key: a repartition (on the worker engine, records move to the key's shard). */
  groupBy<K2>(selector: (key: K, value: V) => K2, name?: string): KGroupedStream<K2, V> {
    fn("selector", selector);
    const id = this.builder.add({ kind: "selectKey", fn: selector, repartition: true }, [this.id], name);
    return new KGroupedStream<K2, V>(this.builder, id);
  }

  /** Stream-global-table join (inner): each record joins the table's value for the key `keySelector` gives. */
  join<GK, VT, VR>(other: GlobalKTable<GK, VT>, keySelector: (key: K, value: V) => GK, joiner: (value: V, tableValue: VT) => VR, name?: string): KStream<K, VR>;
  /** Stream-table join (inner): each record joins the table's current value for its key; no value, no output. */
  join<VT, VR>(other: KTable<K, VT>, joiner: (value: V, tableValue: VT) => VR, name?: string): KStream<K, VR>;
  /** Stream-stream windowed inner join. */
  join<VO, VR>(other: KStream<K, VO>, joiner: (value: V, other: VO) => VR, windows: JoinWindows, options?: AggregateOptions): KStream<K, VR>;
  join(other: KTable<K, any> | KStream<K, any> | GlobalKTable<any, any>, joiner: (a: any, b: any) => any, third?: JoinWindows | string | ((a: any, b: any) => any), options?: AggregateOptions | string): KStream<K, any> {
    if (other instanceof GlobalKTable) return this.globalJoin(other, joiner, third, options, false);
    return this.joinImpl(other, joiner, third as JoinWindows | string | undefined, options as AggregateOptions | undefined, "inner");
  }

  leftJoin<GK, VT, VR>(other: GlobalKTable<GK, VT>, keySelector: (key: K, value: V) => GK, joiner: (value: V, tableValue: VT | null) => VR, name?: string): KStream<K, VR>;
  leftJoin<VT, VR>(other: KTable<K, VT>, joiner: (value: V, tableValue: VT | null) => VR, name?: string): KStream<K, VR>;
  leftJoin<VO, VR>(other: KStream<K, VO>, joiner: (value: V, other: VO | null) => VR, windows: JoinWindows, options?: AggregateOptions): KStream<K, VR>;
  leftJoin(other: KTable<K, any> | KStream<K, any> | GlobalKTable<any, any>, joiner: (a: any, b: any) => any, third?: JoinWindows | string | ((a: any, b: any) => any), options?: AggregateOptions | string): KStream<K, any> {
    if (other instanceof GlobalKTable) return this.globalJoin(other, joiner, third, options, true);
    return this.joinImpl(other, joiner, third as JoinWindows | string | undefined, options as AggregateOptions | undefined, "left");
  }

  private globalJoin(other: GlobalKTable<any, any>, keySelector: (k: any, v: any) => any, joiner: unknown, name: unknown, left: boolean): KStream<K, any> {
    fn("keySelector", keySelector);
    fn("joiner", joiner);
    const id = this.builder.add({ kind: "stream-table-join", table: other.id, joiner: joiner as (a: any, b: any) => any, left, keySelector },
      [this.id, other.id], typeof name === "string" ? name : undefined);
    return new KStream(this.builder, id);
  }

  outerJoin<VO, VR>(other: KStream<K, VO>, joiner: (value: V | null, other: VO | null) => VR, windows: JoinWindows, options?: AggregateOptions): KStream<K, VR> {
    return this.joinImpl(other, joiner, windows, options, "outer");
  }

  private joinImpl(other: KTable<K, any> | KStream<K, any>, joiner: (a: any, b: any) => any, third: JoinWindows | string | undefined,
    options: AggregateOptions | undefined, join: "inner" | "left" | "outer"): KStream<K, any> {
    fn("joiner", joiner);
    if (other instanceof KTable) {
      if (join === "outer") throw new OptionTypeError("other", "outerJoin() needs a KStream and JoinWindows (stream-table joins are inner or left)");
      const id = this.builder.add({ kind: "stream-table-join", table: other.id, joiner, left: join === "left" }, [this.id, other.id],
        typeof third === "string" ? third : undefined);
      return new KStream(this.builder, id);
    }
    if (!(other instanceof KStream)) throw new OptionTypeError("other", "join() takes a KTable or a KStream");
    if (!(third instanceof JoinWindows)) throw new OptionTypeError("windows", "a stream-stream join needs JoinWindows, e.g. JoinWindows.ofTimeDifferenceWithNoGrace(60_000)");
    const id = this.builder.add({
      kind: "stream-stream-join", windows: third, joiner, join,
      store: options?.name ?? `KSTREAM-JOIN-${this.builder.nodes.length}-STORE`, late: options?.late ?? DEFAULT_LATE_TOPIC,
    }, [this.id, other.id], options?.name);
    return new KStream(this.builder, id);
  }
}

/** A table every shard holds whole (`StreamsBuilder.globalTable`); joined with a key selector. */
export class GlobalKTable<K, V> {
  /** @internal */ declare readonly _types?: [K, V];
  constructor(/** @internal */ readonly builder: StreamsBuilder, /** @internal */ readonly id: number) {}
}

/** Kafka Streams' `Branched`: the name of a branch (and optionally a function applied to it). */
export class Branched<K, V> {
  private constructor(readonly name: string | undefined, readonly chain: ((s: KStream<K, V>) => KStream<K, V> | void) | undefined) {}
  static as<K, V>(name: string): Branched<K, V> {
    return new Branched<K, V>(name, undefined);
  }
  static withFunction<K, V>(chain: (s: KStream<K, V>) => KStream<K, V> | void, name?: string): Branched<K, V> {
    return new Branched<K, V>(name, chain);
  }
  static withConsumer<K, V>(consumer: (s: KStream<K, V>) => void, name?: string): Branched<K, V> {
    return new Branched<K, V>(name, (s) => { consumer(s); });
  }
}

/** Result of `KStream.split()`. Branch names are the split's name followed by the branch's. */
export class BranchedKStream<K, V> {
  private readonly splitId: number;
  private readonly result = new Map<string, KStream<K, V>>();
  private done = false;

  constructor(private readonly parent: KStream<K, V>, private readonly prefix: string) {
    this.splitId = parent.builder.add({ kind: "split", predicates: [], branches: [] }, [parent.id], prefix || undefined);
  }

  branch(predicate: (key: K, value: V) => boolean, branched?: Branched<K, V>): BranchedKStream<K, V> {
    fn("predicate", predicate);
    this.addBranch(predicate, branched);
    return this;
  }

  defaultBranch(branched?: Branched<K, V>): Map<string, KStream<K, V>> {
    this.addBranch(() => true, branched, "0");
    return this.noDefaultBranch();
  }

  noDefaultBranch(): Map<string, KStream<K, V>> {
    this.done = true;
    return this.result;
  }

  private addBranch(predicate: (key: K, value: V) => boolean, branched: Branched<K, V> | undefined, fallback?: string): void {
    if (this.done) throw new OptionRangeError("branch", "this split() already has its default branch");
    const b = this.parent.builder;
    const split = b.node(this.splitId) as Extract<PlanNode, { kind: "split" }>;
    const index = split.predicates.length;
    const id = b.add({ kind: "branch", index }, [this.splitId]);
    split.predicates.push(predicate);
    split.branches.push(id);
    const name = this.prefix + (branched?.name ?? fallback ?? String(index + 1));
    let stream = new KStream<K, V>(b, id);
    if (branched?.chain) {
      const r = branched.chain(stream);
      if (!r) return;
      stream = r;
    }
    this.result.set(name, stream);
  }
}

/** A changelog table (Kafka Streams' `KTable`): from a topic or an aggregation. */
export class KTable<K, V> {
  constructor(/** @internal */ readonly builder: StreamsBuilder, /** @internal */ readonly id: number, /** @internal */ readonly windowed: boolean) {}

  /** The table's updates as a stream (for windowed tables the keys are `Windowed<K>`). */
  toStream(name?: string): KStream<K, V> {
    return new KStream<K, V>(this.builder, this.builder.add({ kind: "toStream" }, [this.id], name));
  }

  /**
   * `Suppressed.untilWindowCloses()`: only the final result of each window, when it closes. Windowed
   * aggregations already emit that way unless `emitStrategy(EmitStrategy.onWindowUpdate())` asked otherwise.
   */
  suppress(suppressed: Suppressed): KTable<K, V> {
    if (!(suppressed instanceof Suppressed)) throw new OptionTypeError("suppressed", "suppress() takes Suppressed.untilWindowCloses()");
    const node = this.builder.node(this.id);
    if (node.kind !== "aggregate" || node.windows === undefined) {
      throw new OptionTypeError("suppressed", "suppress(Suppressed.untilWindowCloses()) applies to a windowed aggregation's KTable");
    }
    node.emit = "close";
    return this;
  }
}

interface AggregationSpec {
  init: () => unknown;
  adder: (key: any, value: any, agg: any) => unknown;
  merger: ((key: any, a: any, b: any) => unknown) | undefined;
  builtin: { op: BuiltinOp; field: ((v: any) => number) | undefined } | undefined;
}

const number = (field: ((v: any) => number) | undefined, v: unknown): number => (field ? field(v) : (v as number));

function builtinSpec(op: BuiltinOp, field: string | ((v: any) => number) | undefined): AggregationSpec {
  let f: ((v: any) => number) | undefined;
  // A field that is not a number is none (NaN): missing, or null where a NaN crossed a repartition
  // edge as JSON; the typed window stores, like the object form below, then skip it.
  if (typeof field === "string") f = (v) => { const x = v == null ? NaN : (v as Record<string, unknown>)[field]; return typeof x === "number" ? x : NaN; };
  else if (field !== undefined) { fn("selector", field); f = field; }
  // The object form of each built-in (used where the typed-array store does not apply): the
  // same semantics: non-finite values are skipped by sum/min/max/mean; min/max/mean of none is null.
  const finite = (x: number): boolean => typeof x === "number" && x - x === 0;
  switch (op) {
    case "count":
      return { init: () => 0, adder: (_k, _v, a: number) => a + 1, merger: (_k, a: number, b: number) => a + b, builtin: { op, field: f } };
    case "sum":
      return { init: () => 0, adder: (_k, v, a: number) => { const x = number(f, v); return finite(x) ? a + x : a; },
        merger: (_k, a: number, b: number) => a + b, builtin: { op, field: f } };
    case "min":
    case "max": {
      const pick = op === "min" ? Math.min : Math.max;
      return { init: () => null, adder: (_k, v, a: number | null) => { const x = number(f, v); return !finite(x) ? a : a === null ? x : pick(a, x); },
        merger: (_k, a: number | null, b: number | null) => (a === null ? b : b === null ? a : pick(a, b)), builtin: { op, field: f } };
    }
    case "mean":
      // Intermediate {sum, n}; rendered as sum / n (null when n = 0) by the executor.
      return { init: () => ({ sum: 0, n: 0 }), adder: (_k, v, a: { sum: number; n: number }) => { const x = number(f, v); return finite(x) ? { sum: a.sum + x, n: a.n + 1 } : a; },
        merger: (_k, a: { sum: number; n: number }, b: { sum: number; n: number }) => ({ sum: a.sum + b.sum, n: a.n + b.n }), builtin: { op, field: f } };
  }
}

abstract class Aggregatable<K, V> {
  constructor(/** @internal */ readonly builder: StreamsBuilder, /** @internal */ readonly id: number) {}
  protected abstract readonly windows: TimeWindows | SlidingWindows | SessionWindows | undefined;
  protected emit: "close" | "update" = "close";

  protected aggregateNode(spec: AggregationSpec, options: AggregateOptions = {}): KTable<any, any> {
    if (options.retentionMs !== undefined && (!Number.isInteger(options.retentionMs) || options.retentionMs < 0)) {
      throw new OptionRangeError("retentionMs", `retentionMs must be an integer ≥ 0, got ${options.retentionMs}`);
    }
    if (options.late !== undefined) topicName("late", options.late);
    const store = options.name ?? `KSTREAM-AGGREGATE-STATE-STORE-${String(this.builder.nodes.length).padStart(10, "0")}`;
    const id = this.builder.add({
      kind: "aggregate", store, windows: this.windows, ...spec,
      emit: this.windows === undefined ? "update" : this.emit, late: options.late ?? DEFAULT_LATE_TOPIC, retentionMs: options.retentionMs ?? 0,
    }, [this.id], options.name);
    return new KTable(this.builder, id, this.windows !== undefined);
  }

  count(options?: AggregateOptions): KTable<any, number> {
    return this.aggregateNode(builtinSpec("count", undefined), options);
  }

  /** Sum of a number (the value itself, a field of it, or a function of it); non-finite values are skipped. */
  sum(field?: string | ((value: V) => number), options?: AggregateOptions): KTable<any, number> {
    return this.aggregateNode(builtinSpec("sum", field), options);
  }

  min(field?: string | ((value: V) => number), options?: AggregateOptions): KTable<any, number | null> {
    return this.aggregateNode(builtinSpec("min", field), options);
  }

  max(field?: string | ((value: V) => number), options?: AggregateOptions): KTable<any, number | null> {
    return this.aggregateNode(builtinSpec("max", field), options);
  }

  /** Mean of the finite values (null when there is none). */
  mean(field?: string | ((value: V) => number), options?: AggregateOptions): KTable<any, number | null> {
    return this.aggregateNode(builtinSpec("mean", field), options);
  }

  reduce(reducer: (a: V, b: V) => V, options?: AggregateOptions): KTable<any, V> {
    fn("reducer", reducer);
    const none = undefined;
    return this.aggregateNode({
      init: () => none, adder: (_k, v, a) => (a === none ? v : reducer(a, v)),
      merger: (_k, a, b) => (a === none ? b : b === none ? a : reducer(a, b)), builtin: undefined,
    }, options);
  }
}

export class KGroupedStream<K, V> extends Aggregatable<K, V> {
  protected readonly windows = undefined;

  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(windows: TimeWindows | SlidingWindows | SessionWindows): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    if (windows instanceof SessionWindows) return new SessionWindowedKStream<K, V>(this.builder, this.id, windows);
    if (windows instanceof TimeWindows || windows instanceof SlidingWindows) return new TimeWindowedKStream<K, V>(this.builder, this.id, windows);
    throw new OptionTypeError("windows", "windowedBy() takes TimeWindows, SlidingWindows or SessionWindows");
  }

  aggregate<VA>(initializer: () => VA, aggregator: (key: K, value: V, aggregate: VA) => VA, options?: AggregateOptions): KTable<K, VA> {
    fn("initializer", initializer);
    fn("aggregator", aggregator);
    return this.aggregateNode({ init: initializer, adder: aggregator, merger: undefined, builtin: undefined }, options);
  }
}

export class TimeWindowedKStream<K, V> extends Aggregatable<K, V> {
  constructor(builder: StreamsBuilder, id: number, protected readonly windows: TimeWindows | SlidingWindows) {
    super(builder, id);
  }

  emitStrategy(strategy: EmitStrategy): this {
    if (!(strategy instanceof EmitStrategy)) throw new OptionTypeError("strategy", "emitStrategy() takes EmitStrategy.onWindowClose() or onWindowUpdate()");
    this.emit = strategy.kind;
    return this;
  }

  aggregate<VA>(initializer: () => VA, aggregator: (key: K, value: V, aggregate: VA) => VA, options?: AggregateOptions): KTable<Windowed<K>, VA> {
    fn("initializer", initializer);
    fn("aggregator", aggregator);
    return this.aggregateNode({ init: initializer, adder: aggregator, merger: undefined, builtin: undefined }, options);
  }
}

export class SessionWindowedKStream<K, V> extends Aggregatable<K, V> {
  constructor(builder: StreamsBuilder, id: number, protected readonly windows: SessionWindows) {
    super(builder, id);
  }

  emitStrategy(strategy: EmitStrategy): this {
    if (!(strategy instanceof EmitStrategy)) throw new OptionTypeError("strategy", "emitStrategy() takes EmitStrategy.onWindowClose() or onWindowUpdate()");
    this.emit = strategy.kind;
    return this;
  }

  /** Session aggregation: `merger` combines the aggregates of two sessions a record bridges. */
  aggregate<VA>(initializer: () => VA, aggregator: (key: K, value: V, aggregate: VA) => VA, merger: (key: K, a: VA, b: VA) => VA,
    options?: AggregateOptions): KTable<Windowed<K>, VA> {
    fn("initializer", initializer);
    fn("aggregator", aggregator);
    fn("merger", merger);
    return this.aggregateNode({ init: initializer, adder: aggregator, merger, builtin: undefined }, options);
  }
}

export { EmitStrategy, JoinWindows, SessionWindows, SlidingWindows, Suppressed, TimeWindows };
