/**
 * `npm run bench:peers [-- options]`: Riptide and the Kafka Streams peer on the same input.
 *
 *   1. the broker (started with scripts/kafka.mjs when none answers, and stopped after if so)
 *   2. the peer's Maven build (skipped while target/ is newer than its sources)
 *   3. throughput: one fresh input topic, loaded once by `riptide loadgen`; Riptide runs over it,
 *      then the peer (one at a time: they would share the same 2 cores), each into its own output
 *      topics with its own group / application id; both outputs are read back and compared
 *   4. latency: per engine a fresh topic fed by loadgen at a steady rate while the engine runs
 *   5. a table on stdout and the generated section of bench/RESULTS.md (between peers markers)
 *
 * Options: --events N (1000000) --partitions P (4) --parallelism W (cores: Riptide workers and the
 * peer's stream threads) --seed N (42) --drivers N (10000) --state rocksdb|memory (rocksdb)
 * --rate R (latency phase, events/s, 2000) --seconds S (latency phase, 20) --latency-drivers N (500: with
 * fewer drivers event time runs faster, 16 s per second at 2000 events/s over 4 partitions, so windows
 * close during the run) --no-latency --no-write
 * --quick (200 000 events, 10 s of latency) --brokers LIST (127.0.0.1:9092)
 */
import { availableParallelism, loadavg } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machine, machineLine } from "../harness.js";
import {
  buildPeer, compareOutputs, createTopics, ensureBroker, javaVersion, latency, loadgen, outputTopics, readOutputs, readTopic,
  ROOT, runKafkaStreams, runRiptide, stopBroker, type Comparison, type Latency,
} from "./peers.js";

const START = "<!-- peers:start -->";
const END = "<!-- peers:end -->";
const USAGE = "usage: npm run bench:peers -- [--events N] [--partitions P] [--parallelism W] [--seed N] [--drivers N] " +
  "[--state rocksdb|memory] [--rate R] [--seconds S] [--latency-drivers N] [--no-latency] [--no-write] [--quick] [--brokers LIST]";

interface Args {
  events: number; partitions: number; parallelism: number; seed: number; drivers: number; state: "rocksdb" | "memory";
  rate: number; seconds: number; latencyDrivers: number; latency: boolean; write: boolean; quick: boolean; brokers: string;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    events: 1_000_000, partitions: 4, parallelism: availableParallelism(), seed: 42, drivers: 10_000, state: "rocksdb",
    rate: 2000, seconds: 20, latencyDrivers: 500, latency: true, write: true, quick: false, brokers: "127.0.0.1:9092",
  };
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}\n${USAGE}`);
    return n;
  };
  let eventsGiven = false, secondsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    switch (k) {
      case "--events": a.events = int("events", argv[++i], 1); eventsGiven = true; break;
      case "--partitions": a.partitions = int("partitions", argv[++i], 1); break;
      case "--parallelism": a.parallelism = int("parallelism", argv[++i], 1); break;
      case "--seed": a.seed = int("seed", argv[++i], 0); break;
      case "--drivers": a.drivers = int("drivers", argv[++i], 1); break;
      case "--rate": a.rate = int("rate", argv[++i], 1); break;
      case "--latency-drivers": a.latencyDrivers = int("latency-drivers", argv[++i], 1); break;
      case "--seconds": a.seconds = int("seconds", argv[++i], 1); secondsGiven = true; break;
      case "--state": {
        const v = argv[++i];
        if (v !== "rocksdb" && v !== "memory") throw new Error(`--state must be rocksdb or memory, got ${JSON.stringify(v)}\n${USAGE}`);
        a.state = v;
        break;
      }
      case "--brokers": a.brokers = argv[++i] ?? ""; if (!a.brokers) throw new Error(`--brokers needs a list\n${USAGE}`); break;
      case "--no-latency": a.latency = false; break;
      case "--no-write": a.write = false; break;
      case "--quick": a.quick = true; break;
      case "--help": case "-h": process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: throw new Error(`unknown argument ${JSON.stringify(k)}\n${USAGE}`);
    }
  }
  if (a.quick && !eventsGiven) a.events = 200_000;
  if (a.quick && !secondsGiven) a.seconds = 10;
  return a;
}

const log = (s: string): void => void process.stderr.write(`bench:peers: ${s}\n`);
const fmt = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : `${Math.round(x)}`);
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : "–");

interface Throughput { eventsPerSec: number; seconds: number; events: number; summary: Record<string, unknown> }

async function throughputPhase(a: Args, classpath: string, stamp: string): Promise<{ rt: Throughput; ks: Throughput; cmp: Comparison; input: string }> {
  const input = `peers-in-${stamp}`;
  const rtOut = `peers-rt-${stamp}`, ksOut = `peers-ks-${stamp}`;
  await createTopics(a.brokers, [
    { name: input, partitions: a.partitions },
    ...[...outputTopics(rtOut), `${input}.dlq`, ...outputTopics(ksOut), `${ksOut}.dlq`].map((name) => ({ name, partitions: a.partitions, logAppendTime: true })),
  ]);
  log(`loading ${a.events} events (seed ${a.seed}, ${a.drivers} drivers) into ${input} (${a.partitions} partitions)`);
  const lg = await loadgen({ brokers: a.brokers, topic: input, events: a.events, partitions: a.partitions, rate: 1e9, seed: a.seed, drivers: a.drivers });
  log(`loadgen: ${lg["eventsPerSec"]} events/s`);

  log(`riptide run driver-tracking, ${a.parallelism} workers`);
  const rs = await runRiptide({ brokers: a.brokers, inputTopic: input, outputTopic: rtOut, id: `peers-rt-${stamp}`, parallelism: a.parallelism, stopWhenIdleS: 3 }).done;
  log(`riptide: ${JSON.stringify(rs)}`);
  log(`Kafka Streams peer, ${a.parallelism} stream threads, ${a.state} state`);
  const ks = await runKafkaStreams({ brokers: a.brokers, inputTopic: input, outputTopic: ksOut, id: `peers-ks-${stamp}`, parallelism: a.parallelism, stopWhenIdleS: 3, classpath, state: a.state }).done;
  log(`peer: ${JSON.stringify(ks)}`);

  const [rtOutputs, ksOutputs] = await Promise.all([readOutputs(a.brokers, rtOut), readOutputs(a.brokers, ksOut)]);
  const cmp = compareOutputs(rtOutputs, ksOutputs, Number(ks["droppedRecords"] ?? 0));
  const tp = (s: Record<string, unknown>): Throughput => ({ eventsPerSec: s["eventsPerSec"] as number, seconds: s["seconds"] as number, events: s["events"] as number, summary: s });
  return { rt: tp(rs), ks: tp(ks), cmp, input };
}

async function latencyPhase(a: Args, classpath: string, stamp: string, engine: "riptide" | "peer"): Promise<Latency & { dropped?: number }> {
  const input = `peers-live-${engine}-${stamp}`;
  const out = `peers-live-${engine}-out-${stamp}`;
  await createTopics(a.brokers, [
    { name: input, partitions: a.partitions },
    ...[...outputTopics(out), `${input}.dlq`, `${out}.dlq`].map((name) => ({ name, partitions: a.partitions, logAppendTime: true })),
  ]);
  const o = { brokers: a.brokers, inputTopic: input, outputTopic: out, id: `peers-live-${engine}-${stamp}`, parallelism: a.parallelism, stopWhenIdleS: 5 };
  const run = engine === "riptide" ? runRiptide(o) : runKafkaStreams({ ...o, classpath, state: a.state });
  await run.ready;
  await new Promise((r) => setTimeout(r, 1000));
  log(`${engine}: loadgen at ${a.rate} events/s for ${a.seconds} s`);
  await loadgen({ brokers: a.brokers, topic: input, events: a.rate * a.seconds, partitions: a.partitions, rate: a.rate, seed: a.seed, drivers: a.latencyDrivers });
  const summary = await run.done;
  const [inMsgs, outputs] = await Promise.all([readTopic(a.brokers, input), readOutputs(a.brokers, out)]);
  return { ...latency(inMsgs, outputs), ...(summary["droppedRecords"] !== undefined && { dropped: summary["droppedRecords"] as number }) };
}

function verdict(c: Comparison): string {
  if (c.identical) return "identical (every window, invalid, anomaly and late output)";
  if (c.explainedByWatermark) {
    const parts = ["invalid and anomaly outputs identical"];
    if (c.lateOnly.riptide + c.lateOnly.peer > 0) {
      parts.push(`${c.lateOnly.riptide + c.lateOnly.peer} late decisions differ (late only in Riptide ${c.lateOnly.riptide}, only in the peer ${c.lateOnly.peer}: ` +
        "Riptide's watermark is the minimum over partitions, the peer's a partition's own stream time)");
    }
    if (c.peerDropped > 0) parts.push(`${c.peerDropped} fixes the peer dropped itself (its repartition task's stream time had passed their window)`);
    parts.push(`the ${c.windowsDiffering} windows that differ differ by exactly those fixes`);
    return `reconciled: ${parts.join("; ")}`;
  }
  return `MISMATCH: ${c.unexplained} unexplained differences`;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const m = machine();
  const load = loadavg()[0]!;
  const java = javaVersion();
  log(`${machineLine(m)}; ${java}; load average ${load.toFixed(2)}`);
  const started = ensureBroker();
  if (started) log("started the Kafka broker (scripts/kafka.mjs up); it is stopped at the end");
  try {
    const b = buildPeer();
    log(b.built ? `built the Kafka Streams peer with Maven in ${(b.ms / 1000).toFixed(1)} s` : "Kafka Streams peer: build is up to date");
    const stamp = `${Date.now().toString(36)}-${process.pid}`;
    const t = await throughputPhase(a, b.classpath, stamp);
    let lat: { rt: Latency; ks: Latency & { dropped?: number } } | undefined;
    if (a.latency) lat = { rt: await latencyPhase(a, b.classpath, stamp, "riptide"), ks: await latencyPhase(a, b.classpath, stamp, "peer") };
    const loadAfter = loadavg()[0]!;

    const ratio = t.rt.eventsPerSec / t.ks.eventsPerSec;
    const rows: string[][] = [
      ["", "Riptide", "Kafka Streams", "Riptide / KS"],
      ["throughput (events/s, first consumed → last output)", fmt(t.rt.eventsPerSec), fmt(t.ks.eventsPerSec), `${ratio.toFixed(2)}×`],
      ["events, seconds", `${t.rt.events}, ${t.rt.seconds} s`, `${t.ks.events}, ${t.ks.seconds} s`, ""],
    ];
    const cpuRt = t.rt.summary["cpuSeconds"] as number | undefined, cpuKs = t.ks.summary["cpuSeconds"] as number | undefined;
    if (cpuRt !== undefined && cpuKs !== undefined) {
      const perM = (cpu: number, n: number): number => (cpu / n) * 1e6;
      rows.push(["CPU seconds per million events (process lifetime, startup included)", perM(cpuRt, t.rt.events).toFixed(1), perM(cpuKs, t.ks.events).toFixed(1),
        `${(perM(cpuKs, t.ks.events) / perM(cpuRt, t.rt.events)).toFixed(2)}× less CPU`]);
    }
    if (lat) {
      rows.push([`side-output latency p50 / p99 (at ${a.rate} events/s, ${a.latencyDrivers} drivers)`, `${ms(lat.rt.sideP50)} / ${ms(lat.rt.sideP99)}`, `${ms(lat.ks.sideP50)} / ${ms(lat.ks.sideP99)}`,
        `${(lat.ks.sideP50 / lat.rt.sideP50).toFixed(1)}× lower p50`]);
      rows.push(["window emit latency p50 / p99 (after the closing input)", `${ms(lat.rt.windowP50)} / ${ms(lat.rt.windowP99)}`, `${ms(lat.ks.windowP50)} / ${ms(lat.ks.windowP99)}`,
        `${(lat.ks.windowP50 / lat.rt.windowP50).toFixed(1)}× lower p50`]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")).join("\n");
    process.stdout.write(`\n${table}\n\noutputs: ${verdict(t.cmp)}\n`);
    process.stdout.write(`  riptide ${JSON.stringify(t.cmp.counts.riptide)}\n  peer    ${JSON.stringify(t.cmp.counts.peer)}; fixes Kafka Streams dropped itself: ${t.ks.summary["droppedRecords"]}\n`);
    for (const line of t.cmp.mismatches) process.stdout.write(`  ${line}\n`);

    if (a.write) {
      const md = [
        "## Kafka Streams side by side (`npm run bench:peers`)",
        "",
        `Generated by bench/peers/run.ts on ${m.date}: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${java}; ` +
          `Kafka Streams 4.4.0 (${a.state} state, at-least-once, commit.interval.ms 1000). Input: ${a.events} JSON events from ` +
          `\`riptide loadgen\` (seed ${a.seed}, ${a.drivers} drivers) in one topic of ${a.partitions} partitions, read by both; ` +
          `${a.parallelism} Riptide workers vs ${a.parallelism} stream threads; one engine at a time. ` +
          `Load average (1 min) ${load.toFixed(2)} before and ${loadAfter.toFixed(2)} after the run` +
          (load > 0.5 ? " — other processes were using the cores: absolute figures are deflated, the ratio is from the same run." : "."),
        "",
        "| | Riptide | Kafka Streams | Riptide / Kafka Streams |",
        "|---|---|---|---|",
        ...rows.slice(1).map((r) => `| ${r.join(" | ")} |`),
        "",
        `Outputs: ${verdict(t.cmp)}. Counts: Riptide ${JSON.stringify(t.cmp.counts.riptide)}, peer ${JSON.stringify(t.cmp.counts.peer)}; ` +
          `fixes Kafka Streams dropped itself (window already closed in its repartition task): ${t.ks.summary["droppedRecords"]}` +
          (lat?.ks.dropped !== undefined ? ` (latency run: ${lat.ks.dropped})` : "") + ".",
        ...(t.cmp.mismatches.length > 0 ? ["", "Examples of the differences:", "", ...t.cmp.mismatches.map((l) => `- \`${l}\``)] : []),
        "",
        "Throughput: events over first event consumed → last output delivered, less the idle wait before the end-of-input flush " +
          "(Riptide's `--json` summary; the peer's own summary, same definition). Latency: input CreateTime → output LogAppendTime; " +
          "side outputs per event, windows from the first input message whose ts reaches the window's end + grace.",
      ].join("\n");
      const file = join(ROOT, "bench", "RESULTS.md");
      const text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
      const block = `${START}\n${md}\n${END}`;
      const s = text.indexOf(START), e = text.indexOf(END);
      writeFileSync(file, s >= 0 && e > s ? text.slice(0, s) + block + text.slice(e + END.length) : `${text.replace(/\n*$/, "")}\n\n${block}\n`);
      log(`wrote the peers section of ${file}`);
    }
    return t.cmp.explainedByWatermark ? 0 : 1;
  } finally {
    if (started) stopBroker();
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench:peers: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(2);
});
