/**
 * `riptide run engagement-analytics`: the content-metadata table a run's window results are
 * enriched with, for each source — the embedded generator (its catalog), a JSON-lines file of
 * views and interactions (no table: title and genre null) or Kafka (the content-metadata topic, kafka-engagement.ts).
 */
import { ContentTable } from "../pipelines/engagement/content-table.js";
import { withContentTable, type IdName } from "../pipelines/engagement/edge.js";
import type { PipelineDefinition } from "../pipelines/pipeline.js";
import { ENGAGEMENT_INTERACTION_SHARE, EngagementGenerator, EngagementGeneratorSource } from "../sources/engagement-generator.js";
import type { Source } from "../sources/source.js";

export interface EngagementRun {
  readonly table: ContentTable;
  /** The pipeline bound to this run's table and id names. */
  bind(pipeline: PipelineDefinition): PipelineDefinition;
  close(): Promise<void>;
}

function run(table: ContentTable, name: IdName, close: () => Promise<void> = async () => undefined): EngagementRun {
  return { table, bind: (p) => withContentTable(p, table, name), close };
}

/**
 * The seeded generator (--drivers is the user count): views and interactions
 * (ENGAGEMENT_INTERACTION_SHARE of the records), with its catalog as the table.
 */
export function engagementGenerator(o: { seed?: number; users?: number; partitions?: number; events: number }): EngagementRun & { source: Source } {
  const gen = new EngagementGenerator({
    ...(o.seed !== undefined && { seed: o.seed }), ...(o.users !== undefined && { users: o.users }),
    ...(o.partitions !== undefined && { partitions: o.partitions }),
    interactionShare: ENGAGEMENT_INTERACTION_SHARE,
  });
  const table = new ContentTable();
  for (const r of gen.catalog()) table.put(r.contentId, r.title, r.genre);
  return { ...run(table, (field, id) => gen.idName(field, id)), source: new EngagementGeneratorSource(gen, o.events) };
}

/** A source with one string table (file, Kafka): ids named by it; `table` filled elsewhere. */
export function engagementWithTable(name: (id: number) => string, table = new ContentTable(), close?: () => Promise<void>): EngagementRun {
  return run(table, (_field, id) => name(id), close);
}
