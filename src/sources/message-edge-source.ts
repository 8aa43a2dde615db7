/**
 * message-delivery on Kafka: wraps the Kafka source(s) (one topic with both event kinds, or
 * incoming-messages and presence as a MultiSource) and runs the pipeline's edge (MessageEdge) on
 * every record filled into a ring slot. The edge needs what is not in the columns (the content, the
 * presence status): it reads the event back from the inner source (the raw JSON it retains, parsed
 * a second time here, on the main thread). Ids are interned again into tables of this source,
 * because two Kafka sources intern separately and presence (userId) and messages (senderId,
 * recipientId) must name a user with the same id; chats and users have a table each, so that chat
 * and user ids stay dense (the shards' session arrays and the edge's presence arrays are indexed by
 * them). Message ids stay as the inner source decoded them: transient (the schema's, a new id per
 * message, its string kept while the message is in flight: Interner.internTransient), named by it.
 */
import { MessageEdge, PRESENCE_OFFLINE, PRESENCE_ONLINE, PRESENCE_UNKNOWN, RECEIPT_DELIVERED, RECEIPT_READ, utf8Bytes } from "../pipelines/message-delivery/edge-state.js";
import { ChatMembership, hasBannedWord, type MessageInputColumns } from "../pipelines/message-delivery/spec.js";
import type { OutputColumns } from "../ring/output.js";
import { Interner } from "../schema/interner.js";
import type { ColumnArray } from "../schema/schema.js";
import type { Source, SourceHooks } from "./source.js";

export class MessageEdgeSource implements Source {
  readonly partitions: number;
  /** The inner source's bound (it may change: KafkaSource). */
  get maxInFlight(): number {
    return this.inner.maxInFlight;
  }
  readonly users = new Interner();
  readonly chats = new Interner();
  position?: (p: number) => number;
  commit?: (positions: ReadonlyArray<readonly [number, number]>) => Promise<void>;
  enteredAt?: (p: number) => number;
  enteredRuns?: Source["enteredRuns"];
  whenData?: Source["whenData"];
  assigned?: (p: number) => boolean;
  /** One output-shaped row to ask the inner source for the event at (partition, offset). */
  private readonly probe: OutputColumns;

  readonly edge: MessageEdge;

  /** `edge`: the run's edge state, given how to name a message id of this source. */
  constructor(readonly inner: Source, edge: (messageName: (id: number) => string) => MessageEdge) {
    this.edge = edge((id) => this.messageName(id));
    this.partitions = inner.partitions;
    if (inner.position) this.position = (p) => inner.position!(p);
    if (inner.commit) this.commit = (positions) => inner.commit!(positions);
    if (inner.enteredAt) this.enteredAt = (p) => inner.enteredAt!(p);
    if (inner.enteredRuns) this.enteredRuns = (p, ts, count, at, max) => inner.enteredRuns!(p, ts, count, at, max);
    if (inner.whenData) this.whenData = (ms) => inner.whenData!(ms);
    if (inner.assigned) this.assigned = (p) => inner.assigned!(p);
    const u32 = (): Uint32Array => new Uint32Array(1);
    const f64 = (): Float64Array => new Float64Array(1);
    this.probe = { kind: u32(), code: u32(), key: u32(), part: u32(), off: f64(), a: f64(), b: f64(), c: f64(), d: f64(), e: f64(), f: f64() };
  }

  fill(p: number, columns: Record<string, ColumnArray>, max: number): number {
    const n = this.inner.fill(p, columns, max);
    const c = columns as unknown as MessageInputColumns;
    const probe = this.probe;
    probe.part[0] = p;
    for (let i = 0; i < n; i++) {
      probe.off[0] = c._off[i]!;
      const ev = this.inner.event(probe, 0) as Record<string, unknown> | null;
      const o = typeof ev === "object" && ev !== null ? ev : {};
      const t = o["ts"];
      c.ts[i] = typeof t === "number" ? t : NaN;
      c.userId[i] = this.users.intern(o["userId"]);
      c.chatId[i] = this.chats.intern(o["chatId"]);
      c.senderId[i] = this.users.intern(o["senderId"]);
      c.recipientId[i] = this.users.intern(o["recipientId"]);
      if ("receipt" in o) {
        const r = o["receipt"];
        this.edge.annotateReceipt(c, i, r === "delivered" ? RECEIPT_DELIVERED : r === "read" ? RECEIPT_READ : 0);
      } else if (!("messageId" in o) && "userId" in o) {
        const s = o["status"];
        this.edge.annotatePresence(c, i, s === "online" ? PRESENCE_ONLINE : s === "offline" ? PRESENCE_OFFLINE : PRESENCE_UNKNOWN, p);
      } else {
        const content = o["content"];
        const chat = typeof o["chatId"] === "string" ? ChatMembership.chatIndex(o["chatId"]) : -1;
        const sender = typeof o["senderId"] === "string" ? ChatMembership.userIndex(o["senderId"]) : -1;
        const isText = typeof content === "string";
        this.edge.annotateMessage(c, i, chat, sender, isText ? utf8Bytes(content) : -1, isText && hasBannedWord(content));
      }
    }
    return n;
  }

  exhausted(): boolean {
    return this.inner.exhausted();
  }

  event(out: OutputColumns, i: number): unknown {
    return this.inner.event(out, i);
  }

  idName(field: string, id: number): string {
    return field === "messageId" ? this.messageName(id) : (field === "chatId" ? this.chats : this.users).name(id);
  }

  private messageName(id: number): string {
    return this.inner.idName ? this.inner.idName("messageId", id) : "";
  }

  attach(hooks: SourceHooks): void {
    this.inner.attach?.(hooks);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
