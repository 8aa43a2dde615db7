#!/usr/bin/env node
// Builds Riptide's two optional addons with node-gyp, each when its .node file is missing or older
// than its binding.gyp / src/*:
//   native-bindings/        → build/Release/riptide_native.node  the kernels (else the JS kernels,
//                                                                 src/kernels/native.ts)
//   native-bindings/kafka/  → build/Release/riptide_kafka.node   the packed consumer take for
//                             node-rdkafka (after node-rdkafka's own build, whose headers and
//                             librdkafka it uses; else consume(), src/io/kafka/rdkafka.ts)
// Offline: node-gyp uses Node's own headers (the project .npmrc sets nodedir=/usr; RIPTIDE_NODEDIR
// or npm_config_nodedir override it).
//
// Never fails its caller: when anything goes wrong (no compiler, no node-gyp, no node-addon-api,
// node-rdkafka not built) it prints one warning per addon and exits 0, and Riptide goes without.
// `RIPTIDE_NATIVE=0` skips both. `--force` rebuilds even when up to date.
// Node builtins only.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const force = process.argv.includes("--force");

const ADDONS = [
  {
    dir: join(root, "native-bindings"), file: "riptide_native.node", what: "native kernels",
    fallback: "the JS kernels will be used", needs: ["node-addon-api"],
  },
  {
    dir: join(root, "native-bindings", "kafka"), file: "riptide_kafka.node", what: "packed Kafka take",
    fallback: "node-rdkafka's consume() will be used", needs: ["nan", "node-rdkafka/build/Release/node-librdkafka.node"],
    // Rebuilt with node-rdkafka: it reads a member of node-rdkafka's classes, laid out by its headers.
    also: [join(root, "node_modules", "node-rdkafka", "build", "Release", "node-librdkafka.node")],
  },
];

function mtime(p) {
  try { return statSync(p).mtimeMs; } catch { return 0; }
}

function build(addon) {
  const target = join(addon.dir, "build", "Release", addon.file);
  const warn = (msg) => process.stderr.write(`riptide: ${addon.what} not built (${msg}); ${addon.fallback}\n`);
  if (!existsSync(join(addon.dir, "binding.gyp"))) return warn(`${join(addon.dir, "binding.gyp")} is missing`);
  const srcDir = join(addon.dir, "src");
  const inputs = [join(addon.dir, "binding.gyp"), ...(existsSync(srcDir) ? readdirSync(srcDir).map((f) => join(srcDir, f)) : []), ...(addon.also ?? [])];
  const newestInput = Math.max(...inputs.map(mtime));
  if (!force && existsSync(target) && mtime(target) >= newestInput) return;

  const require = createRequire(join(root, "package.json"));
  for (const need of addon.needs) {
    try {
      require.resolve(need);
    } catch {
      return warn(`${need} is not installed (or not built); run npm ci`);
    }
  }
  const nodeGyp = findNodeGyp(require);
  if (nodeGyp === undefined) return warn("node-gyp not found (it ships with npm)");

  const nodedir = process.env.RIPTIDE_NODEDIR ?? process.env.npm_config_nodedir ?? (existsSync("/usr/include/node/node_api.h") ? "/usr" : undefined);
  const args = [nodeGyp, "rebuild", "--release", "--loglevel=warn", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  process.stderr.write(`riptide: building ${addon.what} (node-gyp)…\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: addon.dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_config_nodedir: nodedir ?? "" },
    timeout: 300_000,
  });
  if (r.status !== 0 || !existsSync(target)) {
    const tail = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    if (tail) process.stderr.write(`${tail}\n`);
    return warn(r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`);
  }
  process.stderr.write(`riptide: ${addon.what} built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

function main() {
  if (process.env.RIPTIDE_NATIVE === "0") return;
  for (const addon of ADDONS) {
    try {
      build(addon);
    } catch (e) {
      process.stderr.write(`riptide: ${addon.what} not built (${e instanceof Error ? e.message : String(e)}); ${addon.fallback}\n`);
    }
  }
}

/** node-gyp's CLI: a local install, else the copy bundled with the npm that runs Node. */
function findNodeGyp(require) {
  try {
    return require.resolve("node-gyp/bin/node-gyp.js");
  } catch { /* not a dependency */ }
  const candidates = [
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    "/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
    "/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
  ];
  const npmRoot = spawnSync(process.platform === "win32" ? "npm.cmd" : "npm", ["root", "-g"], { encoding: "utf8" });
  if (npmRoot.status === 0) candidates.push(join(npmRoot.stdout.trim(), "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  return candidates.find((p) => existsSync(p));
}

main();
process.exitCode = 0;
