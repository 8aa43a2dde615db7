/**
 * Repartitioning against per-worker partials (issue 4 item 3), end to end on 2 workers, the driver
 * generator's records (seed 42), NullSink:
 *
 *   baseline  filter valid, groupBy geohash-5, built-in count: the typed form keeps a partial count
 *             per worker and merges the partials when a window closes (nothing moves)
 *   general   the same counts with a user aggregate: the general form moves every valid fix to the
 *             shard of its region (repartition edge) and counts it there: worker to worker through a
 *             ring per pair of shards (the default), and through the coordinator (repartitionPath)
 *   general   count per driver with a user aggregate on the source's key: the general form with
 *             nothing moving (what the move itself costs is the gap between the two general rows)
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runTopology, topologyShape } from "../../src/dsl/engine.js";
import { loadTopology } from "../../src/dsl/engine-common.js";
import { DriverGenerator } from "../../src/sources/driver-generator.js";
import { GeneratorSource } from "../../src/sources/generator-source.js";
import type { BenchRow } from "../harness.js";

export const groups = ["DSL repartition vs per-worker partials (end to end, 2 workers)"] as const;

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const group = groups[0];
  const events = opts.quick ? 200_000 : 1_000_000;
  const here = dirname(fileURLToPath(import.meta.url));
  const source = () => new GeneratorSource(new DriverGenerator({ seed: 42 }), events);
  const jobs = [
    ["region-count-topology.js", "typed form: groupBy geohash-5, built-in count, per-worker partials merged at window close", true, "peer"],
    ["region-repartition-topology.js", "general form: groupBy geohash-5, user aggregate, records moved to their region's shard worker to worker", false, "peer"],
    ["region-repartition-topology.js", "general form: groupBy geohash-5, user aggregate, records moved to their region's shard through the coordinator", false, "coordinator"],
    ["driver-objects-topology.js", "general form: count per driver (source key), user aggregate, nothing moved", false, "peer"],
  ] as const;
  const rows: BenchRow[] = [];
  for (const [module, name, baseline, repartitionPath] of jobs) {
    const path = join(here, module);
    const shape = topologyShape(await loadTopology(path));
    const r = await runTopology(path, { source, workers: 2, repartitionPath });
    const moved = r.repartitioned ?? 0;
    const windows = Object.entries(r.outputs).filter(([k]) => k !== "invalid" && !k.includes("late")).reduce((a, [, v]) => a + v, 0);
    rows.push({
      group, name, baseline, eventsPerSec: r.eventsPerSec,
      note: `${events} events, one run, ${"mode" in shape ? "general form" : "typed form"}, ${windows} window results, ${moved} records moved`,
    });
  }
  return rows;
}
