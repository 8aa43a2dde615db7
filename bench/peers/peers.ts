/**
 * Riptide beside its Kafka Streams peer (bench/peers/kafka-streams/), on the same broker, the same
 * input topic and the same partitions: the pieces `npm run bench:peers` (run.ts) and the CI test
 * (test/peers/) put together.
 *
 *   loadgen ──► input topic (P partitions) ──┬──► riptide run driver-tracking ──► rt-out, .invalid, .anomaly, .late
 *                                            └──► Kafka Streams peer ──────────► ks-out, .invalid, .anomaly, .late
 *   read both sets of output topics ──► compare (windows, invalid, anomaly, late) ──► report
 *
 * Output topics are created with message.timestamp.type=LogAppendTime, so every output's Kafka
 * timestamp is the broker's clock when it was appended: the same yardstick for both engines.
 * node-rdkafka is used directly here, as in bench/io/kafka.bench.ts (bench code, not the engine).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ngeohash from "ngeohash";

type Kafka = typeof import("node-rdkafka");
const kafka = (): Kafka => createRequire(import.meta.url)("node-rdkafka") as Kafka;

/** The project root: the nearest directory above this file holding package.json (src or dist). */
export const ROOT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("bench:peers: package.json not found");
    dir = up;
  }
  return dir;
})();
export const PEER_DIR = join(ROOT, "bench", "peers", "kafka-streams");
const BIN = process.env["RIPTIDE_BIN"] ?? join(ROOT, "bin", "riptide.js");
export const WINDOW_MS = 60_000;
export const GRACE_MS = 10_000;
export const SIDES = ["invalid", "anomaly", "late"] as const;

const log = (s: string): void => void process.stderr.write(`bench:peers: ${s}\n`);

// ── The broker ─────────────────────────────────────────────────────────────────────────────────

/** Starts the broker with scripts/kafka.mjs when none answers; returns whether this call started it. */
export function ensureBroker(): boolean {
  const st = spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "status"], { cwd: ROOT, encoding: "utf8" });
  if (st.status === 0) return false;
  // `status` says "not running" also for a broker it did not start: `up` exits 0 at once if one answers.
  const up = spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "up"], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  if (up.status !== 0) throw new Error(`no Kafka broker and scripts/kafka.mjs up failed:\n${up.stdout}${up.stderr}`);
  return !/already|answers/.test(up.stdout);
}

export function stopBroker(): void {
  spawnSync(process.execPath, [join(ROOT, "scripts", "kafka.mjs"), "down"], { cwd: ROOT, stdio: "inherit", timeout: 120_000 });
}

// ── The peer's build (Maven, cached) ───────────────────────────────────────────────────────────

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Compiles the peer and writes its runtime classpath, unless target/ is newer than the sources and
 * the POM. Maven runs offline first (`-o`, from ~/.m2), online only when that fails, as
 * scripts/kafka.mjs does. Returns the java -cp string and whether Maven ran.
 */
export function buildPeer(): { classpath: string; built: boolean; ms: number } {
  const classes = join(PEER_DIR, "target", "classes");
  const cpFile = join(PEER_DIR, "target", "classpath.txt");
  const srcNewest = Math.max(newestMtime(join(PEER_DIR, "src")), statSync(join(PEER_DIR, "pom.xml")).mtimeMs);
  const t0 = Date.now();
  let built = false;
  const fresh = existsSync(cpFile) && existsSync(join(classes, "dev", "riptide", "peer", "DriverTrackingApp.class")) &&
    statSync(cpFile).mtimeMs >= srcNewest && newestMtime(classes) >= srcNewest &&
    readFileSync(cpFile, "utf8").trim().split(":").every((j) => existsSync(j));
  if (!fresh) {
    built = true;
    const args = ["-B", "-q", "-f", join(PEER_DIR, "pom.xml"), "compile", "dependency:build-classpath", `-Dmdep.outputFile=${cpFile}`];
    let r = spawnSync("mvn", ["-o", ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.error) throw new Error(`cannot run Maven (${r.error.message}): the Kafka Streams peer needs Apache Maven 3.6+ and Java 17`);
    if (r.status !== 0) {
      log("offline Maven build failed; resolving from the Maven repository");
      r = spawnSync("mvn", args, { encoding: "utf8", maxBuffer: 64 << 20 });
    }
    if (r.status !== 0) throw new Error(`Maven could not build the peer:\n${r.stdout}${r.stderr}`);
  }
  return { classpath: `${classes}:${readFileSync(cpFile, "utf8").trim()}`, built, ms: Date.now() - t0 };
}

export function javaVersion(): string {
  const r = spawnSync("java", ["-version"], { encoding: "utf8" });
  return (r.stderr || r.stdout).split("\n")[0]?.replace(/"/g, "").trim() ?? "unknown";
}

// ── Topics ─────────────────────────────────────────────────────────────────────────────────────

export async function createTopics(brokers: string, topics: ReadonlyArray<{ name: string; partitions: number; logAppendTime?: boolean }>): Promise<void> {
  const admin = kafka().AdminClient.create({ "metadata.broker.list": brokers });
  try {
    for (const t of topics) {
      await new Promise<void>((res, rej) => admin.createTopic({
        topic: t.name, num_partitions: t.partitions, replication_factor: 1,
        ...(t.logAppendTime && { config: { "message.timestamp.type": "LogAppendTime" } }),
      }, 30_000, (e) => (e && !/already exists/i.test(e.message) ? rej(e) : res())));
    }
  } finally {
    admin.disconnect();
  }
}

export function outputTopics(base: string): string[] {
  return [base, ...SIDES.map((s) => `${base}.${s}`)];
}

export interface TopicMessage {
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  /** The message's Kafka timestamp (LogAppendTime on the output topics, CreateTime on the input). */
  timestamp: number;
}

/** Every message of `topic`, up to the high watermark of each partition at the time of the call. */
export async function readTopic(brokers: string, topic: string): Promise<TopicMessage[]> {
  const K = kafka();
  const c = new K.KafkaConsumer({
    "metadata.broker.list": brokers, "group.id": `peers-read-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    "enable.auto.commit": false, "fetch.message.max.bytes": 8 << 20,
  }, { "auto.offset.reset": "earliest" });
  await new Promise<void>((res, rej) => c.connect({ timeout: 30_000 }, (e) => (e ? rej(e) : res())));
  try {
    const md = await new Promise<import("node-rdkafka").Metadata>((res, rej) => c.getMetadata({ topic, timeout: 30_000 }, (e, m) => (e ? rej(e) : res(m))));
    const parts = md.topics.find((t) => t.name === topic)?.partitions.map((p) => p.id) ?? [];
    const high = new Map<number, number>();
    for (const p of parts) {
      const w = await new Promise<{ highOffset: number }>((res, rej) => c.queryWatermarkOffsets(topic, p, 30_000, (e, o) => (e ? rej(e) : res(o))));
      if (w.highOffset > 0) high.set(p, w.highOffset);
    }
    const out: TopicMessage[] = [];
    if (high.size === 0) return out;
    c.assign([...high.keys()].map((partition) => ({ topic, partition, offset: 0 })));
    c.setDefaultConsumeTimeout(100);
    const done = new Set<number>();
    const deadline = Date.now() + 600_000;
    while (done.size < high.size) {
      if (Date.now() > deadline) throw new Error(`reading ${topic} did not finish in 600 s`);
      const msgs = await new Promise<import("node-rdkafka").Message[]>((res, rej) => c.consume(10_000, (e, m) => (e ? rej(e) : res(m))));
      for (const m of msgs) {
        const h = high.get(m.partition)!;
        if (m.offset >= h) continue;
        out.push({
          partition: m.partition, offset: m.offset, key: m.key === null || m.key === undefined ? null : m.key.toString(),
          value: m.value ? m.value.toString("utf8") : "", timestamp: m.timestamp ?? 0,
        });
        if (m.offset + 1 >= h) done.add(m.partition);
      }
    }
    return out;
  } finally {
    await new Promise<void>((res) => c.disconnect(() => res()));
  }
}

export async function readOutputs(brokers: string, base: string): Promise<EngineOutputs> {
  const [window, invalid, anomaly, late] = await Promise.all(outputTopics(base).map((t) => readTopic(brokers, t)));
  return { window: window!, invalid: invalid!, anomaly: anomaly!, late: late! };
}

// ── The two engines and the load generator ─────────────────────────────────────────────────────

function lastJson(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON summary in: ${text.slice(-800)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

export interface LoadgenOptions {
  brokers: string; topic: string; events: number; partitions: number; rate: number; seed: number; drivers: number;
}

export function loadgen(o: LoadgenOptions): Promise<Record<string, unknown>> {
  return runProcess(process.execPath, [BIN, "loadgen", "--brokers", o.brokers, "--topic", o.topic, "--events", String(o.events),
    "--rate", String(o.rate), "--partitions", String(o.partitions), "--seed", String(o.seed), "--drivers", String(o.drivers),
    "--format", "json", "--json", "--quiet"], "loadgen").done;
}

export interface EngineRun {
  /** Resolves once the engine holds its partitions (Riptide: the "assign" log; the peer: RUNNING). */
  ready: Promise<void>;
  /** Resolves with the engine's JSON summary line. */
  done: Promise<Record<string, unknown>>;
  child: ChildProcess;
}

const TIME = "/usr/bin/time";

/**
 * Spawns an engine; under GNU time when the machine has it, so the summary also gets `cpuSeconds`
 * (user + system CPU of the whole process lifetime, startup included): on a VM shared with other
 * work, CPU per event is steadier than events per wall-clock second.
 */
function runProcess(cmd: string, args: string[], name: string, readyWhen?: RegExp): EngineRun {
  const timed = existsSync(TIME);
  const child = timed
    ? spawn(TIME, ["-f", "peers-cpu %U %S", cmd, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => { markReady = r; });
  child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
    if (err.length > 1 << 20) err = err.slice(-(1 << 19));
    if (readyWhen?.test(err)) markReady();
  });
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      markReady();
      if (code === 0) {
        try {
          const summary = lastJson(out);
          const cpu = /peers-cpu ([\d.]+) ([\d.]+)/.exec(err);
          if (cpu) summary["cpuSeconds"] = Math.round((Number(cpu[1]) + Number(cpu[2])) * 100) / 100;
          resolve(summary);
        } catch (e) { reject(e); }
      } else {
        reject(new Error(`${name} exited with ${code}:\n${err.split("\n").filter((l) => !/"event":"progress"|events\/s \|/.test(l)).slice(-30).join("\n")}`));
      }
    });
  });
  return { ready, done, child };
}

export interface RunOptions {
  brokers: string; inputTopic: string; outputTopic: string; id: string; parallelism: number; stopWhenIdleS: number;
}

export function runRiptide(o: RunOptions): EngineRun {
  return runProcess(process.execPath, [BIN, "run", "driver-tracking", "--brokers", o.brokers, "--input-topic", o.inputTopic,
    "--output-topic", o.outputTopic, "--group", o.id, "--workers", String(o.parallelism), "--stop-when-idle", String(o.stopWhenIdleS),
    "--json"], "riptide run", /"event":"assign"/);
}

/** The peer, with its state directory under .riptide/peers/<id> (removed when it ends). */
export function runKafkaStreams(o: RunOptions & { classpath: string; state: "rocksdb" | "memory" }): EngineRun {
  const stateDir = join(ROOT, ".riptide", "peers", o.id);
  const run = runProcess("java", ["-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=error", "-cp", o.classpath, "dev.riptide.peer.DriverTrackingApp",
    "--brokers", o.brokers, "--input-topic", o.inputTopic, "--output-topic", o.outputTopic, "--application-id", o.id,
    "--threads", String(o.parallelism), "--stop-when-idle", String(o.stopWhenIdleS), "--state", o.state,
    "--state-dir", stateDir], "kafka-streams peer", /peer: running/);
  return { ...run, done: run.done.finally(() => rmSync(stateDir, { recursive: true, force: true })) };
}

// ── Comparing the outputs ──────────────────────────────────────────────────────────────────────

export interface EngineOutputs {
  window: TopicMessage[];
  invalid: TopicMessage[];
  anomaly: TopicMessage[];
  late: TopicMessage[];
}

interface WindowValue { key: string; windowStart: number; windowEnd: number; count: number; avgSpeedKmh: number | null }
interface SideValue { type: string; reason: string; event: unknown }

export interface Comparison {
  /** Every output of one engine is an output of the other, value for value. */
  identical: boolean;
  /** Every difference is a late decision the watermark rules explain or a record the peer dropped (see README). */
  explainedByWatermark: boolean;
  counts: { riptide: Record<string, number>; peer: Record<string, number> };
  /** Late fixes only one engine reported, and windows whose count differs. */
  lateOnly: { riptide: number; peer: number };
  windowsDiffering: number;
  /** Records the peer dropped itself that account for the rest of the window differences (0 if none or not all). */
  peerDropped: number;
  /** Precise descriptions of the differences (at most `limit`). */
  mismatches: string[];
  unexplained: number;
}

function multiset(items: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of items) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

function sideKey(v: SideValue, withReason: (r: string) => string): string {
  return `${withReason(v.reason)}\u0001${JSON.stringify(v.event)}`;
}

/** The window of a late reason, without the watermark (which differs by the engines' nature). */
function lateWindow(reason: string): string {
  const i = reason.indexOf(" closed at watermark");
  return i < 0 ? reason : reason.slice(0, i);
}

/** The region and window a valid, non-anomalous fix aggregates into. */
function windowOf(event: unknown): string {
  const e = event as { lat: number; lon: number; ts: number };
  return `${ngeohash.encode(e.lat, e.lon, 5)}|${Math.floor(e.ts / WINDOW_MS) * WINDOW_MS}`;
}

/**
 * Compares the two engines' outputs. `peerDropped` is Kafka Streams' dropped-records-total: records
 * its window stage refused because its repartition task's stream time had passed their window.
 */
export function compareOutputs(rt: EngineOutputs, ks: EngineOutputs, peerDropped = 0, limit = 20): Comparison {
  // A few examples of each kind of explained difference, and the unexplained ones up to `limit`.
  const shown = { unexplained: [] as string[], late: [] as string[], dropped: [] as string[] };
  let unexplained = 0;
  const note = (s: string, explained: boolean): void => {
    if (!explained) unexplained++;
    const list = !explained ? shown.unexplained : s.includes("dropped by the peer") ? shown.dropped : shown.late;
    if (list.length < (explained ? 4 : limit)) list.push(explained ? s : `UNEXPLAINED ${s}`);
  };
  const counts = {
    riptide: { window: rt.window.length, invalid: rt.invalid.length, anomaly: rt.anomaly.length, late: rt.late.length },
    peer: { window: ks.window.length, invalid: ks.invalid.length, anomaly: ks.anomaly.length, late: ks.late.length },
  };

  // Keys: windows by region, side outputs by driver (null when driverId is not a string).
  for (const [name, out] of [["riptide", rt], ["peer", ks]] as const) {
    for (const m of out.window) {
      const v = JSON.parse(m.value) as WindowValue;
      if (m.key !== v.key) note(`${name}: window ${v.key}|${v.windowStart} keyed ${JSON.stringify(m.key)}`, false);
    }
    for (const s of SIDES) {
      for (const m of out[s]) {
        const e = (JSON.parse(m.value) as SideValue).event as Record<string, unknown> | null;
        const want = typeof e?.["driverId"] === "string" ? (e["driverId"] as string) : null;
        if (m.key !== want) note(`${name}: ${s} output keyed ${JSON.stringify(m.key)}, driverId ${JSON.stringify(want)}`, false);
      }
    }
  }

  // invalid and anomaly: reason and event, exactly.
  for (const s of ["invalid", "anomaly"] as const) {
    const a = multiset(rt[s].map((m) => sideKey(JSON.parse(m.value) as SideValue, (r) => r)));
    const b = multiset(ks[s].map((m) => sideKey(JSON.parse(m.value) as SideValue, (r) => r)));
    for (const k of new Set([...a.keys(), ...b.keys()])) {
      const x = a.get(k) ?? 0, y = b.get(k) ?? 0;
      if (x !== y) note(`${s} ${k.replace("\u0001", " ")}: riptide ${x}, peer ${y}`, false);
    }
  }

  // late: the window in the reason and the event; the watermark in the reason differs by nature.
  const lateA = multiset(rt.late.map((m) => sideKey(JSON.parse(m.value) as SideValue, lateWindow)));
  const lateB = multiset(ks.late.map((m) => sideKey(JSON.parse(m.value) as SideValue, lateWindow)));
  const lateOnly = { riptide: 0, peer: 0 };
  /** Per window: late only in the peer minus late only in Riptide = expected (riptide count − peer count). */
  const expectedCountDiff = new Map<string, number>();
  for (const k of new Set([...lateA.keys(), ...lateB.keys()])) {
    const x = lateA.get(k) ?? 0, y = lateB.get(k) ?? 0;
    if (x === y) continue;
    const event = JSON.parse(k.slice(k.indexOf("\u0001") + 1)) as unknown;
    const w = windowOf(event);
    if (x > y) lateOnly.riptide += x - y; else lateOnly.peer += y - x;
    expectedCountDiff.set(w, (expectedCountDiff.get(w) ?? 0) + (y - x));
  }

  // windows: count and mean, exactly; a count difference must equal the late fixes only one engine had.
  const parseWindows = (ms: TopicMessage[], name: string): Map<string, WindowValue> => {
    const m = new Map<string, WindowValue>();
    for (const msg of ms) {
      const v = JSON.parse(msg.value) as WindowValue;
      const k = `${v.key}|${v.windowStart}`;
      if (m.has(k)) note(`${name}: window ${k} emitted twice`, false);
      m.set(k, v);
    }
    return m;
  };
  const wa = parseWindows(rt.window, "riptide");
  const wb = parseWindows(ks.window, "peer");
  let windowsDiffering = 0;
  const residual: Array<{ text: string; deficit: number }> = [];
  for (const k of new Set([...wa.keys(), ...wb.keys()])) {
    const a = wa.get(k), b = wb.get(k);
    const ca = a?.count ?? 0, cb = b?.count ?? 0;
    const expected = expectedCountDiff.get(k) ?? 0;
    expectedCountDiff.delete(k);
    if (a && b && ca === cb && a.avgSpeedKmh === b.avgSpeedKmh && a.windowEnd === b.windowEnd) continue;
    windowsDiffering++;
    const show = (v: WindowValue | undefined): string => (v ? `count ${v.count} avg ${v.avgSpeedKmh}` : "missing");
    const text = `window ${k}: riptide ${show(a)}, peer ${show(b)}` +
      (expected !== 0 ? ` (late only in ${expected > 0 ? "the peer" : "Riptide"}: ${Math.abs(expected)})` : "");
    const deficit = ca - cb - expected;
    if (deficit === 0 && expected !== 0) note(text, true);
    else residual.push({ text, deficit });
  }
  for (const [k, d] of expectedCountDiff) if (d !== 0) note(`window ${k}: late fixes differ by ${d} but the counts agree`, false);
  // What lateness does not explain must be the records the peer dropped itself, and all of them.
  const deficitSum = residual.reduce((x, r) => x + r.deficit, 0);
  const dropsExplain = peerDropped > 0 && residual.every((r) => r.deficit > 0) && deficitSum === peerDropped;
  for (const r of residual) note(`${r.text}${dropsExplain ? ` (dropped by the peer: ${r.deficit})` : ""}`, dropsExplain);
  if (peerDropped !== deficitSum && residual.length > 0 && !dropsExplain) {
    note(`the peer's windows miss ${deficitSum} fixes beyond the late decisions; it reports ${peerDropped} dropped records`, false);
  }

  const identical = unexplained === 0 && lateOnly.riptide === 0 && lateOnly.peer === 0 && windowsDiffering === 0;
  const mismatches = [...shown.unexplained, ...shown.late, ...shown.dropped];
  return {
    identical, explainedByWatermark: unexplained === 0, counts, lateOnly, windowsDiffering, mismatches, unexplained,
    peerDropped: dropsExplain ? peerDropped : 0,
  };
}

// ── Latency ────────────────────────────────────────────────────────────────────────────────────

export interface Latency { sideP50: number; sideP99: number; sideN: number; windowP50: number; windowP99: number; windowN: number }

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function validFix(e: Record<string, unknown>): boolean {
  const { driverId, lat, lon, ts } = e;
  return typeof driverId === "string" && driverId.length > 0 && typeof lat === "number" && typeof lon === "number" &&
    typeof ts === "number" && Number.isFinite(lat) && Number.isFinite(lon) && Number.isFinite(ts) &&
    lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !(lat === 0 && lon === 0);
}

/**
 * End-to-end latency from the input topic's CreateTime (loadgen's clock) to the output's
 * LogAppendTime (the broker's clock; same machine):
 * - side outputs: the input message of the event → its invalid/anomaly/late output;
 * - windows: the first input message (in any partition) whose ts reaches windowEnd + grace, the
 *   earliest moment the input shows the window is over → the window's output. Windows that only the
 *   end-of-input flush closed have no such message and are left out.
 */
export function latency(input: TopicMessage[], out: EngineOutputs): Latency {
  const sentAt = new Map<string, number>();
  const byPartition = new Map<number, TopicMessage[]>();
  for (const m of input) {
    if (!sentAt.has(m.value)) sentAt.set(m.value, m.timestamp);
    let l = byPartition.get(m.partition);
    if (!l) byPartition.set(m.partition, (l = []));
    l.push(m);
  }
  const side: number[] = [];
  for (const s of SIDES) {
    for (const m of out[s]) {
      const t = sentAt.get(JSON.stringify((JSON.parse(m.value) as SideValue).event));
      if (t !== undefined) side.push(m.timestamp - t);
    }
  }
  // Per partition, in offset order: the running maximum of valid ts and the CreateTime there.
  const runs: Array<{ maxTs: Float64Array; at: Float64Array }> = [];
  for (const l of byPartition.values()) {
    l.sort((a, b) => a.offset - b.offset);
    const maxTs = new Float64Array(l.length), at = new Float64Array(l.length);
    let mx = -Infinity;
    l.forEach((m, i) => {
      try {
        const e = JSON.parse(m.value) as Record<string, unknown>;
        if (validFix(e) && (e["ts"] as number) > mx) mx = e["ts"] as number;
      } catch { /* not JSON: does not advance time */ }
      maxTs[i] = mx;
      at[i] = m.timestamp;
    });
    runs.push({ maxTs, at });
  }
  const closedAt = (t: number): number => {
    let best = Infinity;
    for (const { maxTs, at } of runs) {
      let lo = 0, hi = maxTs.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (maxTs[mid]! >= t) hi = mid; else lo = mid + 1; }
      if (lo < maxTs.length && at[lo]! < best) best = at[lo]!;
    }
    return best;
  };
  const win: number[] = [];
  for (const m of out.window) {
    const v = JSON.parse(m.value) as WindowValue;
    const t = closedAt(v.windowEnd + GRACE_MS);
    if (t !== Infinity) win.push(m.timestamp - t);
  }
  side.sort((a, b) => a - b);
  win.sort((a, b) => a - b);
  return {
    sideP50: quantile(side, 0.5), sideP99: quantile(side, 0.99), sideN: side.length,
    windowP50: quantile(win, 0.5), windowP99: quantile(win, 0.99), windowN: win.length,
  };
}
