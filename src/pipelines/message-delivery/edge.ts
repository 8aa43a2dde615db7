/**
 * message-delivery on the main thread: the edge kernel (watermark), the output objects and the
 * encryption of content at the sink edge. Channel records are outputs of type "delivery" (to the
 * recipient's WebSocket), "push" (push-notification topic) or "stored" (Redis until forwarded), each
 * {type, messageId, chatId, senderId, recipientId, ts, iv, ciphertext, tag}; an output's type is its
 * name (the Kafka sink's topic: statuses → the output topic, push → <output-topic>.push, the
 * others <output-topic>.<type>). A run binds the definition to its key and to the source
 * that answers for an output's original event (bindMessageDelivery); the content is read from there.
 */
import { OUT_INVALID, type OutputColumns } from "../../ring/output.js";
import type { ColumnArray } from "../../schema/schema.js";
import type { Output } from "../../sinks/sink.js";
import type { PipelineDefinition } from "../pipeline.js";
import { encryptContent } from "./crypto.js";
import {
  KIND_PRESENCE, KIND_RECEIPT, MESSAGE_EVENT, OUT_DELIVER, OUT_FORWARD, OUT_PUSH, OUT_SESSION, OUT_STATUS, OUT_STORE, PIPELINE, R_INVALID_MAX, REASONS,
  STATUS_NAMES, messageInputLayout, type MessageInputColumns,
} from "./spec.js";

const RECORD_NAMES: Record<number, string> = {
  [OUT_STATUS]: "status", [OUT_DELIVER]: "delivery", [OUT_PUSH]: "push", [OUT_STORE]: "stored", [OUT_FORWARD]: "forward", [OUT_SESSION]: "session",
};

export interface MessageDeliveryBinding {
  /** The 32-byte AES-256 key. */
  key: Buffer;
  /** The original event of the output at index i (the run's source: `source.event`). */
  event(out: OutputColumns, i: number): unknown;
  /** The run's edge state: the stored messages a forward delivers (MessageEdge.forwarded). */
  edge?: { forwarded(partition: number, offset: number, j: number, into: Float64Array): string | undefined };
}

const ids = new Float64Array(2);

function render(binding: MessageDeliveryBinding | undefined, out: OutputColumns, i: number, name: (field: string, id: number) => string): Output {
  const kind = out.kind[i]!;
  if (kind === OUT_SESSION) {
    return { type: "session", chatId: name("chatId", out.key[i]!), start: out.a[i]!, end: out.b[i]!, messages: out.c[i]! };
  }
  if (kind === OUT_FORWARD) {
    return { type: "forward", userId: name("userId", out.key[i]!), messages: out.a[i]!, ts: out.d[i]! };
  }
  if (kind === OUT_STATUS && out.f[i] === 2) {
    // A stored message delivered as its recipient came online (key: the recipient, a: its index).
    let messageId = binding?.edge?.forwarded(out.part[i]!, out.off[i]!, out.a[i]!, ids);
    if (messageId === undefined) { messageId = ""; ids.fill(0); }
    return {
      type: "status", messageId, chatId: name("chatId", ids[0]!), senderId: name("senderId", ids[1]!),
      recipientId: name("recipientId", out.key[i]!), status: "DELIVERED", forwarded: true, ts: out.d[i]!,
    };
  }
  const messageId = name("messageId", out.key[i]!);
  const chatId = name("chatId", out.a[i]!);
  const senderId = name("senderId", out.b[i]!);
  const recipientId = name("recipientId", out.c[i]!);
  const ts = out.d[i]!;
  if (kind === OUT_STATUS) {
    const code = out.code[i]!;
    const o: Output = { type: "status", messageId, chatId, senderId, recipientId, status: STATUS_NAMES[code] ?? `status-${code}` };
    const reason = out.e[i]!;
    if (reason > 0) o["reason"] = REASONS[reason] ?? `reason ${reason}`;
    if (out.f[i] === 1) o["receipt"] = true;
    o["ts"] = ts;
    return o;
  }
  if (!binding) throw new Error("message-delivery renders messages only when bound to a key and a source (bindMessageDelivery)");
  const event = binding.event(out, i) as Record<string, unknown> | null;
  const content = event?.["content"];
  if (typeof content !== "string") throw new Error(`message ${messageId}: its content is no longer available at the sink edge`);
  const sealed = encryptContent(binding.key, content);
  return {
    type: RECORD_NAMES[kind]!, messageId, chatId, senderId, recipientId, ts,
    iv: sealed.iv, ciphertext: sealed.ciphertext, tag: sealed.tag,
  };
}

export const messageDelivery: PipelineDefinition = {
  name: PIPELINE,
  description: "WhatsApp-style delivery: per-chat messages validated (membership, spam, size, rate), AES-256-GCM content, routed by presence (WebSocket, push, stored), statuses, chat sessions",
  volatileState: "presence and the rate limits (the edge's state): after a crash a recipient's presence is unknown until it reports again, so its messages are stored instead of sent live, and each sender's rate limit counts from zero (this edge state is in no snapshot yet, so exactly-once is refused for message-delivery)",
  schema: MESSAGE_EVENT,
  // No windows: statuses are final when emitted; sessions close on the watermark in the shards.
  window: { sizeMs: 1, graceMs: 0 },
  outputs: ["status", "delivery", "push", "stored", "forward", "session", "invalid"],
  processorConfig: {},
  shardKey: "chatId",
  outputTopics(outputTopic: string): Readonly<Record<string, string>> {
    return { status: outputTopic, push: `${outputTopic}.push` };
  },
  inputLayout: messageInputLayout,

  prepare(columns: Record<string, ColumnArray>, n: number, streamTime: number, otherMin: number): number {
    const { ts, _reason, _wm } = columns as unknown as MessageInputColumns;
    let st = +streamTime; // a number to the optimizer (kernels/validate.ts)
    const other = +otherMin;
    for (let i = 0; i < n; i++) {
      const t = ts[i]!;
      if ((_reason[i] === 0 || _reason[i]! > R_INVALID_MAX) && t > st) st = t;
      _wm[i] = st < other ? st : other;
    }
    return st;
  },

  renderWindow(): Output {
    throw new Error("message-delivery has no windows");
  },

  renderSide(out: OutputColumns, i: number, event: unknown): Output {
    return { type: "invalid", reason: REASONS[out.code[i]!] || `invalid (code ${out.code[i]})`, event };
  },

  recordName(kind: number): string {
    return RECORD_NAMES[kind] ?? `kind-${kind}`;
  },

  renderRecord(out: OutputColumns, i: number, name: (field: string, id: number) => string): Output {
    return render(undefined, out, i, name);
  },

  eventFromRecord(out: OutputColumns, i: number, name: (id: number) => string): unknown {
    const v = (x: number): number | null => (Number.isNaN(x) ? null : x);
    const s = (id: number): string => (id === 0 ? "" : name(id));
    if (out.e[i] === KIND_PRESENCE) return { userId: s(out.key[i]!), ts: v(out.d[i]!) };
    const e: Record<string, unknown> = { messageId: s(out.key[i]!), chatId: s(out.a[i]!), senderId: s(out.b[i]!), recipientId: s(out.c[i]!), ts: v(out.d[i]!) };
    if (out.e[i] === KIND_RECEIPT) e["receipt"] = null; // its value is not in the record
    return e;
  },

  outputKey(output: Output): string | null {
    if (output.type === "delivery" || output.type === "push" || output.type === "stored" || output.type === "forward") return (output["recipientId"] ?? output["userId"]) as string;
    if (typeof output["chatId"] === "string") return output["chatId"] as string;
    const event = output["event"] as Record<string, unknown> | null;
    const id = event?.["chatId"] ?? event?.["userId"];
    return typeof id === "string" && id !== "" ? id : null;
  },

  sideName(kind: number): string {
    return kind === OUT_INVALID ? "invalid" : "unknown";
  },
};

/** The definition of one run: channel records are encrypted with `binding.key`. */
export function bindMessageDelivery(binding: MessageDeliveryBinding): PipelineDefinition {
  return { ...messageDelivery, renderRecord: (out, i, name) => render(binding, out, i, name) };
}
