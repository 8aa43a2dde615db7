/**
 * The run's HTTP face (`riptide run --http HOST:PORT`): one node:http server, no framework.
 *
 *   GET /          live dashboard (one self-contained HTML page, no external assets)
 *   GET /live      WebSocket: a JSON snapshot every `intervalMs`
 *   GET /metrics   Prometheus text exposition (src/metrics/prometheus.ts)
 *   GET /healthz   200 while the process is alive
 *   GET /readyz    200 once the run has started and its partitions are assigned, else 503
 *   GET /api/snapshot  the last snapshot as JSON
 *
 * Everything here runs at snapshot rate (default every 500 ms) or window rate, never per event:
 *
 *   coordinator.progress() ──timer──► RunMetrics.update() ──► /metrics scrapes
 *                                 └──► LiveSnapshot ──► every /live client
 *   merged windows ──onWindow──► region counts (latest window start) ──► next LiveSnapshot
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import ngeohash from "ngeohash";
import { WebSocketServer, type WebSocket } from "ws";
import type { Progress } from "../coordinator/coordinator.js";
import { RecentQuantiles, type LatencyHistogram } from "../metrics/histogram.js";
import type { PartitionLag } from "../metrics/lag.js";
import { RunMetrics } from "../metrics/prometheus.js";
import { STAGES, type Stage, type StageLatency } from "../metrics/stages.js";
import type { Output } from "../sinks/sink.js";
import { DASHBOARD_HTML } from "./dashboard.js";

export interface HttpAddress {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1). Throws a RangeError whose
 * message names `option` for anything else or a port outside 0..65535 (0: any free port).
 */
export function parseHttpAddress(value: string, option = "--http"): HttpAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  if (!m) throw new RangeError(`${option} must be HOST:PORT (e.g. 127.0.0.1:9464), got ${JSON.stringify(value)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`${option} port must be from 0 to 65535, got ${m[3]}`);
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

export interface RunHttpServerOptions extends HttpAddress {
  /** The pipeline name (`processor` label). */
  processor: string;
  /** Input topic, or "generator" / "file" (`topic` label). */
  topic: string;
  /** The current coordinator snapshot; undefined until the run has started. */
  snapshot: () => Progress | undefined;
  /** The run's latency histogram (ms); undefined until there is a coordinator. */
  latency?: () => LatencyHistogram | undefined;
  /** Consumer lag of the owned partitions (Kafka sources only). */
  lag?: () => PartitionLag[];
  /** The run's latency by stage; undefined until there is a coordinator. */
  stages?: () => StageLatency | undefined;
  /** Snapshot period for metrics and /live. @default 500 */
  intervalMs?: number;
  /** Region cells sent to the dashboard at most (largest counts first). @default 2000 */
  maxRegions?: number;
  /** More WebSocket endpoints by path (e.g. driver-eta's /driver-updates, src/http/driver-updates.ts). */
  upgrades?: Record<string, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
}

/** One /live message. */
export interface LiveSnapshot {
  type: "snapshot";
  /** Wall clock, epoch ms. */
  t: number;
  ready: boolean;
  elapsedSeconds: number;
  events: number;
  processed: number;
  /** Records per second over the last interval. */
  rate: number;
  /** End-to-end latency over the whole run. */
  latencyMs: { p50: number; p99: number };
  /** End-to-end latency of the records acknowledged in the last RECENT_MS (null: none). */
  recentLatencyMs: { p50: number | null; p99: number | null; seconds: number };
  /** Latency by stage (src/metrics/stages.ts) over the same last RECENT_MS; null when the run has none. */
  stagesMs: Record<Stage, { p50: number | null; p99: number | null }> | null;
  ringFill: number[];
  /** Records per second of each shard worker over the last interval. */
  rateByWorker: number[];
  /** Entries and bytes of each worker's state stores. */
  stateEntries: number[];
  stateBytes: number[];
  /** Records behind per owned partition; null without a Kafka source. */
  lag: { partition: number; lag: number }[] | null;
  outputs: Record<string, number>;
  deadLetters: number;
  workerRestarts: number;
  watermarkDelayMs: number | null;
  eventLoopDelayP99Ms: number;
  /** Driver counts per region of the latest emitted window start; sent when they changed. */
  regions?: { windowStart: number; cells: RegionCell[] };
}

/** [geohash, minLat, minLon, maxLat, maxLon, count]. */
export type RegionCell = [string, number, number, number, number, number];

const GEOHASH = /^[0-9b-hjkmnp-z]{1,12}$/;
const HISTORY = 240;
const MAX_BUFFERED = 1 << 20;
/** The dashboard's latency window: the records acknowledged in the last 5 s. */
const RECENT_MS = 5000;

export class RunHttpServer {
  readonly metrics: RunMetrics;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly options: RunHttpServerOptions;
  private timer: NodeJS.Timeout | undefined;
  private readonly history: LiveSnapshot[] = [];
  private regionStart = -Infinity;
  private readonly regionCounts = new Map<string, number>();
  private regionsChanged = false;
  private lastRegions: LiveSnapshot["regions"];
  private readonly bboxes = new Map<string, [number, number, number, number]>();
  private isReady = false;
  private url = "";
  private readonly recent: RecentQuantiles;
  private readonly recentStages: Record<Stage, RecentQuantiles>;
  private readonly recentTicks: number;

  constructor(options: RunHttpServerOptions) {
    this.options = options;
    this.recentTicks = Math.max(1, Math.round(RECENT_MS / (options.intervalMs ?? 500)));
    this.recent = new RecentQuantiles(this.recentTicks);
    this.recentStages = Object.fromEntries(STAGES.map((s) => [s, new RecentQuantiles(this.recentTicks)])) as Record<Stage, RecentQuantiles>;
    this.metrics = new RunMetrics({
      processor: options.processor, topic: options.topic, ...(options.latency && { latency: options.latency }), ...(options.lag && { lag: options.lag }),
      ...(options.stages && { stages: options.stages }),
    });
    this.server = createServer((req, res) => void this.handle(req, res));
    // An observer must not hold the process open (e.g. when the source fails to start): the run
    // keeps it alive, and stop() closes everything when the run ends.
    this.server.on("connection", (socket) => socket.unref());
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    this.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const extra = this.options.upgrades?.[pathOf(req)];
      if (extra) return extra(req, socket, head);
      if (pathOf(req) !== "/live") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.welcome(ws));
    });
  }

  /** Listens; resolves with the base URL (`http://host:port`). */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const where = `${this.options.host}:${this.options.port}`;
        reject(new Error(err.code === "EADDRINUSE" ? `--http ${where}: the address is in use; choose another port` : `--http ${where}: ${err.message}`));
      };
      this.server.once("error", onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    this.server.unref();
    this.url = `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 500);
    this.timer.unref();
    return this.url;
  }

  /** Window results as the coordinator emits them (its `onWindow` option): feeds the region map. */
  onWindow(out: Output): void {
    const key = out["key"];
    const start = out["windowStart"];
    const count = out["count"];
    if (typeof key !== "string" || typeof start !== "number" || typeof count !== "number" || !GEOHASH.test(key)) return;
    if (start > this.regionStart) {
      this.regionStart = start;
      this.regionCounts.clear();
    } else if (start < this.regionStart) {
      return;
    }
    this.regionCounts.set(key, (this.regionCounts.get(key) ?? 0) + count);
    this.regionsChanged = true;
  }

  private recentLatency(): { p50: number | null; p99: number | null } {
    const h = this.options.latency?.();
    return h ? this.recent.tick(h) : { p50: null, p99: null };
  }

  private recentStageLatency(): LiveSnapshot["stagesMs"] {
    const st = this.options.stages?.();
    if (!st) return null;
    return Object.fromEntries(STAGES.map((s) => [s, this.recentStages[s].tick(st[s])])) as Record<Stage, { p50: number | null; p99: number | null }>;
  }

  /** Takes a snapshot now (also done by the timer); exposed so a last one can be taken at the end. */
  tick(): void {
    const p = this.options.snapshot();
    if (!p) return;
    this.isReady = p.assignedPartitions > 0;
    this.metrics.update(p);
    const snap: LiveSnapshot = {
      type: "snapshot", t: Date.now(), ready: this.isReady, elapsedSeconds: p.elapsedSeconds,
      events: p.events, processed: p.processed, rate: this.metrics.rate, latencyMs: p.latencyMs,
      recentLatencyMs: { ...this.recentLatency(), seconds: (this.recentTicks * (this.options.intervalMs ?? 500)) / 1000 },
      stagesMs: this.recentStageLatency(),
      ringFill: p.ringFillByWorker, rateByWorker: this.metrics.rateByWorker,
      stateEntries: p.stateEntriesByWorker ?? [], stateBytes: p.stateBytesByWorker ?? [],
      lag: this.options.lag ? this.metrics.lag.map(({ partition, lag }) => ({ partition, lag })) : null,
      outputs: p.outputs, deadLetters: p.deadLetters, workerRestarts: p.workerRestarts,
      watermarkDelayMs: Number.isFinite(this.metrics.watermarkDelayMs) ? this.metrics.watermarkDelayMs : null,
      eventLoopDelayP99Ms: this.metrics.loopDelayP99Ms,
    };
    this.history.push(snap);
    if (this.history.length > HISTORY) this.history.shift();
    let message: LiveSnapshot = snap;
    if (this.regionsChanged) {
      this.regionsChanged = false;
      this.lastRegions = { windowStart: this.regionStart, cells: this.regionCells() };
      message = { ...snap, regions: this.lastRegions };
    }
    if (this.wss.clients.size === 0) return;
    const text = JSON.stringify(message);
    // A client that does not keep up (over 1 MiB unsent) skips snapshots instead of growing a queue.
    for (const ws of this.wss.clients) if (ws.readyState === ws.OPEN && ws.bufferedAmount < MAX_BUFFERED) ws.send(text);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.metrics.close();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private welcome(ws: WebSocket): void {
    ws.send(JSON.stringify({ type: "hello", processor: this.options.processor, topic: this.options.topic, history: this.history, regions: this.lastRegions ?? null }));
    ws.on("error", () => ws.terminate());
  }

  private regionCells(): RegionCell[] {
    const entries = [...this.regionCounts].sort((a, b) => b[1] - a[1]).slice(0, this.options.maxRegions ?? 2000);
    return entries.map(([gh, n]) => {
      let bb = this.bboxes.get(gh);
      if (!bb) {
        bb = ngeohash.decode_bbox(gh) as [number, number, number, number];
        if (this.bboxes.size < 100_000) this.bboxes.set(gh, bb);
      }
      return [gh, bb[0], bb[1], bb[2], bb[3], n];
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n", { Allow: "GET, HEAD" });
    try {
      switch (path) {
        case "/":
        case "/index.html":
          return send(res, 200, "text/html; charset=utf-8", DASHBOARD_HTML);
        case "/healthz":
          return send(res, 200, "text/plain; charset=utf-8", "ok\n");
        case "/readyz":
          return this.isReady || this.readyNow()
            ? send(res, 200, "text/plain; charset=utf-8", "ready\n")
            : send(res, 503, "text/plain; charset=utf-8", "not ready: the run has not started or no partition is assigned yet\n");
        case "/metrics":
          return send(res, 200, this.metrics.contentType, await this.metrics.metrics());
        case "/api/snapshot":
          return send(res, 200, "application/json", JSON.stringify(this.history.at(-1) ?? null));
        default:
          return send(res, 404, "text/plain; charset=utf-8", `not found: ${path} (try /, /metrics, /healthz, /readyz, /live)\n`);
      }
    } catch (err) {
      send(res, 500, "text/plain; charset=utf-8", `${(err as Error).message}\n`);
    }
  }

  private readyNow(): boolean {
    const p = this.options.snapshot();
    this.isReady = p !== undefined && p.assignedPartitions > 0;
    return this.isReady;
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store", ...headers });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
