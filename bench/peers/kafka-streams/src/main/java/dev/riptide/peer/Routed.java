package dev.riptide.peer;

/** What the per-partition stage forwards: a fix for its region's window, a tick, or a finished side output. */
final class Routed {
  static final int FIX = 0, TICK_KIND = 1, INVALID = 2, ANOMALY = 3, LATE = 4, DLQ = 5;
  static final String[] NAMES = {"fix", "tick", "invalid", "anomaly", "late", "dlq"};
  /** speedMicro of a fix without a finite speed. */
  static final long NO_SPEED = Long.MIN_VALUE;
  static final Routed TICK = new Routed(TICK_KIND, NO_SPEED, null);

  final int kind;
  final long speedMicro;
  final byte[] json;

  Routed(int kind, long speedMicro, byte[] json) {
    this.kind = kind;
    this.speedMicro = speedMicro;
    this.json = json;
  }
}
