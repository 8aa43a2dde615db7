#!/usr/bin/env node
// The chaos suite (`npm run chaos`): failures injected on purpose against the real broker, and a
// checker that compares every output topic with a reference run.
//
// Scenarios (seeded: --seed N; --kills-per-scenario K scales the SIGKILL scenarios):
//   eos-frames      exactly-once, binary frames, SIGKILL of the process at seeded points
//   eos-json        exactly-once, JSON one event per message, SIGKILL at seeded points
//   alos-frames     at-least-once, frames, SIGKILL at seeded points
//   eos-worker      exactly-once, a worker thread killed mid-stream (SIGUSR2 fault hook) and a SIGKILL
//   eos-broker      exactly-once, the broker restarted mid-stream (stop, start on the same data)
//   eos-redis       exactly-once with the Redis GEO index (--redis), Redis paused mid-stream
//                   (CLIENT PAUSE) and a SIGKILL; the final index must equal the reference run's
//   payments-eos    the payments pipeline, exactly-once, SIGKILL at seeded points: every payment
//                   exactly one confirmation and one balance update, balances as the reference's
//   dsl-eos         content-views (a DSL topology that repartitions: views keyed by user grouped by
//                   content, 5-minute windows) on 2 partitions and 2 workers, exactly-once, SIGKILL
//                   at seeded points; the reference is the same events run in-process
//   dsl-alos        the same at-least-once: no window may end below the reference's count
//   dsl-tasks       payments-dsl (a KTable balance per user) on 4 partitions, exactly-once with
//                   state per partition (--instance-id): two processes split the partitions, one
//                   of them (seeded) SIGKILLed at seeded points and restarted with its id; every
//                   confirmation, balance update and invalid event exactly as a run without failures
//   dsl-join-tasks  the same for ride-matching (a stream-stream join of two co-partitioned topics,
//                   requests and driver locations): partition q of both topics is one task; every
//                   match, late record and invalid event exactly as a run without failures
//   payments-tasks  the same for payments, the hand-written pipeline (its balances per partition
//                   move between the processes by user name)
//
// Each scenario: a fresh one-partition input topic (one partition: the order is fixed, so the
// reference is exact), filled by `riptide loadgen`; the reference is a run without failures on it
// (at-least-once, its own group); then the scenario's runs under failure until one ends by
// --stop-when-idle. The checker reads every output topic read_committed and compares multisets:
//   exactly-once: lost = reference outputs missing, duplicates = outputs beyond the reference;
//   at-least-once: a window is lost when no output of it has a count ≥ the reference's; side
//   outputs compare as multisets; duplicates are the outputs beyond the reference.
// Recovery time: from a kill to the restarted process's partition assignment (its state restored).
// Ends with one JSON line:
//   {"scenarios","kills","lostExactlyOnce","duplicatesExactlyOnce","lostAtLeastOnce",
//    "duplicatesAtLeastOnce","recoverySecondsP50","recoverySecondsMax"}
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { shebangFlags } from "../dist/src/cli/node-flags.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "bin", "riptide.js");
/** The V8 flags of bin/riptide.js's shebang, as a user's `riptide` runs. */
const NODE_FLAGS = shebangFlags(cli);
const kafkaScript = join(root, "scripts", "kafka.mjs");
const BROKERS = process.env.RIPTIDE_KAFKA_BROKERS ?? "127.0.0.1:9092";

const { values: opts } = parseArgs({
  options: {
    seed: { type: "string", default: "7" },
    "kills-per-scenario": { type: "string", default: "6" },
    scenarios: { type: "string", default: "eos-frames,eos-json,alos-frames,eos-worker,eos-broker,eos-redis,payments-eos,dsl-eos,dsl-alos,dsl-tasks,dsl-join-tasks,payments-tasks" },
    quiet: { type: "boolean", default: false },
  },
});
const seed = Number(opts.seed);
const killsPer = Number(opts["kills-per-scenario"]);
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${opts.seed}`);
if (!Number.isInteger(killsPer) || killsPer < 1 || killsPer > 100) fail(`--kills-per-scenario must be an integer from 1 to 100, got ${opts["kills-per-scenario"]}`);
const KNOWN = ["eos-frames", "eos-json", "alos-frames", "eos-worker", "eos-broker", "eos-redis", "payments-eos", "dsl-eos", "dsl-alos", "dsl-tasks", "dsl-join-tasks", "payments-tasks"];
const REDIS = process.env.RIPTIDE_REDIS_URL ?? "redis://127.0.0.1:6379";
function redisCli(args) {
  const u = new URL(REDIS);
  const r = spawnSync("redis-cli", ["-h", u.hostname, "-p", u.port || "6379", ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(" ")}: ${r.stderr || r.error}`);
  return r.stdout;
}
const chosen = opts.scenarios.split(",").map((s) => s.trim()).filter(Boolean);
for (const s of chosen) if (!KNOWN.includes(s)) fail(`--scenarios: unknown scenario ${s} (known: ${KNOWN.join(", ")})`);

function fail(msg) {
  process.stderr.write(`riptide chaos: ${msg}\n`);
  process.exit(2);
}
function log(msg) {
  if (!opts.quiet) process.stderr.write(`[chaos] ${msg}\n`);
}

/** mulberry32: the seeded kill points. */
function prng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ── the broker ────────────────────────────────────────────────────────────────────────────────
function kafka(cmd) {
  const r = spawnSync(process.execPath, [kafkaScript, cmd], { cwd: root, encoding: "utf8" });
  return r.status === 0;
}
let startedBroker = false;
if (!kafka("status")) {
  log("starting the Kafka broker");
  if (!kafka("up")) fail("the Kafka broker did not start (node scripts/kafka.mjs up)");
  startedBroker = true;
}

const { rdkafkaClientFactory } = await import(join(root, "dist", "src", "io", "kafka", "rdkafka.js"));

// ── runs ──────────────────────────────────────────────────────────────────────────────────────
function runCli(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, cli, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", () => {});
    child.on("exit", (code) => resolve({ code, out }));
  });
}

/**
 * Starts `riptide run` and resolves `assigned` when it logs its partition assignment (its state is
 * restored by then). `exit` resolves with the exit code and the last stdout line.
 */
function startRun(args, pipeline = "driver-tracking", tail = ["--log-level", "info", "--quiet", "--json"]) {
  const child = spawn(process.execPath, [...NODE_FLAGS, cli, "run", pipeline, ...args, ...tail], {
    cwd: root, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let onAssigned;
  const assigned = new Promise((r) => { onAssigned = r; });
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => {
    err += d;
    if (/"event":"assign"/.test(err)) onAssigned(Date.now());
  });
  const exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, out, err })));
  return { child, assigned, exit };
}

async function readTopic(topic) {
  const md = await admin.metadata(topic).catch(() => undefined);
  const t = md?.topics.find((x) => x.name === topic);
  const parts = t?.partitions ?? 0;
  const values = [];
  for (let p = 0; p < parts; p++) {
    const ms = await rdkafkaClientFactory.readPartition({ brokers: BROKERS }, topic, p);
    for (const m of ms) if (m.value) values.push(m.value.toString("utf8"));
  }
  return values;
}

const admin = rdkafkaClientFactory.createAdmin({ brokers: BROKERS });
await admin.connect();

const SIDES = ["invalid", "anomaly", "late"];
async function outputsOf(prefix, sides = SIDES) {
  const all = {};
  all.window = await readTopic(prefix);
  for (const s of sides) all[s] = await readTopic(`${prefix}.${s}`);
  return all;
}

function multiset(values) {
  const m = new Map();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

/** Exactly-once comparison: multiset difference both ways, every topic. */
function compareExact(ref, got) {
  let lost = 0;
  let dups = 0;
  for (const topic of Object.keys(ref)) {
    const r = multiset(ref[topic]);
    const g = multiset(got[topic]);
    for (const [v, c] of r) lost += Math.max(0, c - (g.get(v) ?? 0));
    for (const [v, c] of g) dups += Math.max(0, c - (r.get(v) ?? 0));
  }
  return { lost, dups };
}

/** At-least-once comparison: a window is kept when some output of it counts at least the reference. */
function compareAtLeastOnce(ref, got) {
  let lost = 0;
  const byTopic = {};
  const best = new Map();
  for (const v of got.window) {
    const o = JSON.parse(v);
    const k = `${o.key}@${o.windowStart}`;
    best.set(k, Math.max(best.get(k) ?? 0, o.count));
  }
  for (const v of ref.window) {
    const o = JSON.parse(v);
    if ((best.get(`${o.key}@${o.windowStart}`) ?? 0) < o.count) lost++;
  }
  byTopic.window = lost;
  for (const s of SIDES) {
    const g = multiset(got[s]);
    let n = 0;
    for (const [v, c] of multiset(ref[s])) n += Math.max(0, c - (g.get(v) ?? 0));
    byTopic[s] = n;
    lost += n;
  }
  if (lost > 0) log(`at-least-once: lost by topic ${JSON.stringify(byTopic)} (windows: below the reference's count in every output of them)`);
  let total = 0;
  let refTotal = 0;
  for (const t of Object.keys(ref)) { total += got[t].length; refTotal += ref[t].length; }
  return { lost, dups: Math.max(0, total - refTotal) };
}

// ── scenarios ─────────────────────────────────────────────────────────────────────────────────
const results = [];
const recoveries = [];
let kills = 0;

/**
 * dsl-eos / dsl-alos: content-views on Kafka under SIGKILLs. Its output is compared as lines
 * `content|windowStart|views|watchSec` with an in-process run of the same events (the generator
 * the load generator uses, same seed): the windows do not depend on how the partitions interleave
 * (views are at most 20 s out of order, the grace is 60 s).
 */
async function dslScenario(name) {
  const eos = name === "dsl-eos";
  const events = 300_000;
  const tag = `chaos-${name}-${seed}-${Date.now().toString(36)}`;
  const prefix = `${tag}-`;
  log(`${name}: loading ${events} views into ${prefix}user-views (2 partitions)`);
  const lg = await runCli(["loadgen", "--kind", "content-views", "--brokers", BROKERS, "--topic-prefix", prefix, "--rate", "10000000", "--events", String(events),
    "--partitions", "2", "--seed", String(seed), "--json", "--quiet"]);
  if (lg.code !== 0) throw new Error(`loadgen failed (${lg.code})`);
  log(`${name}: reference run (in-process)`);
  const refFile = join(tmpdir(), `${tag}-ref.jsonl`);
  const ref = await runCli(["run", "content-views", "--events", String(events), "--seed", String(seed), "--workers", "2", "--output", refFile, "--json", "--quiet"]);
  if (ref.code !== 0) throw new Error(`reference run failed (${ref.code})`);
  const line = (o) => `${o.key}|${o.windowStart}|${o.value.views}|${o.value.watchSec}`;
  const refLines = readFileSync(refFile, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((o) => o.type === "content-view-counts").map(line);
  rmSync(refFile, { force: true });
  const common = ["--brokers", BROKERS, "--topic-prefix", prefix, "--group", `${tag}-g`, "--workers", "2", ...(eos ? ["--guarantee", "exactly-once"] : [])];
  let lastKillAt = 0;
  for (let k = 0; k < killsPer; k++) {
    const run = startRun(common, "content-views", ["--json"]);
    const at = await Promise.race([run.assigned, run.exit.then(() => 0)]);
    if (at === 0) throw new Error(`${name}: run ended before its assignment: ${(await run.exit).err.slice(-400)}`);
    if (lastKillAt > 0) recoveries.push((at - lastKillAt) / 1000);
    await sleep(300 + Math.floor(random() * 1500));
    run.child.kill("SIGKILL");
    await run.exit;
    lastKillAt = Date.now();
    kills++;
    log(`${name}: kill ${k + 1}/${killsPer}`);
  }
  const run = startRun([...common, "--stop-when-idle", "3"], "content-views", ["--json"]);
  const at = await Promise.race([run.assigned, run.exit.then(() => 0)]);
  if (at > 0 && lastKillAt > 0) recoveries.push((at - lastKillAt) / 1000);
  const final = await run.exit;
  if (final.code !== 0) throw new Error(`${name}: the final run failed: ${final.err.slice(-600)}`);
  const got = (await readTopic(`${prefix}content-view-counts`)).map((v) => JSON.parse(v));
  const late = (await readTopic(`${prefix}content-view-counts.late`)).length;
  let cmp;
  if (eos) {
    cmp = compareExact({ window: refLines }, { window: got.map(line) });
  } else {
    const best = new Map();
    for (const o of got) best.set(`${o.key}|${o.windowStart}`, Math.max(best.get(`${o.key}|${o.windowStart}`) ?? 0, o.value.views));
    let lost = 0;
    for (const l of refLines) {
      const [key, start, views] = l.split("|");
      if ((best.get(`${key}|${start}`) ?? 0) < Number(views)) lost++;
    }
    cmp = { lost, dups: Math.max(0, got.length - refLines.length) };
  }
  cmp.lost += late; // no view is late in the reference
  log(`${name}: reference ${refLines.length} windows; lost ${cmp.lost}, duplicates ${cmp.dups}`);
  results.push({ name, eos, ...cmp });
}

/**
 * dsl-tasks / dsl-join-tasks / payments-tasks: payments-dsl / ride-matching / payments with state per partition. The same
 * seeded events go to two sets of topics (loadgen twice): the reference reads one without failures
 * (at-least-once, one process), the scenario the other with two processes of one group under
 * exactly-once, SIGKILLing one of them at seeded points and restarting it with its instance id; at
 * the end both run to --stop-when-idle. Recovery: from a kill to the restarted process's partitions
 * loaded (its task-restore event).
 */
const TASK_SCENARIOS = {
  "dsl-tasks": {
    pipeline: "payments-dsl", events: 200_000, what: "payments",
    loadgen: (p) => ["--kind", "payments", "--topic", `${p}payment-events`],
    outputs: (p) => [`${p}payment-confirmations`, `${p}balance-updates`, `${p}payment-events.invalid`],
    names: ["confirmations", "balance updates", "invalid"],
  },
  "dsl-join-tasks": {
    pipeline: "ride-matching", events: 200_000, what: "requests and driver locations",
    loadgen: (p) => ["--kind", "ride-matching", "--topic-prefix", p],
    outputs: (p) => [`${p}ride-matches`, `${p}ride-matches.late`, `${p}ride-requests.invalid`],
    names: ["matches", "late", "invalid"],
  },
  "payments-tasks": {
    pipeline: "payments", events: 200_000, what: "payments",
    loadgen: (p) => ["--kind", "payments", "--topic", `${p}payment-events`],
    topics: (p) => ["--input-topic", `${p}payment-events`, "--output-topic", `${p}payment-confirmations`],
    outputs: (p) => [`${p}payment-confirmations`, `${p}payment-confirmations.balance`, `${p}payment-confirmations.invalid`],
    names: ["confirmations", "balance updates", "invalid"],
    // Its outputs carry no topic name: compared whole.
    strip: (v) => v,
  },
};

async function tasksScenario(name) {
  const sc = TASK_SCENARIOS[name];
  const events = sc.events;
  const tag = `chaos-${name}-${seed}-${Date.now().toString(36)}`;
  const prefix = `${tag}-`;
  const refPrefix = `${tag}-ref-`;
  for (const p of [refPrefix, prefix]) {
    log(`${name}: loading ${events} ${sc.what} (${p}, 4 partitions)`);
    const lg = await runCli(["loadgen", ...sc.loadgen(p), "--brokers", BROKERS, "--rate", "10000000", "--events", String(events),
      "--partitions", "4", "--seed", String(seed), "--json", "--quiet"]);
    if (lg.code !== 0) throw new Error(`loadgen failed (${lg.code})`);
  }
  log(`${name}: reference run`);
  const topics = sc.topics ?? ((p) => ["--topic-prefix", p]);
  const ref = startRun(["--brokers", BROKERS, ...topics(refPrefix), "--group", `${tag}-ref`, "--stop-when-idle", "2"], sc.pipeline, ["--json"]);
  const refExit = await ref.exit;
  if (refExit.code !== 0) throw new Error(`reference run failed (${refExit.code}): ${refExit.err.slice(-400)}`);
  const common = ["--brokers", BROKERS, ...topics(prefix), "--group", `${tag}-g`, "--workers", "2", "--guarantee", "exactly-once"];
  const restored = (run) => new Promise((resolve) => {
    const tick = setInterval(() => {
      if (/"event":"task-restore"/.test(run.err())) { clearInterval(tick); resolve(Date.now()); }
      else if (run.child.exitCode !== null) { clearInterval(tick); resolve(0); }
    }, 20);
  });
  const start = (id, idle) => {
    const run = startRun([...common, "--instance-id", id, ...(idle ? ["--stop-when-idle", "5"] : [])], sc.pipeline, ["--json"]);
    let err = "";
    run.child.stderr.on("data", (d) => { err += d; });
    run.err = () => err;
    return run;
  };
  const runs = { a: start("a", false), b: start("b", false) };
  for (const id of ["a", "b"]) if ((await restored(runs[id])) === 0) throw new Error(`${name}: ${id} ended before loading its partitions: ${(await runs[id].exit).err.slice(-400)}`);
  for (let k = 0; k < killsPer; k++) {
    await sleep(300 + Math.floor(random() * 1500));
    const id = random() < 0.5 ? "a" : "b";
    runs[id].child.kill("SIGKILL");
    await runs[id].exit;
    const killedAt = Date.now();
    kills++;
    log(`${name}: kill ${k + 1}/${killsPer} (instance ${id})`);
    runs[id] = start(id, false);
    const at = await restored(runs[id]);
    if (at === 0) throw new Error(`${name}: ${id} ended before loading its partitions: ${(await runs[id].exit).err.slice(-400)}`);
    recoveries.push((at - killedAt) / 1000);
  }
  // To the end: both stopped and restarted with --stop-when-idle (their ids take their partitions back).
  for (const id of ["a", "b"]) {
    runs[id].child.kill("SIGKILL");
    await runs[id].exit;
    kills++;
  }
  const finals = [start("a", true), start("b", true)];
  for (const f of finals) {
    const e = await f.exit;
    if (e.code !== 0) throw new Error(`${name}: a final run failed: ${e.err.slice(-600)}`);
  }
  const topicsOf = sc.outputs;
  const reference = {};
  const got = {};
  // Outputs name their topic (`type`), which differs by prefix: compared by key and value.
  const strip = sc.strip ?? ((v) => { const o = JSON.parse(v); return JSON.stringify([o.key ?? null, o.value ?? o.event ?? null, o.reason ?? null]); });
  for (const [i, t] of topicsOf(refPrefix).entries()) reference[i] = (await readTopic(t)).map(strip);
  for (const [i, t] of topicsOf(prefix).entries()) got[i] = (await readTopic(t)).map(strip);
  if (reference[0].length === 0) throw new Error(`${name}: the reference run wrote no ${sc.names[0]}`);
  const cmp = compareExact(reference, got);
  log(`${name}: reference ${sc.names.map((n, i) => `${reference[i].length} ${n}`).join(", ")}; lost ${cmp.lost}, duplicates ${cmp.dups}`);
  results.push({ name, eos: true, ...cmp });
}

async function scenario(name) {
  if (name in TASK_SCENARIOS) return tasksScenario(name);
  if (name.startsWith("dsl-")) return dslScenario(name);
  const eos = name !== "alos-frames";
  const payments = name === "payments-eos";
  const pipeline = payments ? "payments" : "driver-tracking";
  const format = name === "eos-json" || payments ? "json" : "frame";
  const events = payments ? 150_000 : format === "json" ? 400_000 : 4_000_000;
  const tag = `chaos-${name}-${seed}-${Date.now().toString(36)}`;
  const input = tag;
  log(`${name}: loading ${events} events (${format}) into ${input}`);
  const lg = await runCli(["loadgen", ...(payments ? ["--kind", "payments"] : []), "--brokers", BROKERS, "--topic", input, "--rate", "10000000", "--events", String(events), "--format", format,
    "--partitions", "1", "--seed", String(seed), "--json", "--quiet"]);
  if (lg.code !== 0) throw new Error(`loadgen failed (${lg.code})`);

  log(`${name}: reference run`);
  const withRedis = (prefix) => (name === "eos-redis" ? ["--redis", REDIS, "--redis-prefix", prefix] : []);
  const ref = startRun(["--brokers", BROKERS, "--input-topic", input, "--output-topic", `${tag}-ref`, "--group", `${tag}-ref`, "--stop-when-idle", "2",
    ...withRedis(`${tag}-ref:`)], pipeline);
  const refExit = await ref.exit;
  if (refExit.code !== 0) throw new Error(`reference run failed (${refExit.code}): ${refExit.err.slice(-400)}`);

  const common = ["--brokers", BROKERS, "--input-topic", input, "--output-topic", `${tag}-out`, "--group", `${tag}-g`,
    ...(eos ? ["--guarantee", "exactly-once"] : []), ...withRedis(`${tag}:`)];
  const planned = name === "eos-worker" || name === "eos-broker" || name === "eos-redis" ? 1 : killsPer;
  let lastKillAt = 0;
  for (let k = 0; k < planned; k++) {
    const run = startRun(common, pipeline);
    const at = await Promise.race([run.assigned, run.exit.then(() => 0)]);
    if (at === 0) throw new Error(`${name}: run ended before its assignment: ${(await run.exit).err.slice(-400)}`);
    if (lastKillAt > 0) recoveries.push((at - lastKillAt) / 1000);
    if (name === "eos-worker") {
      await sleep(300 + Math.floor(random() * 500));
      run.child.kill("SIGUSR2"); // fault hook: worker thread 0 exits; the pool restarts it
      log(`${name}: worker thread killed`);
    }
    if (name === "eos-redis") {
      await sleep(300 + Math.floor(random() * 500));
      log(`${name}: pausing Redis for 2.5 s`);
      redisCli(["CLIENT", "PAUSE", "2500", "WRITE"]);
    }
    if (name === "eos-broker") {
      await sleep(300 + Math.floor(random() * 500));
      log(`${name}: restarting the broker`);
      kafka("down");
      await sleep(1000);
      if (!kafka("up")) throw new Error("the broker did not come back");
    }
    await sleep(200 + Math.floor(random() * 1200));
    run.child.kill("SIGKILL");
    await run.exit;
    lastKillAt = Date.now();
    kills++;
    log(`${name}: kill ${k + 1}/${planned}`);
  }
  // The last run goes to the end; a broker restart may fail a run (a transaction cannot commit):
  // it is restarted, as a supervisor would.
  let final;
  for (let attempt = 0; attempt < 5; attempt++) {
    const run = startRun([...common, "--stop-when-idle", "3"], pipeline);
    const at = await Promise.race([run.assigned, run.exit.then(() => 0)]);
    if (at > 0 && lastKillAt > 0) { recoveries.push((at - lastKillAt) / 1000); lastKillAt = 0; }
    final = await run.exit;
    if (final.code === 0) break;
    log(`${name}: final run exited ${final.code}; restarting it`);
  }
  if (final.code !== 0) throw new Error(`${name}: the final run failed: ${final.err.slice(-600)}`);

  // payments: confirmations in the output topic, balance updates and invalid events beside it.
  const sides = payments ? ["balance", "invalid"] : SIDES;
  const reference = await outputsOf(`${tag}-ref`, sides);
  const got = await outputsOf(`${tag}-out`, sides);
  const cmp = eos ? compareExact(reference, got) : compareAtLeastOnce(reference, got);
  if (name === "eos-redis") {
    // The index ends as the reference's: the same drivers at the same latest fix times.
    const seen = (prefix) => {
      const lines = redisCli(["ZRANGE", `${prefix}drivers:active:seen`, "0", "-1", "WITHSCORES"]).trim().split("\n");
      const pairs = [];
      for (let i = 0; i + 1 < lines.length; i += 2) pairs.push(`${lines[i]} ${lines[i + 1]}`);
      return pairs;
    };
    const want = seen(`${tag}-ref:`);
    const have = new Set(seen(`${tag}:`));
    let missing = 0;
    for (const pair of want) if (!have.has(pair)) missing++;
    missing += Math.abs(have.size - want.length);
    if (want.length === 0) throw new Error(`${name}: the reference run left no Redis index`);
    log(`${name}: Redis index of ${want.length} drivers in the reference; ${missing} (driver, last fix) entries differ`);
    cmp.lost += missing;
    for (const p of [`${tag}-ref:`, `${tag}:`]) {
      const keys = redisCli(["--scan", "--pattern", `${p}*`]).trim().split("\n").filter(Boolean);
      for (let i = 0; i < keys.length; i += 500) redisCli(["DEL", ...keys.slice(i, i + 500)]);
    }
  }
  const refCount = Object.values(reference).reduce((a, v) => a + v.length, 0);
  log(`${name}: reference ${refCount} outputs; lost ${cmp.lost}, duplicates ${cmp.dups}`);
  results.push({ name, eos, ...cmp });
}

let exitCode = 0;
try {
  for (const name of chosen) await scenario(name);
} catch (err) {
  process.stderr.write(`riptide chaos: ${err.stack ?? err}\n`);
  exitCode = 1;
} finally {
  await admin.disconnect().catch(() => undefined);
  if (startedBroker) kafka("down");
}

const sorted = recoveries.slice().sort((a, b) => a - b);
const summary = {
  scenarios: results.length,
  kills,
  lostExactlyOnce: results.filter((r) => r.eos).reduce((a, r) => a + r.lost, 0),
  duplicatesExactlyOnce: results.filter((r) => r.eos).reduce((a, r) => a + r.dups, 0),
  lostAtLeastOnce: results.filter((r) => !r.eos).reduce((a, r) => a + r.lost, 0),
  duplicatesAtLeastOnce: results.filter((r) => !r.eos).reduce((a, r) => a + r.dups, 0),
  recoverySecondsP50: sorted.length ? Math.round(sorted[Math.floor((sorted.length - 1) / 2)] * 100) / 100 : null,
  recoverySecondsMax: sorted.length ? Math.round(sorted[sorted.length - 1] * 100) / 100 : null,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
if (summary.lostExactlyOnce > 0 || summary.duplicatesExactlyOnce > 0 || summary.lostAtLeastOnce > 0) exitCode = exitCode || 1;
process.exit(exitCode);
