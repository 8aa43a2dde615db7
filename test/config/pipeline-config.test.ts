/**
 * The pipeline-file loader: the shipped files map onto the built-in pipelines with their options;
 * the seed's own descriptions and broken files are refused with `file:line:col path: message`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { loadPipelineConfig, parseDuration, parsePipelineConfig } from "../../src/config/pipeline-config.js";
import { OPERATIONS } from "../../src/config/operations.js";
import { PIPELINES } from "../../src/pipelines/registry.js";

const ROOT = join(__dirname, "..", "..");
const shipped = (name: string): string => readFileSync(join(ROOT, "pipelines", name), "utf8");

/** `line:col` (1-based) of the `nth` occurrence of `needle` in `text`. */
function pos(text: string, needle: string, nth = 1): string {
  let i = -1;
  for (let k = 0; k < nth; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`${JSON.stringify(needle)} not in the text`);
  }
  const before = text.slice(0, i).split("\n");
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

/** A `line:col` moved right by n columns. */
function shift(lineCol: string, n: number): string {
  const [line, col] = lineCol.split(":");
  return `${line}:${Number(col) + n}`;
}

/** Replaces exactly one occurrence (so a test cannot silently edit nothing). */
function edit(text: string, from: string, to: string): string {
  expect(text.split(from).length - 1, `${JSON.stringify(from)} occurs once`).toBe(1);
  return text.replace(from, to);
}

function errorOf(text: string, file = "pipelines/x.yaml"): string {
  try {
    parsePipelineConfig(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("the file was accepted");
}

describe("shipped pipeline files", () => {
  it("engagement-analytics.yaml → engagement-analytics, its topics, a 5-minute window, Redis allowed", () => {
    const c = loadPipelineConfig(join(ROOT, "pipelines", "engagement-analytics.yaml"));
    expect(c).toMatchObject({
      kind: "stream_pipeline", name: "user-engagement-analytics", pipeline: "engagement-analytics",
      inputTopics: ["user-views", "content-metadata", "user-interactions"], outputTopic: "processed-analytics", redis: true, windowMs: 300_000,
    });
    expect(c.partitions).toBeUndefined();
    expect(c.operations).toEqual(Object.keys(OPERATIONS.stream_pipeline));
  });

  it("driver-location-tracking.yaml → driver-tracking with the GEO index", () => {
    const c = loadPipelineConfig(join(ROOT, "pipelines", "driver-location-tracking.yaml"));
    expect(c).toMatchObject({
      kind: "location_pipeline", pipeline: "driver-tracking", inputTopics: ["driver-locations"], outputTopic: "driver-regions",
      partitions: 64, redis: true,
    });
    expect(c.websocket).toBeUndefined();
    expect(c.operations).toContain("update_spatial_index");
  });

  it("driver-eta.yaml → driver-eta, two input topics, eta-updates (availability derived), /driver-updates", () => {
    const c = loadPipelineConfig(join(ROOT, "pipelines", "driver-eta.yaml"));
    expect(c).toMatchObject({
      kind: "location_pipeline", pipeline: "driver-eta", inputTopics: ["driver-locations", "ride-requests"], outputTopic: "eta-updates",
      partitions: 64, redis: false, websocket: "/driver-updates",
    });
  });

  it("message-delivery.yaml → message-delivery, Redis store-and-forward, /messages", () => {
    const c = loadPipelineConfig(join(ROOT, "pipelines", "message-delivery.yaml"));
    expect(c).toMatchObject({
      kind: "message_pipeline", pipeline: "message-delivery", inputTopics: ["incoming-messages"], outputTopic: "message-status",
      partitions: 128, redis: true, websocket: "/messages",
    });
    expect(c.operations).toEqual(Object.keys(OPERATIONS.message_pipeline));
  });

  it("every operation maps onto a pipeline that exists", () => {
    const names = PIPELINES.map((p) => p.name);
    for (const ops of Object.values(OPERATIONS)) for (const op of Object.values(ops)) for (const p of op.pipelines) expect(names).toContain(p);
  });
});

describe("the seed's own descriptions", () => {
  const fixture = (n: string): string => readFileSync(join(__dirname, "fixtures", n), "utf8");

  it("stream_pipeline: the seed's three input topics are read (user-interactions third on --input-topic); the enabled elasticsearch sink is refused", () => {
    const text = fixture("seed-engagement.yaml");
    // The next refusal is the enabled elasticsearch sink, at its type.
    expect(errorOf(text, "seed.yaml")).toMatch(new RegExp(`^seed\\.yaml:${pos(text, '"elasticsearch"')} stream_pipeline\\.output_sinks\\[1\\]\\.type: output_sinks type "elasticsearch" is not available: Riptide has no Elasticsearch client`));
    const off = edit(text, '      index: "user-engagement"\n', '      index: "user-engagement"\n      enabled: false\n');
    const config = parsePipelineConfig(off, "seed.yaml");
    expect(config.pipeline).toBe("engagement-analytics");
    expect(config.inputTopics).toEqual(["user-views", "content-metadata", "user-interactions"]);
    // Without that topic: views and the table.
    const two = edit(off, '    - "user-interactions"\n', "");
    expect(parsePipelineConfig(two, "seed.yaml").inputTopics).toEqual(["user-views", "content-metadata"]);
    const one = edit(two, '    - "content-metadata"\n', "");
    expect(errorOf(one, "seed.yaml")).toBe(
      `seed.yaml:${pos(one, '- "user-views"')} stream_pipeline.input_topics: engagement-analytics reads two or three input topics: the views, optionally the user interactions, then the content-metadata table (the seed's order: "user-views", "user-interactions", "content-metadata"), got 1`,
    );
  });

  it("location_pipeline: driver-eta's and driver-tracking's operations together are refused, naming both", () => {
    const text = fixture("seed-location.yaml");
    const msg = errorOf(text, "seed.yaml");
    expect(msg).toContain(`seed.yaml:${pos(text, "calculate_eta_to_requests")} location_pipeline.stream_processors[2].operations[0]: operation "calculate_eta_to_requests" is driver-eta's`);
    expect(msg).toContain(`"detect_anomalies" (seed.yaml:${pos(text, "detect_anomalies")} location_pipeline.stream_processors[0].operations[2]) is driver-tracking's`);
    expect(msg).toContain("do not run in one process");
  });

  it("message_pipeline: the enabled sms_fallback channel is refused at its line", () => {
    const text = fixture("seed-message.yaml");
    expect(errorOf(text, "seed.yaml")).toMatch(new RegExp(`^seed\\.yaml:${pos(text, '"sms_fallback"')} message_pipeline\\.delivery_channels\\[2\\]\\.type: delivery_channels type "sms_fallback" is not available: Riptide has no SMS gateway`));
  });
});

describe("refused files name the thing and where it is", () => {
  const eng = shipped("engagement-analytics.yaml");
  const loc = shipped("driver-location-tracking.yaml");
  const eta = shipped("driver-eta.yaml");
  const msg = shipped("message-delivery.yaml");

  it("an unknown operation, with the known ones", () => {
    const t = edit(eng, "- calculate_completion_rate", "- count_by_colour");
    expect(errorOf(t)).toBe(
      `pipelines/x.yaml:${pos(t, "count_by_colour")} stream_pipeline.processors[0].operations[2]: unknown operation "count_by_colour" (known: ${Object.keys(OPERATIONS.stream_pipeline).join(", ")})`,
    );
  });

  it("an operation of another kind of pipeline", () => {
    const t = edit(eng, "- generate_recommendations", "- calculate_geohash");
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, "calculate_geohash")} stream_pipeline.processors[1].operations[2]: operation "calculate_geohash" belongs to location_pipeline (driver-tracking), not stream_pipeline`);
  });

  it("an operation in a processor of the wrong type", () => {
    let t = edit(eng, "        - count_by_content_id ", "        - enrich_with_user_profile ");
    t = edit(t, "        - enrich_with_user_profile    # each", "        - count_by_content_id    # each");
    expect(errorOf(t)).toContain(`pipelines/x.yaml:${pos(t, "enrich_with_user_profile")} stream_pipeline.processors[0].operations[0]: operation "enrich_with_user_profile" (each view's genre from the content-metadata table into the user's 30-minute session) belongs in a processor of type stream-processor, not tumbling-window`);
  });

  it("an operation listed twice", () => {
    const t = edit(eng, "- sum_watch_duration", "- count_by_content_id");
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, "count_by_content_id", 2)} stream_pipeline.processors[0].operations[1]: operation "count_by_content_id" is listed twice (first at pipelines/x.yaml:${pos(t, "count_by_content_id")} stream_pipeline.processors[0].operations[0])`);
  });

  it("a required operation left out (the built-in pipeline cannot drop it)", () => {
    const t = edit(loc, "        - detect_anomalies            # > 250 km/h since the driver's last fix → <topic>.anomaly\n", "");
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, '- name: "location-validator"')} location_pipeline.stream_processors: operation "detect_anomalies" is required: driver-tracking always runs it (fixes faster than 250 km/h since the driver's last fix to the anomaly output) and cannot leave it out; list it`);
  });

  it("update_spatial_index is really optional: without it and its redis-geo destination, no Redis", () => {
    let t = edit(loc, "        - update_spatial_index        # optional: the Redis GEO index; goes with the redis-geo destination\n", "");
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, '"redis-geo"')} location_pipeline.output_destinations[0].type: a redis-geo destination is written by the operation update_spatial_index: list it`);
    t = edit(t, '    - type: "redis-geo"\n      key_pattern: "drivers:{region}"\n', "");
    expect(parsePipelineConfig(t, "x.yaml")).toMatchObject({ pipeline: "driver-tracking", redis: false });
    const noGeo = edit(loc, '    - type: "redis-geo"\n      key_pattern: "drivers:{region}"\n', '    - type: "redis-geo"\n      key_pattern: "drivers:{region}"\n      enabled: false\n');
    expect(errorOf(noGeo)).toBe(`pipelines/x.yaml:${pos(noGeo, "update_spatial_index")} location_pipeline.stream_processors[1].operations[2]: update_spatial_index writes the Redis GEO index: it needs an enabled redis-geo destination`);
  });

  it("a bad window size: an unknown unit, and a size the kernel does not have", () => {
    let t = edit(eng, '"5 minutes"', '"5 lightyears"');
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, '"5 lightyears"')} stream_pipeline.processors[0].window_size: window_size "5 lightyears": unknown unit "lightyears" (known: ms, seconds, minutes, hours, days)`);
    t = edit(eng, '"5 minutes"', '"10 minutes"');
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, '"10 minutes"')} stream_pipeline.processors[0].window_size: window_size "10 minutes": engagement-analytics's view windows are 5 minutes (fixed in its shard kernel, src/pipelines/engagement/spec.ts)`);
    t = edit(eng, '"5 minutes"', '"300 seconds"');
    expect(parsePipelineConfig(t, "x.yaml").windowMs).toBe(300_000);
  });

  it("an unknown top-level key, unknown keys, unknown sink types", () => {
    const top = edit(eng, "stream_pipeline:", "batch_pipeline:");
    expect(errorOf(top)).toBe(`pipelines/x.yaml:${pos(top, "batch_pipeline")} batch_pipeline: unknown key "batch_pipeline" in a pipeline file (known: stream_pipeline, location_pipeline, message_pipeline)`);
    const key = edit(eng, '  name: "user-engagement-analytics"', '  name: "user-engagement-analytics"\n  owner: "netflix"');
    expect(errorOf(key)).toBe(`pipelines/x.yaml:${pos(key, "owner")} stream_pipeline.owner: unknown key "owner" in stream_pipeline (known: name, input_topics, processors, output_sinks)`);
    const s3 = edit(eng, '- type: "elasticsearch"', '- type: "s3"');
    expect(errorOf(s3)).toBe(`pipelines/x.yaml:${pos(s3, '"s3"')} stream_pipeline.output_sinks[1].type: unknown output_sinks type "s3" (known: kafka, redis, elasticsearch)`);
    const ws = edit(loc, '    - type: "kafka"\n      topic: "driver-regions"', '    - type: "websocket"\n      endpoint: "/driver-updates"');
    expect(errorOf(ws)).toContain(`pipelines/x.yaml:${pos(ws, '"websocket"')} location_pipeline.output_destinations[1].type: driver-tracking has no WebSocket output`);
  });

  it("the elasticsearch sink enabled", () => {
    const t = edit(eng, "      enabled: false\n", "      enabled: true\n");
    expect(errorOf(t)).toBe(`pipelines/x.yaml:${pos(t, '"elasticsearch"')} stream_pipeline.output_sinks[1].type: output_sinks type "elasticsearch" is not available: Riptide has no Elasticsearch client (the window results are on the Kafka topic); keep it with "enabled: false" or remove it`);
  });

  it("values that do not fit the built-in sinks and sources", () => {
    const key = edit(eng, '"rec:{user_id}"', '"recs:{user_id}"');
    expect(errorOf(key)).toBe(`pipelines/x.yaml:${pos(key, '"recs:{user_id}"')} stream_pipeline.output_sinks[2].key_pattern: key_pattern "recs:{user_id}": the built-in sink writes rec:<userId> (--redis-prefix P prepends P), so it must be "rec:{user_id}"`);
    const repl = edit(loc, "      # replication_factor: 3", "      replication_factor: 3");
    expect(errorOf(repl)).toContain(`pipelines/x.yaml:${shift(pos(repl, "replication_factor: 3"), "replication_factor: ".length)} location_pipeline.input_sources[0].replication_factor: Riptide creates missing topics with replication factor 1`);
    const parts = edit(loc, "      partitions: 64", '      partitions: "many"');
    expect(errorOf(parts)).toBe(`pipelines/x.yaml:${pos(parts, '"many"')} location_pipeline.input_sources[0].partitions: partitions must be an integer, got "many"`);
    const strat = edit(msg, '"hash_by_chat_id"', '"round_robin"');
    expect(errorOf(strat)).toContain(`pipelines/x.yaml:${pos(strat, '"round_robin"')} message_pipeline.ingestion[0].partition_strategy: partition_strategy "round_robin": message-delivery keeps per-chat order`);
    const avail = edit(eta, '"driver-availability-updates"', '"eta-updates.availability"');
    expect(errorOf(avail)).toContain(`pipelines/x.yaml:${pos(avail, '"eta-updates.availability"')} location_pipeline.output_destinations[1].topic: driver-eta writes availability updates to "driver-availability-updates"`);
    const noWs = edit(eta, '    - type: "websocket"\n      endpoint: "/driver-updates"\n', "");
    expect(errorOf(noWs)).toBe(`pipelines/x.yaml:${pos(noWs, '- type: "kafka"\n      topic: "eta-updates"')} location_pipeline.output_destinations: the websocket destination /driver-updates is required: driver-eta always serves its availability updates there when run with --http`);
    const ep = edit(eta, '"/driver-updates"', '"/drivers"');
    expect(errorOf(ep)).toContain(`pipelines/x.yaml:${pos(ep, '"/drivers"')} location_pipeline.output_destinations[2].endpoint: endpoint "/drivers"`);
  });

  it("a required channel left out, and a source count the pipeline does not read", () => {
    const noPush = edit(msg, '    - type: "push_notification"\n      for: "offline_users"\n', "");
    expect(errorOf(noPush)).toContain(`pipelines/x.yaml:${pos(noPush, '- type: "websocket"')} message_pipeline.delivery_channels: the push_notification channel for offline_users is required`);
    const one = edit(eta, '    - type: "kafka"\n      topic: "ride-requests"\n      partitions: 64\n', "");
    expect(errorOf(one)).toBe(`pipelines/x.yaml:${pos(one, '- type: "kafka"')} location_pipeline.input_sources: driver-eta reads two kafka sources, driver locations and then ride requests, got 1`);
  });

  it("broken YAML, an empty file, a missing file", () => {
    const t = edit(eng, '  input_topics:\n', '  input_topics: [\n');
    expect(errorOf(t)).toMatch(/^pipelines\/x\.yaml:\d+:\d+: invalid YAML: /);
    expect(errorOf("")).toBe("pipelines/x.yaml: empty pipeline file (expected one of stream_pipeline, location_pipeline, message_pipeline)");
    expect(() => loadPipelineConfig("pipelines/none.yaml")).toThrow("pipelines/none.yaml: cannot read the pipeline file (ENOENT)");
  });
});

describe("parseDuration", () => {
  it("numbers with units; a string saying what is wrong otherwise", () => {
    expect(parseDuration("5 minutes")).toBe(300_000);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1.5 hours")).toBe(5_400_000);
    expect(parseDuration("250 ms")).toBe(250);
    expect(parseDuration("2 Days")).toBe(172_800_000);
    expect(parseDuration("5 lightyears")).toBe('unknown unit "lightyears" (known: ms, seconds, minutes, hours, days)');
    expect(parseDuration("five minutes")).toBe('expected a number and a unit, e.g. "5 minutes"');
    expect(parseDuration("0 s")).toBe("must be more than 0");
  });
});
