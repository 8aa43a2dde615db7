/**
 * Where a topology must repartition on the worker engine, as Kafka Streams decides it: a record
 * whose key was changed (map, flatMap, selectKey, groupBy) and then reaches an operator that needs
 * every record of a key in one place (an aggregation, a stream-stream join) must first move to
 * the shard that owns its new key.
 *
 *   source ─► filter ─► groupBy(newKey) ═══ repartition edge ═══► aggregate ─► toStream ─► to()
 *                                         (worker i ─► ring i→j ─► worker j = hash(newKey) mod W)
 *
 * On the engine a repartition edge is an internal output (the record and its new key as JSON)
 * that the emitting shard writes into the ring it shares with the key's shard (src/ring/peer-rings.ts;
 * or, CoordinatorOptions.repartitionPath "coordinator", the coordinator feeds it into that shard's
 * input ring), where the executor injects it into the operator (executor.ts inject()). Within one
 * shard order per key is kept.
 *
 * Refused, naming the node: a re-keyed stream joined with a co-partitioned KTable (the table's
 * records live where their topic partition goes; join a re-keyed stream with a GlobalKTable), and
 * a repartition downstream of an operator that emits when the watermark closes something (a
 * windowed aggregate emitting final results, a left or outer stream-stream join): those results
 * would reach their next shard behind its watermark, and the end-of-input flush would have to run
 * in rounds. Operators that emit as records arrive (KTable aggregates and joins, inner joins,
 * emit-on-update windows) may come before a repartition.
 */
import { RiptideError } from "../errors.js";
import type { KafkaHeader } from "../io/kafka/client.js";
import { TopologyError } from "./errors.js";
import type { PlanNode, Topology } from "./plan.js";

/** An edge parent → node (into the node's input `port`) that moves records between shards. */
export interface RepartitionEdge {
  /** The node that needs co-located keys, and its input port (0, or 1 for a join's right side). */
  node: number;
  port: number;
  /** The parent whose records cross the edge. */
  parent: number;
  /** Internal output name of the edge (like Kafka Streams' `<name>-repartition` topics). */
  name: string;
}

const REKEYS = new Set<PlanNode["kind"]>(["map", "flatMap", "selectKey"]);
const STATEFUL = new Set<PlanNode["kind"]>(["aggregate", "stream-stream-join", "table-source"]);

/** An operator that emits when the watermark closes a window (or at the end of input). */
function emitsAtClose(n: PlanNode): boolean {
  return (n.kind === "aggregate" && n.windows !== undefined && n.emit === "close") || (n.kind === "stream-stream-join" && n.join !== "inner");
}

/** Prefix of the internal output names of repartition edges. */
export const REPARTITION_PREFIX = "__repartition:";

/** The repartition edges of a topology, in plan order; a TopologyError for what the engine cannot move. */
export function repartitionEdges(topology: Topology): RepartitionEdge[] {
  const nodes = topology.nodes;
  /** Whether a node's records may carry a key other than the one their source partition was chosen by. */
  const rekeyed: boolean[] = [];
  /** The operator emitting at watermark close that a node is downstream of (-1: none). */
  const afterClose: number[] = [];
  const edges: RepartitionEdge[] = [];
  for (const n of nodes) {
    const parentsRekeyed = n.parents.map((p) => rekeyed[p] === true);
    let closer = -1;
    for (const p of n.parents) if (closer < 0) closer = emitsAtClose(nodes[p]!) ? p : afterClose[p]!;
    afterClose[n.id] = closer;
    const keyBound = n.kind === "aggregate" || n.kind === "stream-stream-join" || (n.kind === "stream-table-join" && n.keySelector === undefined);
    if (keyBound && parentsRekeyed.some((r) => r)) {
      if (n.kind === "stream-table-join") {
        throw new TopologyError(`${n.name} joins a re-keyed stream with a KTable, whose records stay where their topic's partitions go: join it with a GlobalKTable (builder.globalTable) instead, or key the stream before it is read`);
      }
      if (closer >= 0) {
        throw new TopologyError(`${n.name} needs a repartition downstream of ${nodes[closer]!.name}, whose results come out when the watermark closes windows; the engine repartitions only records that move with event time (not there yet)`);
      }
      // A join moves both sides (the side that kept its key too: both must land on hash(key)).
      const ports = n.kind === "stream-stream-join" ? n.parents.map((_, i) => i) : [0];
      for (const port of ports) edges.push({ node: n.id, port, parent: n.parents[port]!, name: `${REPARTITION_PREFIX}${n.name}:${port}` });
      rekeyed[n.id] = false;
      continue;
    }
    rekeyed[n.id] = REKEYS.has(n.kind) || (!STATEFUL.has(n.kind) && n.kind !== "stream-table-join" && parentsRekeyed.some((r) => r)) ||
      (n.kind === "stream-table-join" && parentsRekeyed[0] === true);
  }
  return edges;
}

/**
 * The Kafka topic of a repartition edge when records cross processes (exactly-once with state per
 * partition, `--instance-id`): Kafka Streams names it `<application.id>-<node>-repartition`; here
 * `<group>-<node>-<port>-repartition`, every character a topic name may not hold turned into `-`.
 */
export function repartitionTopicFor(group: string, edge: string): string {
  const name = edge.startsWith(REPARTITION_PREFIX) ? edge.slice(REPARTITION_PREFIX.length) : edge;
  const topic = `${group}-${name}-repartition`.replace(/[^A-Za-z0-9._-]/g, "-");
  if (topic.length > 249) throw new TopologyError(`the repartition topic of ${name} would be named ${topic.length} characters (Kafka allows 249): use a shorter --group or operator name`);
  return topic;
}

/**
 * Configs a repartition topic is created with, Kafka Streams' own for theirs (KIP-284): kept until
 * purged (retention.ms -1: records are deleted once their offsets are committed, not by age, so a
 * group stopped for longer than a retention loses nothing), in segments small and young enough
 * (50 MB, 10 minutes) that the purged ones are removed from disk soon.
 */
export const REPARTITION_TOPIC_CONFIG: Readonly<Record<string, string>> = {
  "cleanup.policy": "delete", "retention.ms": "-1", "segment.bytes": String(50 << 20), "segment.ms": "600000",
};

/**
 * A record of a repartition topic that is not one the engine wrote (`{ …, value: [k, v],
 * timestamp }`): the topic is internal, so this is an engine bug or a foreign writer. As Kafka
 * Streams fails the task on a record it cannot deserialize, the run fails: no dead letter (the
 * committed offset stays before the record; a restart meets it again).
 */
export class RepartitionRecordError extends RiptideError {
  constructor(topic: string, why: string, where: { partition?: number; offset?: number } = {}) {
    const at = where.partition === undefined ? "" : ` partition ${where.partition}${where.offset === undefined ? "" : ` offset ${where.offset}`}`;
    super("ERR_REPARTITION_RECORD", `repartition topic ${topic}${at} holds a record the engine did not write (${why}): it is internal to the run; find what else writes to it`, where);
  }
}

/**
 * KafkaSourceOptions.deadLetter of a repartition topic: fails the run (RepartitionRecordError)
 * with where the message is and why it did not decode, from the headers KafkaSource gives.
 */
export function internalRecordFailed(_dlq: string, _value: Buffer, _key: string | null, headers: KafkaHeader[]): void {
  const h = (k: string) => headers.find((x) => x.key === k)?.value?.toString();
  throw new RepartitionRecordError(h("riptide.topic") ?? "?", h("riptide.error") ?? "it does not decode", { partition: Number(h("riptide.partition")), offset: Number(h("riptide.offset")) });
}

/** Whether some edge's records come from downstream of another edge (a repartition after a repartition). */
export function chainedEdges(topology: Topology, edges: readonly RepartitionEdge[]): boolean {
  const after: boolean[] = [];
  for (const n of topology.nodes) after[n.id] = edges.some((e) => e.node === n.id) || n.parents.some((p) => after[p] === true);
  return edges.some((e) => after[e.parent] === true);
}

/**
 * A well-spread 32-bit hash of a key's JSON text (FNV-1a over UTF-16 code units, then a murmur3
 * finaliser). The coordinator sends the record to shard hash mod W; equal keys, equal text.
 */
export function keyHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
