/**
 * The JSON decode of KafkaSource.fill on real messages, main thread only: JSON.parse of the value
 * as a string then the compiled decoder (the general way) against the byte-level decoder, rounds
 * interleaved. Reads partition 0 of a topic of driver-tracking JSON events (e.g. a loadgen backlog).
 *   node dist/bench/io/json-decode.js [topic] [brokers]
 */
import { performance } from "node:perf_hooks";
import { rdkafkaClientFactory } from "../../src/io/kafka/rdkafka.js";
import { DRIVER_LOCATION } from "../../src/pipelines/driver-tracking/spec.js";
import { Interner } from "../../src/schema/interner.js";
import type { ColumnArray } from "../../src/schema/schema.js";
import { compileJsonBytesDecoder, compileJsonDecoder } from "../../src/sources/json.js";

const topic = process.argv[2] ?? "hA-json-1m";
const brokers = process.argv[3] ?? "127.0.0.1:9092";
const all = await rdkafkaClientFactory.readPartition!({ brokers }, topic, 0);
const values = all.map((m) => m.value!).filter((v) => v && v[0] === 123).slice(0, 200_000);
const B = 2048;
const columns: Record<string, ColumnArray> = {};
for (const f of DRIVER_LOCATION.fields) columns[f.name] = f.type === "string" ? new Uint32Array(B) : new Float64Array(B);
const interner = new Interner();
const general = compileJsonDecoder(DRIVER_LOCATION, interner);
const direct = compileJsonBytesDecoder(DRIVER_LOCATION, interner);
let declined = 0;
const ways: Record<string, () => void> = {
  "JSON.parse + decoder": () => { for (let i = 0; i < values.length; i++) general(JSON.parse(values[i]!.toString("utf8")), columns, i % B); },
  "bytes": () => { for (let i = 0; i < values.length; i++) if (!direct(values[i]!, columns, i % B)) declined++; },
};
for (let round = 0; round < 5; round++) {
  for (const [name, run] of Object.entries(ways)) {
    const t0 = performance.now();
    run();
    const ns = ((performance.now() - t0) * 1e6) / values.length;
    console.log(`round ${round} ${name}: ${ns.toFixed(0)} ns/message (${values.length} messages)`);
  }
}
console.log(`declined by the byte decoder: ${declined}`);
