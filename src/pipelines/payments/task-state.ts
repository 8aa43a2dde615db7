/**
 * payments' state per input partition (`--guarantee exactly-once --instance-id`): a user's
 * payments are all in one partition (the input is keyed by userId), so the balances a partition's
 * payments made are that partition's task, and they move with it to another process.
 *
 * In a shard the balances are indexed by the interned user id (PaymentsShard.snapshot: [L,
 * balance × L]); ids are the process's own, so on the changelog a task is its users by name:
 * JSON `[[userId, cents], …]`, one pair per user with a non-zero balance (a zero balance is the
 * same as none). Cents are integers below 2^53, which JSON carries exactly.
 */
import type { Interner } from "../../schema/interner.js";
import type { TaskStateCodec } from "../pipeline.js";

/** The smallest table the shard starts with (PaymentsShard): grown by doubling. */
const MIN_USERS = 1024;

export const paymentsTaskState: TaskStateCodec = {
  encode(words: Float64Array, names: Interner): Buffer {
    const L = words[0] ?? 0;
    const pairs: Array<[string, number]> = [];
    for (let u = 1; u < L; u++) {
      const cents = words[1 + u]!;
      if (cents !== 0) pairs.push([names.name(u), cents]);
    }
    return Buffer.from(JSON.stringify(pairs));
  },

  decode(bytes: Buffer, names: Interner): Float64Array {
    const pairs = JSON.parse(bytes.toString("utf8")) as unknown;
    if (!Array.isArray(pairs)) throw new Error("payments task state: not a list of [userId, cents] pairs");
    const ids = new Uint32Array(pairs.length);
    let top = 0;
    pairs.forEach((pair: unknown, k) => {
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || pair[0] === "" || !Number.isSafeInteger(pair[1])) {
        throw new Error(`payments task state: entry ${k} is not a [userId, cents] pair: ${JSON.stringify(pair)}`);
      }
      ids[k] = names.intern(pair[0]);
      top = Math.max(top, ids[k]!);
    });
    let L = MIN_USERS;
    while (L <= top) L *= 2;
    const words = new Float64Array(1 + L);
    words[0] = L;
    pairs.forEach((pair: [string, number], k) => { words[1 + ids[k]!] = pair[1]; });
    return words;
  },
};
