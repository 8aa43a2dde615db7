#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies when node_modules is missing or older than
// the lockfile, and rebuilds dist/ when any TypeScript source is newer than the last build.
// Node builtins only (it runs before anything is installed).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function mtime(p) {
  try { return statSync(p).mtimeMs; } catch { return 0; }
}

function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith(".ts")) t = Math.max(t, mtime(p));
  }
  return t;
}

function run(cmd, args, what) {
  process.stderr.write(`riptide: ${what}…\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) {
    process.stderr.write(`riptide: ${what} failed (exit ${r.status}); see the output above\n`);
    process.exit(r.status ?? 1);
  }
}

const installed = join(root, "node_modules", ".package-lock.json");
if (!existsSync(installed) || mtime(join(root, "package-lock.json")) > mtime(installed) || mtime(join(root, "package.json")) > mtime(installed)) {
  run(npm, existsSync(join(root, "package-lock.json")) ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"], "installing dependencies");
}

const stamp = join(root, "dist", ".build-stamp");
const sources = Math.max(newest(join(root, "src")), newest(join(root, "workers")), newest(join(root, "bench")), mtime(join(root, "tsconfig.json")));
if (!existsSync(stamp) || sources > mtime(stamp)) {
  run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], "building (tsc)");
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, new Date().toISOString() + "\n");
}

// The optional native kernels (native-bindings/): built when missing or stale; a failed build only
// warns, and the JS kernels are used (RIPTIDE_NATIVE=0 skips it).
spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs")], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
