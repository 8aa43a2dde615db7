/**
 * content-views (seed §1 and "Tumbling Windows": Netflix engagement analytics) on the DSL: views
 * arrive keyed by user and are grouped by content id — a new key, so each view moves to the shard
 * that owns its content (repartitioning, src/dsl/repartition.ts) — then aggregated per content in
 * 5-minute tumbling windows: views and watch time, emitted when the window closes (1 minute of
 * grace for out-of-order views; later ones go to `<output>.late` with their lateness). This module
 * is what every shard worker imports; topic names take RIPTIDE_TOPIC_PREFIX in front.
 */
import { StreamsBuilder } from "../../dsl/builder.js";
import { TimeWindows } from "../../dsl/windows.js";
import { defineSchema } from "../../schema/schema.js";

export const viewSchema = defineSchema("user-view", { userId: "string", contentId: "string", watchSec: "f64", ts: "f64" });
export const WINDOW_MS = 5 * 60_000;
export const GRACE_MS = 60_000;

export function topics(prefix = process.env["RIPTIDE_TOPIC_PREFIX"] ?? "") {
  return { views: `${prefix}user-views`, counts: `${prefix}content-view-counts` };
}

interface View { userId: string; contentId: string; watchSec: number; ts: number }
export interface ViewAggregation { views: number; watchSec: number }

export default function topology() {
  const t = topics();
  const b = new StreamsBuilder();
  b.stream<View, string>(t.views, { schema: viewSchema, key: "userId", timestamp: "ts" })
    .groupBy((_user, v) => v.contentId, "by-content")
    .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW_MS, GRACE_MS))
    .aggregate<ViewAggregation>(() => ({ views: 0, watchSec: 0 }), (_content, v, a) => ({ views: a.views + 1, watchSec: a.watchSec + v.watchSec }),
      { name: "content-views-store", late: `${t.counts}.late` })
    .toStream()
    .to(t.counts);
  return b.build();
}
