/**
 * WebSocket `/driver-updates` (seed §3, location pipeline `output_destinations: websocket`):
 * driver-eta's availability updates, pushed to clients subscribed by region.
 *
 *   coordinator ──availability outputs──► DriverUpdatesHub (a Sink) ──► clients whose subscription
 *                                                                       is a prefix of the region
 *
 * Subscribing: `ws://HOST:PORT/driver-updates?regions=9q8yy,dr5r` (geohash prefixes: `dr5r` covers
 * every geohash-5 region inside it), and later messages `{"subscribe":["9q8yz"]}` /
 * `{"unsubscribe":["dr5r"]}`; each is answered with `{"type":"subscribed","regions":[…]}`. A bad
 * subscription gets `{"type":"error","error":"…"}` (or HTTP 400 on connect). Updates are the
 * availability output objects. Delivery to clients is at-most-once: a client whose send buffer
 * exceeds 1 MiB misses updates until it drains (counted in `dropped`), so a slow client never
 * holds the pipeline back.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { Output, Sink } from "../sinks/sink.js";

const GEOHASH_PREFIX = /^[0-9b-hjkmnp-z]{1,12}$/;
const MAX_SUBSCRIPTIONS = 256;
const MAX_BUFFERED = 1 << 20;

export class DriverUpdatesHub implements Sink {
  readonly wantsObjects = true;
  /** Updates sent, and updates a slow client missed. */
  sent = 0;
  dropped = 0;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly clients = new Map<WebSocket, Set<string>>();

  /** For the HTTP server's upgrade handler (path /driver-updates). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://x");
    const raw = url.searchParams.get("regions") ?? "";
    const regions = raw === "" ? [] : raw.split(",");
    const bad = check(regions);
    if (bad) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${bad}\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const subs = new Set(regions);
      this.clients.set(ws, subs);
      ws.send(JSON.stringify({ type: "subscribed", regions: [...subs] }));
      ws.on("message", (data) => this.onMessage(ws, subs, data.toString()));
      ws.on("close", () => this.clients.delete(ws));
      ws.on("error", () => this.clients.delete(ws));
    });
  }

  private onMessage(ws: WebSocket, subs: Set<string>, text: string): void {
    let msg: { subscribe?: unknown; unsubscribe?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      ws.send(JSON.stringify({ type: "error", error: "messages must be JSON: {\"subscribe\":[\"9q8yy\"]} or {\"unsubscribe\":[…]}" }));
      return;
    }
    const add = msg?.subscribe ?? [];
    const remove = msg?.unsubscribe ?? [];
    if (!Array.isArray(add) || !Array.isArray(remove)) {
      ws.send(JSON.stringify({ type: "error", error: "subscribe and unsubscribe take arrays of geohash prefixes" }));
      return;
    }
    const bad = check(add) ?? (subs.size + add.length > MAX_SUBSCRIPTIONS ? `at most ${MAX_SUBSCRIPTIONS} subscriptions per client` : undefined);
    if (bad) {
      ws.send(JSON.stringify({ type: "error", error: bad }));
      return;
    }
    for (const r of add as string[]) subs.add(r);
    for (const r of remove) subs.delete(String(r));
    ws.send(JSON.stringify({ type: "subscribed", regions: [...subs] }));
  }

  write(output: Output): void {
    if (output.type !== "availability" || this.clients.size === 0) return;
    const region = output["region"];
    if (typeof region !== "string") return;
    let text: string | undefined;
    for (const [ws, subs] of this.clients) {
      if (!matches(subs, region)) continue;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        this.dropped++;
        continue;
      }
      text ??= JSON.stringify(output);
      ws.send(text);
      this.sent++;
    }
  }

  get connected(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    for (const ws of this.clients.keys()) ws.close(1001, "run ended");
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function matches(subs: Set<string>, region: string): boolean {
  for (let k = 1; k <= region.length; k++) if (subs.has(region.slice(0, k))) return true;
  return false;
}

function check(regions: unknown[]): string | undefined {
  if (regions.length > MAX_SUBSCRIPTIONS) return `at most ${MAX_SUBSCRIPTIONS} regions`;
  for (const r of regions) {
    if (typeof r !== "string" || !GEOHASH_PREFIX.test(r)) return `regions must be geohash prefixes (1-12 characters of 0-9, b-z without a, i, l, o), got ${JSON.stringify(r)}`;
  }
  return undefined;
}
