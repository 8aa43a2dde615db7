#!/usr/bin/env node
/**
 * Exactly-once repartitioning in one process against across processes (issue 6 item 2), through
 * the real broker: the same topology (bench/dsl/region-repartition-json.js: groupBy geohash-5
 * region, a user aggregate in tumbling windows) on the same input (`riptide loadgen`, JSON, 4
 * partitions, produced once), interleaved rounds of:
 *
 *   in-process   one `riptide run --guarantee exactly-once` (2 workers): records move to their
 *                region's shard inside the process (the coordinator's path under transactions)
 *   kafka x1     one process with --instance-id (2 workers): every record crosses the Kafka
 *                repartition topic (written in the transaction, read back read_committed)
 *   kafka x1 purged  as kafka x1, with --purge-interval 1000: the records before the committed
 *                offsets deleted from the repartition topic (DeleteRecords) every second
 *   in-process chain, kafka x1 chain  as in-process and kafka x1, for a chain of two repartitions
 *                (bench/dsl/region-chain-json.js: by car into a KTable, its updates by region)
 *   kafka x2     two processes with --instance-id (1 worker each) splitting the partitions: records
 *                cross the repartition topic between the processes
 *
 * Events/s = input events / the longest `seconds` of the run's processes (first event to last
 * output acknowledged, without the --stop-when-idle wait). Usage: node bench/dsl/eos-repartition.mjs
 * [events=200000] [rounds=3] [modes, e.g. "kafka x1,kafka x2"]. Prints one line per run and a JSON
 * summary. Needs `npm run build`.
 */
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import { shebangFlags } from "../../dist/src/cli/node-flags.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = join(root, "bin", "riptide.js");
const topology = join(root, "bench", "dsl", "region-repartition-json.js");
/** The same with a chain of two repartitions (the chain modes). */
const chain = join(root, "bench", "dsl", "region-chain-json.js");
const brokers = process.env.RIPTIDE_KAFKA_BROKERS ?? "127.0.0.1:9092";
const events = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
/** Which modes to run (comma-separated names), default all. */
const only = process.argv[4]?.split(",");
const prefix = `bench-eosrp-${Date.now().toString(36)}-`;

const gen = spawnSync(process.execPath, [bin, "loadgen", "--brokers", brokers, "--topic", `${prefix}locations`, "--rate", "10000000", "--events", String(events), "--format", "json", "--partitions", "4", "--json", "--quiet"], { encoding: "utf8" });
if (gen.status !== 0) throw new Error(`loadgen failed: ${gen.stderr}`);

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...shebangFlags(bin), bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RIPTIDE_BENCH_PREFIX: prefix } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop())) : reject(new Error(`riptide exited ${code}: ${err.slice(-2000)}`))));
  });
}

const base = (group, workers, t = topology) => ["run", "--topology", t, "--brokers", brokers, "--group", group, "--guarantee", "exactly-once", "--workers", String(workers), "--stop-when-idle", "5", "--json", "--quiet"];
const modes = {
  "in-process": (g) => [run(base(g, 2))],
  "kafka x1": (g) => [run([...base(g, 2), "--instance-id", "a"])],
  // As kafka x1, the repartition topic purged every second (the default, 30 s, rarely comes in a run this short).
  "kafka x1 purged": (g) => [run([...base(g, 2), "--instance-id", "a", "--purge-interval", "1000"])],
  "in-process chain": (g) => [run(base(g, 2, chain))],
  "kafka x1 chain": (g) => [run([...base(g, 2, chain), "--instance-id", "a"])],
  "kafka x2": (g) => [run([...base(g, 1), "--instance-id", "a"]), run([...base(g, 1), "--instance-id", "b"])],
};
const results = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
for (let r = 0; r < rounds; r++) {
  for (const [mode, start] of Object.entries(modes).filter(([m]) => only === undefined || only.includes(m))) {
    const load = loadavg()[0];
    const sums = await Promise.all(start(`${prefix}g-${mode.replace(/\W/g, "")}-${r}`));
    const seconds = Math.max(...sums.map((s) => s.seconds));
    const rate = Math.round(events / seconds);
    results[mode].push(rate);
    const windows = sums.reduce((a, s) => a + (s.outputs[`${prefix}regions`] ?? 0), 0);
    process.stdout.write(`round ${r} ${mode}: ${rate} events/s (${seconds} s; ${windows} windows; load ${load.toFixed(1)})\n`);
  }
}
process.stdout.write(JSON.stringify({ events, rounds, eventsPerSec: results }) + "\n");
