/**
 * Repartition topics (exactly-once across processes, `--instance-id`): their names, and the
 * decoder that turns their messages back into the edge's tagged input records, laid out as the
 * coordinator's in-process path writes them (repartition-router.ts fill), so the shard's executor
 * injects them the same way. The round trip across processes is test/kafka/eos-repartition.test.ts.
 */
import { describe, expect, it } from "vitest";
import { objectPipeline, objectShape, repartitionDecoder } from "../../src/dsl/engine-objects.js";
import { internalRecordFailed, RepartitionRecordError, repartitionTopicFor } from "../../src/dsl/repartition.js";
import { createStringTable, SharedInterner } from "../../src/dsl/shared-strings.js";
import { bindColumns, blobBuffer, TEXT_STRIDE } from "../../src/schema/schema.js";
import { defineSchema, StreamsBuilder, TimeWindows } from "../../src/index.js";
import type { Output } from "../../src/sinks/sink.js";
import { OutputColumns } from "../../src/ring/output.js";

const schema = defineSchema("fix", { driverId: "string", region: "string", note: "text", ts: "f64" });

function regionCounts() {
  const b = new StreamsBuilder();
  b.stream("fixes", { schema, key: "driverId", timestamp: "ts" })
    .groupBy((_d, v: { region: string }) => v.region)
    .windowedBy(TimeWindows.ofSizeWithNoGrace(60_000))
    .count()
    .toStream()
    .to("counts");
  return b.build();
}

describe("repartition topics", () => {
  it("are named <group>-<node>-<port>-repartition, with what a topic name may not hold turned into '-'", () => {
    expect(repartitionTopicFor("my group", "__repartition:KSTREAM-AGGREGATE-0000000002:0")).toBe("my-group-KSTREAM-AGGREGATE-0000000002-0-repartition");
    expect(repartitionTopicFor("g", "__repartition:per region/count:1")).toBe("g-per-region-count-1-repartition");
    expect(() => repartitionTopicFor("g".repeat(240), "__repartition:n:0")).toThrow(/Kafka allows 249/);
  });

  it("carry the edge output with its key and event time, and come back as records tagged with the edge", () => {
    const shape = objectShape(regionCounts());
    expect(shape.repartitions.length).toBe(1);
    const topic = repartitionTopicFor("g", shape.repartitions[0]!);
    const pipeline = objectPipeline("m.js", shape, new SharedInterner(createStringTable()), [topic]);
    // The edge output is a Kafka output, not moved by the coordinator.
    expect(pipeline.repartition).toBeUndefined();
    const code = shape.outputs.length;
    expect(pipeline.objectName!(code)).toBe(topic);
    expect(pipeline.outputTopics!("counts")[topic]).toBe(topic);
    const out = { c: new Float64Array([1_700_000_000_123]) } as unknown as OutputColumns;
    const message = pipeline.renderObject!(code, JSON.stringify(["region-7", { driverId: "d1", region: "region-7" }]), out, 0) as Output;
    expect(message).toEqual({ type: topic, key: "region-7", value: ["region-7", { driverId: "d1", region: "region-7" }], timestamp: 1_700_000_000_123 });
    expect(pipeline.outputKey(message)).toBe("region-7");

    // Back from the topic: [k, v] in the slot's byte area after the text fields, the edge's tag in _src.
    const capacity = 4;
    const layout = pipeline.inputLayout!(capacity);
    const columns = bindColumns(new ArrayBuffer(layout.bytesPerSlot), 0, layout);
    const decode = repartitionDecoder(shape, 0, topic);
    const wire = JSON.parse(JSON.stringify(message)) as unknown;
    const second = { ...(wire as object), value: [{ n: 1 }, "x".repeat(100)], timestamp: 5 };
    expect(decode(wire, Buffer.alloc(0), columns, 0)).toBe(true);
    expect(decode(second, Buffer.alloc(0), columns, 1)).toBe(true);
    const base = capacity * shape.textFields.length * TEXT_STRIDE;
    const text = (i: number) => blobBuffer(columns).toString("utf8", base + (columns["_rpo"] as Uint32Array)[i]!, base + (columns["_rpo"] as Uint32Array)[i]! + (columns["_rpl"] as Uint32Array)[i]!);
    expect(JSON.parse(text(0))).toEqual(["region-7", { driverId: "d1", region: "region-7" }]);
    expect(JSON.parse(text(1))).toEqual([{ n: 1 }, "x".repeat(100)]);
    expect([...(columns["_src"] as Uint8Array).subarray(0, 2)]).toEqual([shape.inputs.length, shape.inputs.length]);
    expect([...(columns["_ts"] as Float64Array).subarray(0, 2)]).toEqual([1_700_000_000_123, 5]);
    // The edge kernel checks event time only (no key, no text columns): both valid.
    pipeline.setTablePartitions(() => false, () => false);
    pipeline.prepare(columns, 2, -Infinity, Infinity);
    expect([...(columns["_reason"] as Uint8Array).subarray(0, 2)]).toEqual([0, 0]);
    // A batch whose byte area is full takes no more (the source reads the message again next batch).
    const huge = { value: ["k", "y".repeat(600 << 10)], timestamp: 1 };
    expect(decode(huge, Buffer.alloc(0), columns, 2)).toBe(false);
    // The topic is internal: a message the engine did not write fails the run, naming the topic (no dead letter).
    const foreign = Buffer.from('{"driverId":"d1"}');
    expect(() => decode(JSON.parse(foreign.toString()), foreign, columns, 2)).toThrow(RepartitionRecordError);
    expect(() => decode({ value: ["k", 1] }, Buffer.from("{}"), columns, 2)).toThrow(new RegExp(`repartition topic ${topic} holds a record the engine did not write`));
    const headers = [["riptide.topic", topic], ["riptide.partition", "3"], ["riptide.offset", "17"], ["riptide.error", "not valid JSON"]].map(([key, v]) => ({ key: key!, value: Buffer.from(v!) }));
    // A time JSON could not carry (null) is the engine's own: decoded, and made invalid by the edge kernel as before it crossed.
    expect(decode({ value: ["k", 1], timestamp: null }, Buffer.from("{}"), columns, 2)).toBe(true);
    pipeline.prepare(columns, 3, -Infinity, Infinity);
    expect((columns["_reason"] as Uint8Array)[2]).not.toBe(0);
    expect(() => internalRecordFailed(`${topic}.dlq`, Buffer.from("x"), null, headers)).toThrow(`repartition topic ${topic} partition 3 offset 17 holds a record the engine did not write (not valid JSON)`);
  });
});
