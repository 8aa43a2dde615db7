/**
 * A probe, not part of `npm run bench`: what waking a sleeping shard costs the thread that wakes
 * it. A worker sleeps in Atomics.wait on a flag word (as BatchRing's consumer does); the main
 * thread, once the worker is asleep, clears the flag and calls Atomics.notify, timing that call.
 * Beside it, the same call with nobody waiting (the baseline: what a notify costs when it wakes no
 * one). The coordinator's small batches (two topics merged on event time) put the wake-up off
 * for this (BatchRing.publishDeferred).
 *
 *   node dist/bench/ring/notify-cost.js [--rounds N]
 *
 * Prints one JSON line: microseconds per notify, mean and median, with and without a sleeper.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "2000" } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 10) throw new Error("--rounds N (an integer ≥ 10)");

// Words: 0 the flag the worker sleeps on (1: asleep), 1 "stop".
const words = new Int32Array(new SharedArrayBuffer(8));
const sleeper = new Worker(`
  const { workerData } = require("node:worker_threads");
  const w = new Int32Array(workerData);
  while (Atomics.load(w, 1) === 0) {
    Atomics.store(w, 0, 1);
    Atomics.wait(w, 0, 1, 1000);
  }`, { eval: true, workerData: words.buffer });

const asleep = async (): Promise<void> => {
  // Give the worker the core, then wait for its flag (it sets the flag just before it sleeps).
  while (Atomics.load(words, 0) !== 1) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 0));
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const summary = (xs: number[]): { mean: number; median: number } => ({
  mean: Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100,
  median: Math.round(median(xs) * 100) / 100,
});

const woken: number[] = [];
for (let i = 0; i < rounds; i++) {
  await asleep();
  const t = performance.now();
  Atomics.store(words, 0, 0);
  Atomics.notify(words, 0);
  woken.push((performance.now() - t) * 1000);
}
const idleWord = new Int32Array(new SharedArrayBuffer(4));
const alone: number[] = [];
for (let i = 0; i < rounds; i++) {
  const t = performance.now();
  Atomics.store(idleWord, 0, 0);
  Atomics.notify(idleWord, 0);
  alone.push((performance.now() - t) * 1000);
}
Atomics.store(words, 1, 1);
Atomics.store(words, 0, 0);
Atomics.notify(words, 0);
await sleeper.terminate();
process.stdout.write(JSON.stringify({ rounds, usPerNotify: { sleeperWoken: summary(woken), nobodyWaiting: summary(alone) } }) + "\n");
