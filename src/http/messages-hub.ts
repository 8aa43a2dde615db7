/**
 * message-delivery's delivery channels at the sink edge (seed §4 `delivery_channels`):
 *
 *   WebSocket `/messages?user=ID`   the recipient's live connection: "delivery" outputs (the
 *                                   recipient was online by presence) are sent
 *                                   to every socket the user has open here
 *   Redis list `pending:{userId}`   (with --redis) records routed to "store" are appended
 *                                   (RPUSH, 30-day expiry); they are forwarded — popped and sent on
 *                                   the user's sockets, marked `forwarded: true` — when a `forward`
 *                                   output says the user came online, and when the user connects
 *
 * Content is already encrypted (the output objects carry iv, ciphertext, tag). Delivery on a socket
 * is at-most-once (a socket with more than 1 MiB unsent misses messages, counted in `dropped`); a
 * "delivery" for a user with no socket here is counted in `unreachable`. Stored messages
 * leave Redis only when a socket of the user is open to take them (LPOP, in batches of 1000).
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { RedisClient } from "../sinks/redis-client.js";
import type { Output, Sink } from "../sinks/sink.js";

const MAX_BUFFERED = 1 << 20;
const STORE_TTL_S = 30 * 24 * 3600;
const POP_BATCH = 1000;

export interface MessagesHubOptions {
  /** With --redis: where stored messages wait. */
  client?: RedisClient;
  /** Prepended to every Redis key. */
  prefix?: string;
}

export class MessagesHub implements Sink {
  readonly wantsObjects = true;
  sent = 0;
  dropped = 0;
  unreachable = 0;
  stored = 0;
  forwarded = 0;
  /** Outputs given to Redis (stored messages, forwards) and how many Redis has answered for. */
  written = 0;
  acknowledged = 0;
  private failure: Error | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly users = new Map<string, Set<WebSocket>>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: MessagesHubOptions = {}) {}

  /** For the HTTP server's upgrade handler (path /messages). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const user = new URL(req.url ?? "/", "http://x").searchParams.get("user") ?? "";
    if (user === "" || user.length > 256) {
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n/messages needs ?user=ID (1-256 characters)\n");
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      let set = this.users.get(user);
      if (!set) this.users.set(user, (set = new Set()));
      set.add(ws);
      const drop = (): void => {
        set!.delete(ws);
        if (set!.size === 0 && this.users.get(user) === set) this.users.delete(user);
      };
      ws.on("close", drop);
      ws.on("error", drop);
      ws.send(JSON.stringify({ type: "connected", user }));
      if (this.options.client) this.forward(user);
    });
  }

  get pending(): number {
    return this.written - this.acknowledged;
  }

  write(output: Output): void {
    if (output.type === "delivery") this.send(output["recipientId"] as string, JSON.stringify(output));
    else if (output.type === "stored") {
      const user = output["recipientId"] as string;
      if (this.options.client) {
        const key = this.key(user);
        this.redis([["RPUSH", key, JSON.stringify(output)], ["EXPIRE", key, STORE_TTL_S]], () => { this.stored++; });
      }
    } else if (output.type === "forward" && this.options.client) {
      this.written++;
      const user = output["userId"] as string;
      this.chain = this.chain.then(() => this.drain(user)).then(() => { this.acknowledged++; }, (err) => { this.failure ??= err as Error; });
    }
  }

  private key(user: string): string {
    return `${this.options.prefix ?? ""}pending:${user}`;
  }

  private redis(commands: Array<Array<string | number>>, done: () => void): void {
    this.written++;
    const client = this.options.client!;
    this.chain = this.chain.then(() => client.pipeline(commands)).then(() => { done(); this.acknowledged++; }, (err) => { this.failure ??= err as Error; });
  }

  /** Pops the user's stored messages onto their sockets (none open: they stay stored). */
  private async drain(user: string): Promise<void> {
    const client = this.options.client!;
    while (this.users.get(user)?.size) {
      const [popped] = await client.pipeline([["LPOP", this.key(user), POP_BATCH]]);
      const list = (popped ?? []) as string[];
      for (const text of list) {
        const m = JSON.parse(text) as Output;
        m["forwarded"] = true;
        this.send(user, JSON.stringify(m));
        this.forwarded++;
      }
      if (list.length < POP_BATCH) return;
    }
  }

  private forward(user: string): void {
    this.chain = this.chain.then(() => this.drain(user)).catch((err) => { this.failure ??= err as Error; });
  }

  private send(user: string, text: string): void {
    const set = this.users.get(user);
    if (!set || set.size === 0) {
      this.unreachable++;
      return;
    }
    for (const ws of set) {
      if (ws.bufferedAmount > MAX_BUFFERED) {
        this.dropped++;
        continue;
      }
      ws.send(text);
      this.sent++;
    }
  }

  service(): void {
    if (this.failure) throw this.failure;
  }

  async flush(): Promise<void> {
    await this.chain;
    this.service();
  }

  get connected(): number {
    let n = 0;
    for (const s of this.users.values()) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.options.client?.quit();
    for (const set of this.users.values()) for (const ws of set) ws.close(1001, "run ended");
    this.users.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
