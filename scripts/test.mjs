#!/usr/bin/env node
// The whole test suite: type-checks the tests against the sources (tsconfig.test.json; vitest only
// strips types), starts what the integration tests need (a Kafka broker; Redis is the machine's own
// on 127.0.0.1:6379), runs vitest, and ends with the plain line `N passed, N failed`.
// Extra arguments go to vitest (e.g. `npm test -- test/ring`).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// The type check of the test files (`npm run typecheck:test`), before anything starts: vitest strips
// types, so a test that no longer type-checks against the sources would otherwise still run. A
// failure fails the command (counted as one failure in the last line) and no test runs.
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
process.stderr.write("riptide test: type-checking the tests (tsc -p tsconfig.test.json)…\n");
const typecheck = spawnSync(process.execPath, [tsc, "-p", "tsconfig.test.json"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (typecheck.status !== 0) {
  const how = typecheck.error ? typecheck.error.message : typecheck.status === null ? `signal ${typecheck.signal}` : `exit ${typecheck.status}`;
  process.stderr.write(`riptide test: the type check of the tests failed (tsc -p tsconfig.test.json, ${how}); see the errors above. No test was run.\n`);
  process.stdout.write("0 passed, 1 failed\n");
  process.exit(typecheck.status || 1);
}

const kafkaScript = join(root, "scripts", "kafka.mjs");
let startedKafka = false;

if (existsSync(kafkaScript) && process.env.RIPTIDE_SKIP_KAFKA !== "1") {
  const status = spawnSync(process.execPath, [kafkaScript, "status"], { cwd: root, encoding: "utf8" });
  if (status.status !== 0) {
    const up = spawnSync(process.execPath, [kafkaScript, "up"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    if (up.status !== 0) {
      process.stderr.write("riptide test: the Kafka broker did not start (see above); integration tests will fail\n");
    } else {
      startedKafka = true;
    }
  }
}

// The dashboard test drives Debian's Chromium (no browser download: only the registries are
// reachable). Install it when missing and we may (root).
if (!existsSync("/usr/bin/chromium") && process.getuid?.() === 0 && process.env.RIPTIDE_SKIP_CHROMIUM !== "1") {
  process.stderr.write("riptide test: installing Debian's chromium for the dashboard test…\n");
  spawnSync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"], { stdio: ["ignore", "inherit", "inherit"] });
}

mkdirSync(join(root, ".riptide"), { recursive: true });
const results = join(root, ".riptide", "test-results.json");
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const r = spawnSync(process.execPath, [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${results}`, ...process.argv.slice(2)], {
  cwd: root, stdio: ["ignore", "inherit", "inherit"],
});

if (startedKafka && process.env.RIPTIDE_KEEP_KAFKA !== "1") {
  spawnSync(process.execPath, [kafkaScript, "down"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}

let passed = 0, failed = 0;
try {
  const j = JSON.parse(readFileSync(results, "utf8"));
  passed = j.numPassedTests ?? 0;
  failed = (j.numFailedTests ?? 0) + (j.numRuntimeErrorTestSuites ?? 0) + ((j.numFailedTestSuites ?? 0) > 0 && (j.numFailedTests ?? 0) === 0 ? j.numFailedTestSuites : 0);
} catch {
  failed = Math.max(failed, 1);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(r.status === 0 && failed === 0 ? 0 : r.status || 1);
