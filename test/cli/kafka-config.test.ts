/**
 * `--kafka-config`: librdkafka properties passed to every client, checked where they are parsed
 * (by librdkafka itself), the ones Riptide's guarantees rest on refused by name; and, against the
 * real broker, a property that wins over Riptide's own default (auto.offset.reset).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { applyKafkaConfig } from "../../src/cli/kafka-config.js";
import { BROKERS, createTopic, ensureBroker, produceAll, riptide, uniqueName } from "../support/kafka.js";

describe("--kafka-config", () => {
  it("parses K=V pairs into every client's, the consumer's and the producer's properties", () => {
    expect(applyKafkaConfig("client.id=riptide-x, consumer.fetch.wait.max.ms=20,producer.linger.ms=0")).toEqual({
      common: { "client.id": "riptide-x" }, consumer: { "fetch.wait.max.ms": "20" }, producer: { "linger.ms": "0" },
    });
  });

  it.each([
    ["group.id=g", /group\.id is set by --group/],
    ["consumer.enable.auto.commit=true", /enable\.auto\.commit is set by Riptide's commits/],
    ["producer.transactional.id=t", /transactional\.id is set by --guarantee exactly-once/],
    ["isolation.level=read_committed", /isolation\.level is set by --guarantee exactly-once/],
    ["no.such.property=1", /librdkafka refuses it: No such configuration property: "no\.such\.property"/],
    ["consumer.fetch.min.bytes=lots", /librdkafka refuses it: Invalid value for configuration property "fetch\.min\.bytes"/],
    ["linger.ms", /"linger\.ms" is not KEY=VALUE/],
    ["Bad Key=1", /"Bad Key" is not a librdkafka property name/],
    ["linger.ms=", /linger\.ms has no value/],
  ])("refuses %j, naming it", (value, message) => {
    expect(() => applyKafkaConfig(value)).toThrow(message);
  });

  it("on the command line: needs --brokers; a refused property exits 2 with the reason", async () => {
    const a = riptide(["run", "--kafka-config", "linger.ms=1"]);
    expect(await a.exited).toBe(2);
    expect(a.stderr).toMatch(/--kafka-config needs --brokers/);
    const b = riptide(["run", "--brokers", BROKERS, "--input-topic", "x", "--output-topic", "y", "--kafka-config", "no.such.property=1"]);
    expect(await b.exited).toBe(2);
    expect(b.stderr).toMatch(/--kafka-config: librdkafka refuses it: No such configuration property/);
  });

  describe("against the broker", () => {
    beforeAll(() => ensureBroker(), 240_000);

    it("a user property wins over Riptide's default: auto.offset.reset=latest reads none of what a new group finds", async () => {
      const input = uniqueName("kcfg-in");
      const output = uniqueName("kcfg-out");
      await createTopic(input, 1);
      await produceAll(input, Array.from({ length: 200 }, (_, i) => ({ value: JSON.stringify({ driverId: `d${i % 7}`, lat: 37.7, lon: -122.4, ts: 1_700_000_000_000 + i * 100, speedKmh: 30 }) })));
      const args = ["run", "driver-tracking", "--brokers", BROKERS, "--input-topic", input, "--output-topic", output, "--stop-when-idle", "2", "--json", "--quiet", "--workers", "1"];
      const latest = riptide([...args, "--group", uniqueName("g"), "--kafka-config", "consumer.auto.offset.reset=latest,client.id=riptide-kcfg"]);
      expect(await latest.exited, latest.stderr).toBe(0);
      expect(JSON.parse(latest.stdout.trim().split("\n").at(-1)!).events).toBe(0);
      const earliest = riptide([...args, "--group", uniqueName("g")]);
      expect(await earliest.exited, earliest.stderr).toBe(0);
      expect(JSON.parse(earliest.stdout.trim().split("\n").at(-1)!).events).toBe(200);
    }, 120_000);
  });
});
