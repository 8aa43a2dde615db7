/**
 * Window specifications, with Kafka Streams' names and factory methods. Durations are in
 * milliseconds. These are plain values: they describe windows, the executor (executor.ts) and the
 * stores (stores.ts) implement them.
 */
import { OptionRangeError, OptionTypeError } from "../errors.js";

function duration(option: string, v: unknown, allowZero = true): number {
  if (typeof v !== "number") throw new OptionTypeError(option, `${option} must be a number of milliseconds, got ${typeof v}`);
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new OptionRangeError(option, `${option} must be an integer number of milliseconds ${allowZero ? "≥ 0" : "≥ 1"}, got ${v}`);
  }
  return v;
}

/** A time window [start, end): end exclusive for time windows, inclusive for sliding and session windows. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/**
 * A key together with its window, as windowed aggregations emit it (Kafka Streams' `Windowed<K>`).
 * `window.end` is exclusive for {@link TimeWindows}, inclusive (the last timestamp) for sliding
 * and session windows, as in Kafka Streams.
 */
export class Windowed<K = unknown> {
  constructor(readonly key: K, readonly window: Window) {}
  toString(): string {
    return `[${String(this.key)}@${this.window.start}/${this.window.end}]`;
  }
}

/** Tumbling (advance = size) and hopping windows, aligned to the epoch. */
export class TimeWindows {
  private constructor(readonly sizeMs: number, readonly advanceMs: number, readonly graceMs: number) {}

  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    const size = duration("sizeMs", sizeMs, false);
    return new TimeWindows(size, size, 0);
  }

  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    const size = duration("sizeMs", sizeMs, false);
    return new TimeWindows(size, size, duration("graceMs", graceMs));
  }

  /** Hopping windows: a new window every `advanceMs` (0 < advance ≤ size). */
  advanceBy(advanceMs: number): TimeWindows {
    const advance = duration("advanceMs", advanceMs, false);
    if (advance > this.sizeMs) throw new OptionRangeError("advanceMs", `advanceMs must be ≤ the window size ${this.sizeMs}, got ${advance}`);
    return new TimeWindows(this.sizeMs, advance, this.graceMs);
  }

  /** Start of the first (earliest) window containing t; windows start at multiples of advance, never below 0. */
  firstStart(t: number): number {
    return Math.max(0, Math.floor((t - this.sizeMs) / this.advanceMs) * this.advanceMs + this.advanceMs);
  }
}

/**
 * Sliding windows (Kafka Streams' `SlidingWindows`): windows [start, start + timeDifference], both
 * ends inclusive, one for each distinct set of records that lie within `timeDifference` of each
 * other. Each record defines its left window [t − d, t], and a right window [t + 1, t + 1 + d]
 * when a later record falls within d of it.
 */
export class SlidingWindows {
  private constructor(readonly timeDifferenceMs: number, readonly graceMs: number) {}

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): SlidingWindows {
    return new SlidingWindows(duration("timeDifferenceMs", timeDifferenceMs, false), 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): SlidingWindows {
    return new SlidingWindows(duration("timeDifferenceMs", timeDifferenceMs, false), duration("graceMs", graceMs));
  }
}

/**
 * Session windows: a record within `inactivityGap` of a session joins it, and sessions that a
 * record bridges merge. A session [start, end] (end = its last timestamp) closes when the
 * watermark reaches end + gap + grace.
 */
export class SessionWindows {
  private constructor(readonly inactivityGapMs: number, readonly graceMs: number) {}

  static ofInactivityGapWithNoGrace(inactivityGapMs: number): SessionWindows {
    return new SessionWindows(duration("inactivityGapMs", inactivityGapMs, false), 0);
  }

  static ofInactivityGapAndGrace(inactivityGapMs: number, graceMs: number): SessionWindows {
    return new SessionWindows(duration("inactivityGapMs", inactivityGapMs, false), duration("graceMs", graceMs));
  }
}

/**
 * Stream-stream join windows: records of the two sides join when their timestamps differ by at most
 * `before` (other side earlier) / `after` (other side later). A record's join window closes when the
 * watermark passes t + after + grace; left and outer joins then emit it unmatched.
 */
export class JoinWindows {
  private constructor(readonly beforeMs: number, readonly afterMs: number, readonly graceMs: number) {}

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): JoinWindows {
    const d = duration("timeDifferenceMs", timeDifferenceMs);
    return new JoinWindows(d, d, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): JoinWindows {
    const d = duration("timeDifferenceMs", timeDifferenceMs);
    return new JoinWindows(d, d, duration("graceMs", graceMs));
  }

  /** Only other-side records up to `beforeMs` earlier join. */
  before(beforeMs: number): JoinWindows {
    return new JoinWindows(duration("beforeMs", beforeMs), this.afterMs, this.graceMs);
  }

  /** Only other-side records up to `afterMs` later join. */
  after(afterMs: number): JoinWindows {
    return new JoinWindows(this.beforeMs, duration("afterMs", afterMs), this.graceMs);
  }
}

/** When a windowed aggregation emits (Kafka Streams' `EmitStrategy`). */
export class EmitStrategy {
  private constructor(readonly kind: "close" | "update") {}
  /** One final result per window, when it closes (the default). */
  static onWindowClose(): EmitStrategy {
    return new EmitStrategy("close");
  }
  /** A result on every update of a window (Kafka Streams' default without suppress). */
  static onWindowUpdate(): EmitStrategy {
    return new EmitStrategy("update");
  }
}

/** Kafka Streams' `Suppressed`: only `untilWindowCloses` (emit-final) is supported. */
export class Suppressed {
  private constructor(readonly kind: "untilWindowCloses") {}
  static untilWindowCloses(_config?: unknown): Suppressed {
    return new Suppressed("untilWindowCloses");
  }
}
