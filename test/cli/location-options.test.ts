/** Bad options of the location pipelines get exit code 2 and a message naming the option. */
import { describe, expect, it } from "vitest";
import { riptide } from "../support/kafka.js";

describe("riptide run: --redis and the ride pipelines' options", () => {
  it.each([
    [["run", "--events", "10", "--redis", "127.0.0.1:6379"], /--redis must/],
    [["run", "--events", "10", "--redis", "http://127.0.0.1:6379"], /--redis must use redis:\/\/ or rediss:\/\//],
    [["run", "--events", "10", "--redis", "redis://h/x"], /--redis: the database/],
    [["run", "--events", "10", "--redis-prefix", "p:"], /--redis-prefix needs --redis/],
    [["run", "driver-eta", "--events", "10", "--redis", "redis://127.0.0.1:6379"], /--redis: pipeline driver-eta writes nothing to Redis/],
    [["run", "--events", "10", "--purge-interval", "-3"], /--purge-interval applies to DSL topologies/],
    [["run", "payments", "--events", "10", "--topic-prefix", "x"], /--topic-prefix applies to the DSL pipelines/],
    [["run", "surge-pricing", "--brokers", "127.0.0.1:9092", "--input-topic", "only-one", "--output-topic", "o"], /--input-topic: surge-pricing reads two topics/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a", "--rate", "10", "--events", "1", "--kind", "rides"], /--kind rides needs --topic LOCATIONS,REQUESTS/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a,b", "--rate", "10", "--events", "1", "--kind", "bikes"], /--kind must be locations, rides or payments/],
  ])("rejects %j", async (args, message) => {
    const p = riptide(args as string[]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(message as RegExp);
  });

  it("lists the three location pipelines", async () => {
    const p = riptide(["pipelines"]);
    expect(await p.exited).toBe(0);
    for (const name of ["driver-tracking", "surge-pricing", "driver-eta"]) expect(p.stdout).toMatch(new RegExp(`^${name} `, "m"));
  });
});
