import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RIPTIDE_BIN, shebangFlags } from "../../src/cli/node-flags.js";

describe("riptide's V8 flags (bin/riptide.js's shebang)", () => {
  it("are read from the shebang, and this Node accepts every one of them", () => {
    const flags = shebangFlags();
    expect(flags).toContain("--max-semi-space-size=64");
    expect(flags).toContain("--heap-growing-percent=300");
    const r = spawnSync(process.execPath, [...flags, "-e", "process.exit(0)"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("npm start runs the CLI through its shebang, not through a bare `node`", () => {
    const pkg = JSON.parse(readFileSync(join(RIPTIDE_BIN, "..", "..", "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts["start"]).toMatch(/&& bin\/riptide\.js run driver-tracking$/);
  });

  it("refuses a first line that is not `env -S node [flags]`, and reads one without flags as none", () => {
    const dir = mkdtempSync(join(tmpdir(), "riptide-flags-"));
    const bad = join(dir, "bad.js");
    writeFileSync(bad, "#!/usr/bin/node --max-semi-space-size=64\n");
    expect(() => shebangFlags(bad)).toThrow(/first line/);
    const none = join(dir, "none.js");
    writeFileSync(none, "#!/usr/bin/env -S node\nconsole.log(1)\n");
    expect(shebangFlags(none)).toEqual([]);
  });
});
