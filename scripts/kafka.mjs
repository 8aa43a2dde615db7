#!/usr/bin/env node
// A local single-node Apache Kafka broker (KRaft, combined broker + controller) for development
// and the integration tests. Node builtins only.
//
//   node scripts/kafka.mjs up       start it (idempotent; exits 0 if a broker already answers)
//   node scripts/kafka.mjs down     stop it (SIGTERM, bounded wait, then SIGKILL)
//   node scripts/kafka.mjs status   print whether it runs (exit 0 running, 1 not running)
//
// The broker comes from Maven Central: scripts/kafka/pom.xml names it, Maven resolves it into
// the local Maven repository (~/.m2) and writes the classpath to .riptide/kafka/classpath.txt,
// which later runs reuse until the POM changes. Everything else (config, data, pid, log) lives
// under .riptide/kafka/ (git-ignored; for another port, .riptide/kafka/port-<port>/).
//
// Environment:
//   RIPTIDE_KAFKA_PORT              PLAINTEXT port on 127.0.0.1 (default 9092)
//   RIPTIDE_KAFKA_CONTROLLER_PORT   KRaft controller port (default PLAINTEXT port + 1)
//   RIPTIDE_KAFKA_START_TIMEOUT_MS  how long `up` waits for the broker to answer (default 90000)
//   RIPTIDE_KAFKA_HEAP              JVM heap, e.g. 768m (default 768m)
//   RIPTIDE_KAFKA_GC_OPTS           the JVM's garbage-collector flags, space-separated, in place of
//                                   the default G1 ones (e.g. "-XX:+UseZGC"; for experiments)
//   JAVA_HOME                       Java 17+ to run the broker with (default: `java` on PATH)

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const POM = path.join(ROOT, "scripts", "kafka", "pom.xml");
const BASE = path.join(ROOT, ".riptide", "kafka");

function intEnv(name, dflt, max = 65535) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > max) {
    console.error(`[kafka] error: ${name} must be an integer in 1..${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const HOST = "127.0.0.1";
const PORT = intEnv("RIPTIDE_KAFKA_PORT", 9092);
const CONTROLLER_PORT = intEnv("RIPTIDE_KAFKA_CONTROLLER_PORT", PORT + 1);
const START_TIMEOUT_MS = intEnv("RIPTIDE_KAFKA_START_TIMEOUT_MS", 90_000, 3_600_000);
const STOP_TIMEOUT_MS = 30_000;
const HEAP = process.env.RIPTIDE_KAFKA_HEAP || "768m";
const NODE_ID = 1;

// The classpath is shared; each port gets its own broker instance (config, data, pid, log).
const CLASSPATH_FILE = path.join(BASE, "classpath.txt");
const CLASSPATH_KEY_FILE = path.join(BASE, "classpath.key");
const STATE = PORT === 9092 ? BASE : path.join(BASE, `port-${PORT}`);
const DATA = path.join(STATE, "data");
const PROPS_FILE = path.join(STATE, "server.properties");
const LOG4J_FILE = path.join(STATE, "log4j2.properties");
const PID_FILE = path.join(STATE, "kafka.pid");
const LOG_FILE = path.join(STATE, "kafka.log");
const LOCK_FILE = path.join(STATE, "kafka.lock");

const log = (msg) => console.log(`[kafka] ${msg}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------------------------

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/** True when `pid` is alive and (where /proc exists) is our broker JVM. */
function isOurBroker(pid) {
  if (!isAlive(pid)) return false;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes("kafka.Kafka") && cmd.includes(PROPS_FILE);
  } catch {
    return process.platform !== "linux"; // no /proc: trust the pid file
  }
}

function readPid() {
  try {
    const pid = Number(fs.readFileSync(PID_FILE, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The pid of our running broker, or null (a stale pid file is removed). */
function runningPid() {
  const pid = readPid();
  if (pid === null) return null;
  if (isOurBroker(pid)) return pid;
  fs.rmSync(PID_FILE, { force: true });
  return null;
}

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** A lock so that two concurrent `up`/`down` runs do not start two brokers. */
async function withLock(fn) {
  fs.mkdirSync(STATE, { recursive: true });
  const deadline = Date.now() + START_TIMEOUT_MS + 60_000;
  for (;;) {
    try {
      fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: "wx" });
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      const holder = Number(fs.readFileSync(LOCK_FILE, "utf8").trim() || "0");
      if (!holder || !isAlive(holder)) {
        fs.rmSync(LOCK_FILE, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another kafka.mjs (pid ${holder}) holds ${LOCK_FILE}`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK_FILE, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka wire protocol: ApiVersions v0, then Metadata, to tell whether a broker answers.
// ---------------------------------------------------------------------------------------------

const API_METADATA = 3;
const API_VERSIONS = 18;

function encodeRequest(apiKey, apiVersion, correlationId, body, flexibleHeader) {
  const clientId = Buffer.from("riptide-kafka-mjs");
  const header = Buffer.alloc(10 + clientId.length + (flexibleHeader ? 1 : 0));
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  clientId.copy(header, 10);
  // flexible header v2: an empty tagged-field section (the trailing zero byte)
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + body.length, 0);
  return Buffer.concat([size, header, body]);
}

/** One request/response on a fresh connection; resolves the response payload after the size. */
function roundTrip(port, request, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("timeout"));
    }, timeoutMs);
    sock.on("connect", () => sock.write(request));
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 4) {
        const size = buf.readInt32BE(0);
        if (buf.length >= 4 + size) {
          clearTimeout(timer);
          sock.destroy();
          resolve(buf.subarray(4, 4 + size));
        }
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      reject(new Error("connection closed"));
    });
  });
}

function readUvarint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value >>> 0, pos];
    shift += 7;
  }
}

/**
 * Asks the broker on `port` for metadata. Resolves { brokers } when it answers with at least
 * one broker, rejects otherwise (not listening, not Kafka, not ready).
 */
async function probe(port, timeoutMs = 3000) {
  // ApiVersions v0: supported by every broker (an unsupported version is answered in v0 too).
  const av = await roundTrip(port, encodeRequest(API_VERSIONS, 0, 1, Buffer.alloc(0), false), timeoutMs);
  if (av.readInt32BE(0) !== 1) throw new Error("not a Kafka broker (bad correlation id)");
  const err = av.readInt16BE(4);
  if (err !== 0) throw new Error(`ApiVersions error ${err}`);
  const n = av.readInt32BE(6);
  let metaMin = -1;
  let metaMax = -1;
  for (let i = 0, p = 10; i < n; i++, p += 6) {
    if (av.readInt16BE(p) === API_METADATA) {
      metaMin = av.readInt16BE(p + 2);
      metaMax = av.readInt16BE(p + 4);
    }
  }
  if (metaMax < 0) throw new Error("broker does not list the Metadata API");
  // Metadata v4..v8 are non-flexible; v9+ flexible. Pick one this code can encode.
  let version;
  if (metaMin <= 8 && metaMax >= 4) version = Math.min(8, metaMax);
  else if (metaMin <= 12 && metaMax >= 9) version = Math.min(12, metaMax);
  else return { brokers: -1 }; // answered ApiVersions; a metadata version we cannot encode
  let body;
  if (version <= 8) {
    // topics = null (all), allow_auto_topic_creation = false, [v8: two include_* flags]
    body = Buffer.from(version === 8 ? [0xff, 0xff, 0xff, 0xff, 0, 0, 0] : [0xff, 0xff, 0xff, 0xff, 0]);
  } else {
    // topics = null (compact: 0), allow_auto_topic_creation, [v9-10: include_cluster_authorized_operations],
    // include_topic_authorized_operations, tagged fields
    body = Buffer.from(version <= 10 ? [0, 0, 0, 0, 0] : [0, 0, 0, 0]);
  }
  const md = await roundTrip(port, encodeRequest(API_METADATA, version, 2, body, version >= 9), timeoutMs);
  if (md.readInt32BE(0) !== 2) throw new Error("bad correlation id in Metadata response");
  let brokers;
  if (version <= 8) {
    brokers = md.readInt32BE(4 + 4); // after correlation id and throttle_time_ms
  } else {
    let pos = 4;
    [, pos] = readUvarint(md, pos); // response header tagged fields (count 0)
    pos += 4; // throttle_time_ms
    const [count] = readUvarint(md, pos);
    brokers = count - 1;
  }
  if (!(brokers >= 1)) throw new Error("broker answered but lists no brokers yet");
  return { brokers };
}

async function answers(port, timeoutMs) {
  try {
    await probe(port, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Java and Maven
// ---------------------------------------------------------------------------------------------

function javaBin() {
  const home = process.env.JAVA_HOME;
  const exe = process.platform === "win32" ? "java.exe" : "java";
  if (home && fs.existsSync(path.join(home, "bin", exe))) return path.join(home, "bin", exe);
  return "java";
}

function checkJava(java) {
  const r = spawnSync(java, ["-version"], { encoding: "utf8" });
  if (r.error) {
    throw new Error(`cannot run ${java} (${r.error.code ?? r.error.message}): Kafka needs Java 17 or newer; install it or set JAVA_HOME`);
  }
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.stderr + r.stdout);
  if (m) {
    const major = Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
    if (major < 17) throw new Error(`${java} is Java ${major}; the Kafka broker needs Java 17 or newer (set JAVA_HOME)`);
  }
}

function mvnBin() {
  return process.platform === "win32" ? "mvn.cmd" : "mvn";
}

function pomKey() {
  return createHash("sha256").update(fs.readFileSync(POM)).digest("hex");
}

function cachedClasspath(key) {
  try {
    if (fs.readFileSync(CLASSPATH_KEY_FILE, "utf8").trim() !== key) return null;
    const cp = fs.readFileSync(CLASSPATH_FILE, "utf8").trim();
    if (!cp) return null;
    const jars = cp.split(path.delimiter);
    if (!jars.every((j) => fs.existsSync(j))) return null; // ~/.m2 was cleaned: resolve again
    return cp;
  } catch {
    return null;
  }
}

function runMaven(offline, outFile) {
  const args = ["-B", "-q", ...(offline ? ["-o"] : []), "-f", POM, "dependency:build-classpath", `-Dmdep.outputFile=${outFile}`];
  const t0 = Date.now();
  const r = spawnSync(mvnBin(), args, { encoding: "utf8", shell: process.platform === "win32", maxBuffer: 64 << 20 });
  if (r.error) {
    throw new Error(`cannot run Maven (${r.error.code ?? r.error.message}): install Apache Maven 3.6+ (it resolves the broker from Maven Central)`);
  }
  return { ok: r.status === 0 && fs.existsSync(outFile), output: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
}

/** The broker's classpath: cached, or resolved by Maven (offline first when the cache looks warm). */
function resolveClasspath() {
  const key = pomKey();
  const cached = cachedClasspath(key);
  if (cached) return cached;
  fs.mkdirSync(BASE, { recursive: true });
  const tmp = `${CLASSPATH_FILE}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  // Offline first only when the local repository already holds a Kafka broker (a cheap guess;
  // if it is wrong, the online run below fixes it).
  const repoOverride = /-Dmaven\.repo\.local=(\S+)/.exec(process.env.MAVEN_OPTS ?? "")?.[1];
  const repo = repoOverride ?? path.join(os.homedir(), ".m2", "repository");
  const m2Kafka = path.join(repo, "org", "apache", "kafka", "kafka_2.13");
  let r = null;
  if (fs.existsSync(m2Kafka)) {
    log("resolving the broker classpath from the local Maven repository (mvn -o)");
    r = runMaven(true, tmp);
  }
  if (!r || !r.ok) {
    log("resolving the broker from Maven Central (first run: downloads ~60 MB into ~/.m2)");
    r = runMaven(false, tmp);
  }
  if (!r.ok) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`Maven could not resolve ${path.relative(ROOT, POM)}:\n${r.output.trim()}`);
  }
  log(`classpath resolved in ${(r.ms / 1000).toFixed(1)} s`);
  fs.renameSync(tmp, CLASSPATH_FILE);
  fs.writeFileSync(CLASSPATH_KEY_FILE, `${key}\n`);
  return fs.readFileSync(CLASSPATH_FILE, "utf8").trim();
}

// ---------------------------------------------------------------------------------------------
// Config, format, start, stop
// ---------------------------------------------------------------------------------------------

function writeConfig() {
  const props = {
    "process.roles": "broker,controller",
    "node.id": NODE_ID,
    "controller.quorum.voters": `${NODE_ID}@${HOST}:${CONTROLLER_PORT}`,
    listeners: `PLAINTEXT://${HOST}:${PORT},CONTROLLER://${HOST}:${CONTROLLER_PORT}`,
    "advertised.listeners": `PLAINTEXT://${HOST}:${PORT}`,
    "inter.broker.listener.name": "PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "log.dirs": DATA,
    "num.network.threads": 2,
    "num.io.threads": 4,
    "num.recovery.threads.per.data.dir": 1,
    "auto.create.topics.enable": true,
    "delete.topic.enable": true,
    "num.partitions": 1,
    "default.replication.factor": 1,
    "min.insync.replicas": 1,
    "offsets.topic.replication.factor": 1,
    "offsets.topic.num.partitions": 10,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "transaction.state.log.num.partitions": 10,
    "share.coordinator.state.topic.replication.factor": 1,
    "share.coordinator.state.topic.min.isr": 1,
    "group.initial.rebalance.delay.ms": 0,
    // Sessions from 1 s (Kafka's floor is 6 s): the tests give their processes short sessions, so
    // that a SIGKILLed member's partitions move in seconds.
    "group.min.session.timeout.ms": 1000,
    // A killed process's open transaction is aborted within a second of its timeout (default: 10 s
    // later), so the readers of its outputs move on sooner.
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
    // Small retention: this is a development broker.
    "log.retention.ms": 60 * 60 * 1000,
    "log.retention.bytes": 256 * 1024 * 1024,
    "log.segment.bytes": 32 * 1024 * 1024,
    "log.retention.check.interval.ms": 60_000,
    "offsets.retention.minutes": 24 * 60,
  };
  const esc = (v) => String(v).replace(/\\/g, "\\\\");
  const text = [
    "# Written by scripts/kafka.mjs on every `up`; edit the script, not this file.",
    ...Object.entries(props).map(([k, v]) => `${k}=${esc(v)}`),
    "",
  ].join("\n");
  fs.writeFileSync(PROPS_FILE, text);
  fs.writeFileSync(
    LOG4J_FILE,
    [
      "# Written by scripts/kafka.mjs. The broker's stdout and stderr go to kafka.log.",
      "status = warn",
      "appender.out.type = Console",
      "appender.out.name = OUT",
      "appender.out.target = SYSTEM_OUT",
      "appender.out.layout.type = PatternLayout",
      "appender.out.layout.pattern = [%d] %p %m (%c)%n",
      "rootLogger.level = info",
      "rootLogger.appenderRef.out.ref = OUT",
      "logger.request.name = kafka.request.logger",
      "logger.request.level = warn",
      "logger.statechange.name = state.change.logger",
      "logger.statechange.level = warn",
      "logger.clients.name = org.apache.kafka.clients",
      "logger.clients.level = warn",
      "",
    ].join("\n"),
  );
}

function randomClusterId() {
  // Kafka's Uuid.randomUuid().toString(): 16 random bytes, base64url without padding,
  // never starting with '-' and never one of the reserved ids (all zero, or 1).
  for (;;) {
    const b = randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4, as java.util.UUID.randomUUID
    b[8] = (b[8] & 0x3f) | 0x80;
    const id = b.toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

function jvmArgs(classpath) {
  return [
    `-Xms${HEAP}`,
    `-Xmx${HEAP}`,
    ...(process.env.RIPTIDE_KAFKA_GC_OPTS !== undefined ? process.env.RIPTIDE_KAFKA_GC_OPTS.split(" ").filter(Boolean) : [
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-XX:InitiatingHeapOccupancyPercent=35",
      "-XX:+ExplicitGCInvokesConcurrent",
    ]),
    // As kafka-server-start.sh (kafka-run-class -loggc): pauses on record, to put beside a latency tail.
    `-Xlog:gc:file=${path.join(STATE, "kafka-gc.log")}:time,uptime:filecount=2,filesize=20m`,
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${LOG4J_FILE}`,
    `-Dkafka.logs.dir=${STATE}`,
    "-cp",
    classpath,
  ];
}

function formatIfNeeded(java, classpath) {
  if (fs.existsSync(path.join(DATA, "meta.properties"))) return;
  fs.mkdirSync(DATA, { recursive: true });
  const clusterId = randomClusterId();
  log(`formatting KRaft storage in ${path.relative(ROOT, DATA)} (cluster id ${clusterId})`);
  // What bin/kafka-storage.sh runs.
  const r = spawnSync(
    java,
    [
      "-Xmx256m",
      `-Dlog4j2.configurationFile=${LOG4J_FILE}`,
      "-cp",
      classpath,
      "kafka.tools.StorageTool",
      "format",
      "--config",
      PROPS_FILE,
      "--cluster-id",
      clusterId,
      "--ignore-formatted",
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) {
    throw new Error(`formatting the storage failed (exit ${r.status}):\n${(r.stdout + r.stderr).trim()}`);
  }
}

/** True when nothing listens on HOST:port (so the broker can bind it). */
function canBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: HOST, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** The last lines of the log, with the root cause of a startup failure first when there is one. */
function startupReport() {
  const text = tail(LOG_FILE, 400);
  const causes = text.split("\n").filter((l) => /^Caused by: |\bERROR\b/.test(l));
  const cause = causes.length > 0 ? `likely cause: ${causes[causes.length - 1].trim()}\n` : "";
  return `${cause}--- last lines of ${LOG_FILE} ---\n${tail(LOG_FILE, 25)}`;
}

async function up() {
  if (await answers(PORT, 3000)) {
    const pid = runningPid();
    log(
      pid
        ? `already running (pid ${pid}) on ${HOST}:${PORT}`
        : `a Kafka broker already answers on ${HOST}:${PORT} (not started by this script); using it`,
    );
    return 0;
  }
  return withLock(async () => {
    // Re-check under the lock: a concurrent `up` may have just started it.
    if (await answers(PORT, 3000)) {
      log(`already running on ${HOST}:${PORT}`);
      return 0;
    }
    const t0 = Date.now();
    let pid = runningPid();
    if (pid === null) {
      for (const port of [PORT, CONTROLLER_PORT]) {
        if (!(await canBind(port))) {
          throw new Error(`${HOST}:${port} is in use by a program that is not a Kafka broker answering there; free it or set RIPTIDE_KAFKA_PORT`);
        }
      }
      const java = javaBin();
      checkJava(java);
      const classpath = resolveClasspath();
      writeConfig();
      formatIfNeeded(java, classpath);
      if (fs.existsSync(LOG_FILE)) fs.renameSync(LOG_FILE, `${LOG_FILE}.1`);
      const out = fs.openSync(LOG_FILE, "a");
      const child = spawn(java, [...jvmArgs(classpath), "kafka.Kafka", PROPS_FILE], {
        cwd: STATE,
        detached: true,
        stdio: ["ignore", out, out],
      });
      fs.closeSync(out);
      await new Promise((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", reject);
      });
      pid = child.pid;
      child.unref();
      fs.writeFileSync(PID_FILE, `${pid}\n`);
      log(`started the broker (pid ${pid}), log ${path.relative(ROOT, LOG_FILE)}; waiting for ${HOST}:${PORT}`);
    } else {
      log(`broker process ${pid} exists but does not answer yet; waiting for ${HOST}:${PORT}`);
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (await answers(PORT, 2000)) break;
      if (!isAlive(pid)) {
        fs.rmSync(PID_FILE, { force: true });
        throw new Error(`the broker exited during startup; see ${LOG_FILE}\n${startupReport()}`);
      }
      if (Date.now() > deadline) {
        await stopPid(pid);
        throw new Error(
          `the broker did not answer on ${HOST}:${PORT} within ${START_TIMEOUT_MS / 1000} s (stopped it); see ${LOG_FILE}\n${startupReport()}`,
        );
      }
      await sleep(300);
    }
    log(`up on ${HOST}:${PORT} (pid ${pid}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  });
}

async function stopPid(pid) {
  try {
    process.kill(pid, "SIGTERM");
  } catch (e) {
    if (e.code === "ESRCH") return true;
    throw e;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(200);
  }
  log(`pid ${pid} still alive after ${STOP_TIMEOUT_MS / 1000} s; sending SIGKILL`);
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return !isAlive(pid);
}

async function down() {
  return withLock(async () => {
    const pid = runningPid();
    if (pid === null) {
      if (await answers(PORT, 2000)) {
        log(`a broker answers on ${HOST}:${PORT} but was not started by this script; leaving it alone`);
      } else {
        log("not running");
      }
      return 0;
    }
    log(`stopping the broker (pid ${pid})`);
    const t0 = Date.now();
    const stopped = await stopPid(pid);
    if (!stopped) throw new Error(`could not stop pid ${pid}`);
    fs.rmSync(PID_FILE, { force: true });
    log(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  });
}

async function status() {
  const pid = runningPid();
  const ok = await answers(PORT, 2000);
  if (pid !== null && ok) console.log(`running (pid ${pid}) on ${HOST}:${PORT}`);
  else if (pid !== null) console.log(`starting or unhealthy: pid ${pid} alive but ${HOST}:${PORT} does not answer; see ${LOG_FILE}`);
  else if (ok) console.log(`running on ${HOST}:${PORT} (not started by this script)`);
  else console.log(`not running (${HOST}:${PORT})`);
  return ok ? 0 : 1;
}

async function main() {
  const cmd = process.argv[2];
  switch (cmd) {
    case "up":
      return up();
    case "down":
      return down();
    case "status":
      return status();
    default:
      console.error("usage: node scripts/kafka.mjs up|down|status");
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`[kafka] error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
