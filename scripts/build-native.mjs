#!/usr/bin/env node
// Builds the optional native kernels (native-bindings/) into
// native-bindings/build/Release/riptide_native.node with node-gyp, when the .node file is missing
// or older than binding.gyp / src/*.cc. Offline: node-gyp uses Node's own headers (the project
// .npmrc sets nodedir=/usr; RIPTIDE_NODEDIR or npm_config_nodedir override it).
//
// Never fails its caller: when anything goes wrong (no compiler, no node-gyp, no node-addon-api)
// it prints one warning and exits 0, and Riptide uses the JS kernels (src/kernels/native.ts).
// `RIPTIDE_NATIVE=0` skips the build. `--force` rebuilds even when up to date.
// Node builtins only.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const addonDir = join(root, "native-bindings");
const target = join(addonDir, "build", "Release", "riptide_native.node");
const force = process.argv.includes("--force");

const warn = (msg) => process.stderr.write(`riptide: native kernels not built (${msg}); the JS kernels will be used\n`);

function mtime(p) {
  try { return statSync(p).mtimeMs; } catch { return 0; }
}

function main() {
  if (process.env.RIPTIDE_NATIVE === "0") return;
  if (!existsSync(join(addonDir, "binding.gyp"))) return warn("native-bindings/binding.gyp is missing");
  const srcDir = join(addonDir, "src");
  const inputs = [join(addonDir, "binding.gyp"), ...(existsSync(srcDir) ? readdirSync(srcDir).map((f) => join(srcDir, f)) : [])];
  const newestInput = Math.max(...inputs.map(mtime));
  if (!force && existsSync(target) && mtime(target) >= newestInput) return;

  const require = createRequire(join(root, "package.json"));
  try {
    require.resolve("node-addon-api");
  } catch {
    return warn("node-addon-api is not installed; run npm ci");
  }
  const nodeGyp = findNodeGyp(require);
  if (nodeGyp === undefined) return warn("node-gyp not found (it ships with npm)");

  const nodedir = process.env.RIPTIDE_NODEDIR ?? process.env.npm_config_nodedir ?? (existsSync("/usr/include/node/node_api.h") ? "/usr" : undefined);
  const args = [nodeGyp, "rebuild", "--release", "--loglevel=warn", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  process.stderr.write("riptide: building native kernels (node-gyp)…\n");
  const started = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: addonDir,
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
  process.stderr.write(`riptide: native kernels built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
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

try {
  main();
} catch (e) {
  warn(e instanceof Error ? e.message : String(e));
}
process.exitCode = 0;
