/**
 * engagement-analytics with `--guarantee exactly-once` against the real broker: a process SIGKILLed
 * twice mid-stream and restarted gives, read `read_committed`, exactly the reference's enriched
 * windows, sessions, invalid and late outputs — open windows and open sessions are in the shard
 * snapshot committed with the outputs and the input offsets, and the content-metadata table is
 * read again from its topic at each start.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { rdkafkaClientFactory as factory } from "../../src/io/kafka/rdkafka.js";
import { diff } from "../support/driver-reference.js";
import { engagementMultiset, referenceEngagement } from "../support/engagement-reference.js";
import { BROKERS, ensureBroker, riptide, uniqueName, assigned, readCommitted } from "../support/kafka.js";

describe("engagement-analytics exactly-once on Kafka", () => {
  beforeAll(() => ensureBroker(), 240_000);

  it("gives the reference's windows and sessions across two SIGKILLs", async () => {
    const views = uniqueName("eng-eos-views");
    const meta = uniqueName("eng-eos-meta");
    const output = uniqueName("eng-eos-out");
    const group = uniqueName("eng-eos-g");
    const load = riptide(["loadgen", "--kind", "engagement", "--brokers", BROKERS, "--topic", `${views},${meta}`, "--rate", "10000000",
      "--events", "100000", "--partitions", "1", "--seed", "6", "--drivers", "800", "--json", "--quiet"]);
    expect(await load.exited, load.stderr).toBe(0);
    // One partition: the reference reads the views as they are in the topic, with the catalog.
    const events = await readCommitted(views);
    expect(events.length).toBe(100_000);
    const table = new Map((await readCommitted(meta)).map((r) => [r["contentId"] as string, { title: r["title"] as string, genre: r["genre"] as string }]));
    const ref = referenceEngagement(events.map((event) => ({ partition: 0, event })), 1, table);
    const windows = ref.filter((o) => o["type"] === "window").length;
    expect(ref.filter((o) => o["type"] === "session").length).toBeGreaterThan(1000);
    expect(ref.filter((o) => o["type"] === "late").length).toBeGreaterThan(50);

    const args = ["run", "engagement-analytics", "--brokers", BROKERS, "--input-topic", `${views},${meta}`, "--output-topic", output, "--group", group,
      "--guarantee", "exactly-once", "--commit-interval", "50", "--json", "--quiet", "--workers", "2", "--batch-size", "512", "--log-level", "info"];
    const watcher = factory.createConsumer({ brokers: BROKERS, groupId: uniqueName("eng-watch") });
    await watcher.connect();
    let high = 0;
    try {
      for (let k = 0; k < 2; k++) {
        const run = riptide(args);
        await assigned(run);
        const target = high + Math.floor(windows / 4);
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && run.child.exitCode === null) {
          high = (await watcher.queryWatermarks!(output, 0, 10_000)).high;
          if (high >= target) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        run.child.kill("SIGKILL");
        await run.exited;
      }
    } finally {
      await watcher.disconnect();
    }
    const midway = (await readCommitted(output)).length;
    const last = riptide([...args, "--stop-when-idle", "3"]);
    expect(await last.exited, last.stderr).toBe(0);
    expect(last.stderr).toMatch(/"event":"state-restore".*"found":true/);
    const summary = JSON.parse(last.stdout.trim().split("\n").pop()!) as { events: number };
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(windows);
    expect(summary.events).toBeGreaterThan(0);
    expect(summary.events).toBeLessThan(100_000);

    const got = [
      ...(await readCommitted(output)), ...(await readCommitted(`${output}.session`)),
      ...(await readCommitted(`${output}.invalid`)), ...(await readCommitted(`${output}.late`)),
    ];
    expect(diff(engagementMultiset(got), engagementMultiset(ref))).toEqual([]);
  }, 240_000);
});
