/**
 * At-least-once commits trail windows; state beyond them (payments' balances) has no changelog
 * at-least-once unless the pipeline logs it (driver-tracking's last fixes), so a crash loses it.
 * A run on Kafka says so when it starts, at warn, naming the state; exactly-once (which restores
 * it), a pipeline that logs its state and one without such state (surge-pricing: windows only)
 * say nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { BROKERS, createTopic, ensureBroker, riptide, uniqueName } from "../support/kafka.js";

function aloState(stderr: string): Array<Record<string, unknown>> {
  return stderr.split("\n").filter((l) => l.includes("\"event\":\"alo-state\"")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function run(pipeline: string, topics: string, extra: string[] = []): Promise<string> {
  const p = riptide(["run", pipeline, "--brokers", BROKERS, "--input-topic", topics, "--output-topic", uniqueName("alo-state-out"),
    "--stop-when-idle", "1", "--quiet", ...extra]);
  expect(await p.exited, p.stderr).toBe(0);
  return p.stderr;
}

describe("riptide run on Kafka: the state an at-least-once crash loses", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("payments at-least-once warns that the balances are not kept; exactly-once does not", async () => {
    const input = uniqueName("alo-state-pay");
    await createTopic(input, 1);
    const lines = aloState(await run("payments", input));
    expect(lines).toHaveLength(1);
    expect(lines[0]!["level"]).toBe("warn");
    expect(String(lines[0]!["state"])).toMatch(/balance/);
    expect(String(lines[0]!["state"])).toMatch(/--guarantee exactly-once/);
    expect(aloState(await run("payments", input, ["--guarantee", "exactly-once", "--group", uniqueName("alo-state-g")]))).toHaveLength(0);
  }, 90_000);

  it("driver-tracking, whose last fixes are logged, and surge-pricing, whose state is its windows, say nothing", async () => {
    const input = uniqueName("alo-state-fix");
    await createTopic(input, 1);
    expect(aloState(await run("driver-tracking", input))).toHaveLength(0);
    const [locations, requests] = [uniqueName("alo-state-loc"), uniqueName("alo-state-req")];
    await createTopic(locations, 1);
    await createTopic(requests, 1);
    expect(aloState(await run("surge-pricing", `${locations},${requests}`))).toHaveLength(0);
  }, 90_000);
});
