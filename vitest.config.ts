import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const ROOT = dirname(fileURLToPath(import.meta.url));

/** Every test file under test/, relative to the root. */
function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith(".test.ts") ? [relative(ROOT, join(dir, e.name))] : []);
}

// What marks a file (or a module of the repository it imports) as one that uses the broker or Redis.
const SERVICES = /support\/kafka|BROKERS|ensureBroker|9092|ioredis|connectRedis|redis:\/\/|6379/;

/** True when the file, or a test module it imports (test/support/… and the like), names a service. */
function usesServices(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file) || !existsSync(file) || !relative(join(ROOT, "test"), file).match(/^[^.]/)) return false;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  if (SERVICES.test(text)) return true;
  for (const [, spec] of text.matchAll(/from\s+["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = resolve(dirname(file), spec!);
    if (usesServices(target.replace(/\.js$/, ".ts"), seen) || usesServices(target, seen)) return true;
  }
  return false;
}

const services = testFiles(join(ROOT, "test")).filter((f) => usesServices(join(ROOT, f)));

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    projects: [
      // Files that need neither the broker nor Redis: two at a time (on 2 cores the 42 files took
      // 120 s instead of 172 s one at a time, load 2-4), before the others.
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: services, fileParallelism: true, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      // Integration tests share one broker and one Redis (each file its own topics, groups and
      // keys), two files at a time: most of their time is spent waiting (sessions, idle stops,
      // transaction timeouts), not computing.
      {
        extends: true,
        test: { name: "services", include: services.length > 0 ? services : ["no-such-file"], fileParallelism: true, maxWorkers: 2, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
