/**
 * driver-tracking's logged state (PipelineDefinition.loggedState): each driver's last accepted
 * fix, the anchor of the anomaly check, from the shard's snapshot words
 * ([drivers L, entries E, lastLat × L, lastLon × L, lastTs × L, window table × 7E]: shard.ts).
 *
 * The version is the fix's time: a driver's last fix only moves forward. Why a newer fix than the
 * committed offsets reflect is safe to start from: a replayed fix no later than it is taken
 * without a check and does not move it (as the run being replaced took it, or it was an anomaly
 * there: one more window count, never one fewer), and a replayed fix later than it was not
 * accepted by that run, so it was over 250 km/h from an earlier fix of the chain the newer one
 * ends, and is over 250 km/h from that one too (the triangle inequality). An older fix is not safe:
 * over a longer gap an outlier can pass the check and anchor the driver.
 */
import type { LoggedStateCodec } from "../pipeline.js";

const VALUE_BYTES = 24;

export const lastFixLog: LoggedStateCodec = {
  name: "last-fix",
  valueBytes: VALUE_BYTES,

  scan(words, visit) {
    if (words.length < 2) return;
    const L = words[0]!;
    const ts = 2 + 2 * L;
    for (let d = 1; d < L; d++) {
      const t = words[ts + d]!;
      if (t === t) visit(d, t);
    }
  },

  encode(words, id, into, at) {
    const L = words[0]!;
    into.writeDoubleLE(words[2 + id]!, at);
    into.writeDoubleLE(words[2 + L + id]!, at + 8);
    into.writeDoubleLE(words[2 + 2 * L + id]!, at + 16);
  },

  versionOf(value) {
    return value.readDoubleLE(16);
  },

  seed(ids, values) {
    let L = 1024;
    for (const id of ids) while (id >= L) L *= 2;
    const words = new Float64Array(2 + 3 * L);
    words[0] = L;
    words[1] = 0;
    words.fill(NaN, 2 + 2 * L);
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      words[2 + id] = values.readDoubleLE(k * VALUE_BYTES);
      words[2 + L + id] = values.readDoubleLE(k * VALUE_BYTES + 8);
      words[2 + 2 * L + id] = values.readDoubleLE(k * VALUE_BYTES + 16);
    }
    return words;
  },
};
