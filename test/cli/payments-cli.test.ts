/**
 * The payments pipeline from the built CLI: the seeded generator with no services (outputs counted
 * by name, one confirmation and one balance update per valid payment, the same for 1 and 3
 * workers), and loadgen --kind payments' bad options named.
 */
import { describe, expect, it } from "vitest";
import { riptide } from "../support/kafka.js";

describe("riptide run payments / loadgen --kind payments", () => {
  it("runs on the seeded generator: one confirmation and one balance update per valid payment, any worker count", async () => {
    const summaries: Array<{ events: number; outputs: Record<string, number> }> = [];
    for (const workers of ["1", "3"]) {
      const p = riptide(["run", "payments", "--events", "40000", "--seed", "8", "--drivers", "500", "--workers", workers, "--json", "--quiet"]);
      expect(await p.exited, p.stderr).toBe(0);
      summaries.push(JSON.parse(p.stdout.trim().split("\n").pop()!) as { events: number; outputs: Record<string, number> });
    }
    const [a, b] = summaries;
    expect(a!.events).toBe(40_000);
    expect(a!.outputs["confirmation"]).toBe(a!.outputs["balance"]);
    expect(a!.outputs["confirmation"]! + a!.outputs["invalid"]!).toBe(40_000);
    expect(a!.outputs["invalid"]).toBeGreaterThan(100);
    expect(b!.outputs).toEqual(a!.outputs);
  }, 60_000);

  it("prints confirmations and balance updates with string ids", async () => {
    const p = riptide(["run", "payments", "--events", "200", "--seed", "8", "--sink", "console", "--quiet", "--workers", "1"]);
    expect(await p.exited, p.stderr).toBe(0);
    const lines = p.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const c = lines.find((o) => o["type"] === "confirmation")!;
    expect(c["paymentId"]).toMatch(/^pay-\d+$/);
    expect(c["userId"]).toMatch(/^user-\d+$/);
    expect(["APPROVED", "DECLINED"]).toContain(c["status"]);
    const bal = lines.find((o) => o["type"] === "balance" && o["paymentId"] === c["paymentId"])!;
    expect(bal["userId"]).toBe(c["userId"]);
  }, 60_000);

  it.each([
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a,b", "--rate", "10", "--events", "1", "--kind", "payments"], /--kind payments produces to one topic/],
    [["loadgen", "--brokers", "127.0.0.1:9092", "--topic", "a", "--rate", "10", "--events", "1", "--kind", "payments", "--format", "frame"], /--kind payments produces JSON only/],
  ])("rejects %j", async (args, message) => {
    const p = riptide(args as string[]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(message as RegExp);
  });
});
