/**
 * The bench suite runner: `npm run bench [-- --quick] [-- --only <group substring>] [-- --no-write]`.
 *
 *   MODULES ──import──► run({quick}) ──► BenchRow[] ──► table on stdout
 *                                                  └──► bench/RESULTS.md (generated section)
 *
 * A module that is missing (not written or not built yet) is reported and skipped; a module that
 * throws is reported and the others still run (exit code 1). A module may export
 * `groups: readonly string[]`; with --only, a module whose groups all miss the substring is not run.
 * A run with --only does not rewrite RESULTS.md (it would drop the other groups' figures).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import {
  formatTable, machine, machineLine, renderResults, writeResults, type BenchRow,
} from "./harness.js";

/** Bench modules, relative to this file, in the order they run. */
const MODULES = [
  "./kernels/geohash.bench.js",
  "./kernels/geo.bench.js",
  "./kernels/native.bench.js",
  "./kernels/window-table.bench.js",
  "./sources/driver-generator.bench.js",
  "./sources/frame-decode.bench.js",
  "./ring/ring.bench.js",
  "./pipelines/driver-tracking.bench.js",
  "./pipelines/rides.bench.js",
  "./pipelines/engagement.bench.js",
  "./pipelines/pipelines.bench.js",
  "./dsl/dsl.bench.js",
  "./dsl/stores.bench.js",
  "./dsl/table-store.bench.js",
  "./dsl/driver-tracking-job.bench.js",
  "./dsl/repartition.bench.js",
  "./pipelines/scaling.bench.js",
  "./io/kafka.bench.js",
  "./io/kafka-sink.bench.js",
  "./io/exactly-once.bench.js",
] as const;

interface BenchModule {
  run(opts: { quick: boolean }): Promise<BenchRow[]>;
  groups?: readonly string[];
}

interface Args {
  quick: boolean;
  only: string | undefined;
  write: boolean;
}

const USAGE = "usage: node dist/bench/index.js [--quick] [--only <substring of a group>] [--no-write]";

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, only: undefined, write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") args.quick = true;
    else if (a === "--no-write") args.write = false;
    else if (a === "--only" || a.startsWith("--only=")) {
      const v = a === "--only" ? argv[++i] : a.slice("--only=".length);
      if (!v) throw new Error(`--only needs a substring of a group name\n${USAGE}`);
      args.only = v;
    } else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
    }
  }
  return args;
}

/** The project root: the nearest directory above this file holding package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("bench: package.json not found above the bench runner");
    dir = up;
  }
  return dir;
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const only = args.only?.toLowerCase();
  const matches = (group: string): boolean => only === undefined || group.toLowerCase().includes(only);
  const here = dirname(fileURLToPath(import.meta.url));
  const m = machine();
  log(`bench: ${machineLine(m)}${args.quick ? " (--quick)" : ""}`);

  const rows: BenchRow[] = [];
  const problems: string[] = [];
  let failed = false;
  const t0 = performance.now();
  for (const rel of MODULES) {
    const name = rel.replace(/^\.\//, "").replace(/\.js$/, "");
    const file = join(here, rel);
    if (!existsSync(file)) {
      log(`bench: ${name}: not found (${file}); skipped — not written or not built yet`);
      problems.push(`${name}: module not found`);
      continue;
    }
    const started = performance.now();
    try {
      const mod = (await import(pathToFileURL(file).href)) as Partial<BenchModule>;
      if (typeof mod.run !== "function") throw new Error("it exports no run(opts) function");
      if (only !== undefined && Array.isArray(mod.groups) && !mod.groups.some(matches)) continue;
      if (args.quick && only === undefined && (mod as { needsBroker?: boolean }).needsBroker === true) {
        log(`bench: ${name}: skipped in --quick (it needs the Kafka broker and a few minutes; run it with --only kafka)`);
        continue;
      }
      log(`bench: ${name}…`);
      const got = await mod.run({ quick: args.quick });
      for (const r of got) if (matches(r.group)) rows.push(r);
      log(`bench: ${name}: ${got.length} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed = true;
      log(`bench: ${name} failed: ${(err as Error)?.stack ?? String(err)}`);
      problems.push(`${name}: failed (${String((err as Error)?.message ?? err).split("\n")[0]})`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  process.stdout.write(`${machineLine(m)}; ${args.quick ? "--quick" : "full"} run, ${seconds.toFixed(1)} s\n`);
  if (rows.some((r) => !rows.some((b) => b.group === r.group && b.baseline))) {
    log("bench: warning: a group has no baseline row");
  }

  if (!args.write) {
    log("bench: --no-write: bench/RESULTS.md not touched");
  } else if (args.only !== undefined) {
    log("bench: --only: bench/RESULTS.md not touched (a partial run would drop the other groups); run without --only to record");
  } else if (rows.length === 0) {
    log("bench: no rows measured; bench/RESULTS.md not touched");
  } else {
    const file = join(projectRoot(), "bench", "RESULTS.md");
    writeResults(file, renderResults(rows, m, { quick: args.quick, seconds, problems }));
    log(`bench: wrote ${file}`);
  }
  return failed ? 1 : 0;
}

main().then(
  // Exit explicitly: a module that leaves a worker or a timer behind must not hang the suite.
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench: ${(err as Error)?.message ?? String(err)}`);
    process.exit(2);
  },
);
