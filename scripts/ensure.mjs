#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies when node_modules is missing or older than
// the lockfile, and rebuilds dist/ when any TypeScript source is newer than the last build.
// Node builtins only (it runs before anything is installed).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
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

/**
 * node-rdkafka's native build (build/Release/node-librdkafka.node and the librdkafka shared
 * libraries it loads from build/deps), cached per node-rdkafka version, Node ABI and platform in
 * ~/.cache/riptide (RIPTIDE_CACHE_DIR), like Maven's ~/.m2 for the broker. Built with
 * `npm rebuild node-rdkafka` when the cache has none (leave JOBS unset: its make races).
 */
function ensureRdkafkaBuild() {
  const pkgDir = join(root, "node_modules", "node-rdkafka");
  if (!existsSync(join(pkgDir, "package.json"))) return;
  const addon = join(pkgDir, "build", "Release", "node-librdkafka.node");
  if (existsSync(addon)) return;
  const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
  const cacheRoot = process.env.RIPTIDE_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "riptide");
  const cached = join(cacheRoot, `node-rdkafka-${version}-abi${process.versions.modules}-${process.platform}-${process.arch}`);
  const files = [["Release", "node-librdkafka.node"], ["deps", "librdkafka.so.1"], ["deps", "librdkafka++.so.1"]];
  if (files.every(([d, f]) => existsSync(join(cached, d, f)))) {
    for (const [d, f] of files) {
      mkdirSync(join(pkgDir, "build", d), { recursive: true });
      copyFileSync(join(cached, d, f), join(pkgDir, "build", d, f));
    }
    process.stderr.write(`riptide: node-rdkafka ${version} native build restored from ${cached}\n`);
    return;
  }
  const env = { ...process.env };
  delete env.JOBS;
  process.stderr.write(`riptide: building node-rdkafka ${version} (librdkafka from source, a few minutes; cached afterwards)…\n`);
  const r = spawnSync(npm, ["rebuild", "node-rdkafka", "--no-audit", "--no-fund"], { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0 || !existsSync(addon)) {
    process.stderr.write(`riptide: building node-rdkafka failed (exit ${r.status}); Kafka sources and sinks will be unavailable\n`);
    return;
  }
  try {
    for (const [d, f] of files) {
      mkdirSync(join(cached, d), { recursive: true });
      copyFileSync(join(pkgDir, "build", d, f), join(cached, d, f));
    }
  } catch (err) {
    process.stderr.write(`riptide: could not cache the node-rdkafka build in ${cached}: ${err.message}\n`);
  }
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
  // Install scripts skipped: node-rdkafka's (the only one) builds librdkafka from source, about
  // 3 minutes on this machine; its build is restored from a cache below, or built once into it.
  run(npm, existsSync(join(root, "package-lock.json")) ? ["ci", "--no-audit", "--no-fund", "--ignore-scripts"] : ["install", "--no-audit", "--no-fund", "--ignore-scripts"], "installing dependencies");
}
ensureRdkafkaBuild();

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
