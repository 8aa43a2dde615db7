/**
 * The status of a running `riptide run` on stderr: on a terminal one compact line rewritten in
 * place (log lines are printed above it), otherwise a plain line every few seconds (for log files
 * and CI). `--quiet` turns both off; logs are governed by `--log-level` alone.
 */
import type { Progress } from "../coordinator/coordinator.js";

/** Owns stderr while a run shows a live line, so that log lines do not tear it. */
export class StatusLine {
  readonly tty: boolean;
  private current = "";
  private readonly out: NodeJS.WriteStream;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.out = out;
    this.tty = out.isTTY === true;
  }

  /** Writes a whole line (a log line, ending in "\n") above the live line. */
  above(text: string): void {
    if (this.tty && this.current) this.out.write(`\r\x1b[2K${text}${this.current}`);
    else this.out.write(text);
  }

  /** Shows a new status: rewritten in place on a terminal, one more plain line otherwise. */
  show(line: string): void {
    if (this.tty) {
      // A line longer than the terminal wraps, and "\r" then erases only its last row: cut it.
      const width = this.out.columns;
      if (width > 1 && line.length >= width) line = `${line.slice(0, width - 2)}…`;
      this.current = line;
      this.out.write(`\r\x1b[2K${line}`);
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Ends the live line (the cursor goes to a new line). */
  done(): void {
    if (this.tty && this.current) this.out.write("\n");
    this.current = "";
  }
}

/** Extra figures for the status line that the coordinator does not know (e.g. Kafka lag). */
export interface StatusExtras {
  /** Records behind the end of the owned partitions, or undefined when not measured. */
  lag?: () => number | undefined;
}

export function fmtRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : `${Math.round(x)} `;
}

function fmtCount(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : x >= 1e4 ? `${(x / 1e3).toFixed(0)} k` : String(x);
}

/** One status line: rate, totals, latency, ring fill, outputs, and lag / dead letters / restarts when there are any. */
export function statusText(p: Progress, rate: number, extras: StatusExtras = {}): string {
  const o = p.outputs;
  const lag = extras.lag?.();
  return `${fmtRate(rate)}events/s | ${(p.processed / 1e6).toFixed(1)} M events | latency p50 ${p.latencyMs.p50.toFixed(2)} ms p99 ${p.latencyMs.p99.toFixed(2)} ms` +
    ` | ring ${(p.ringFill * 100).toFixed(0)}% | windows ${o["window"] ?? 0} late ${o["late"] ?? 0} invalid ${o["invalid"] ?? 0} anomaly ${o["anomaly"] ?? 0}` +
    (lag !== undefined ? ` | lag ${fmtCount(lag)}` : "") +
    (p.deadLetters > 0 ? ` | dlq ${p.deadLetters}` : "") +
    (p.workerRestarts > 0 ? ` | restarts ${p.workerRestarts}` : "");
}

/** The coordinator's onProgress for the status line: rate between two snapshots. */
export function progressPrinter(status: StatusLine, extras: StatusExtras = {}): { update: (p: Progress) => void; done: () => void; intervalMs: number } {
  let lastEvents = 0;
  let lastAt = 0;
  return {
    intervalMs: status.tty ? 500 : 5000,
    update(p: Progress): void {
      const dt = p.elapsedSeconds - lastAt;
      const rate = dt > 0 ? (p.processed - lastEvents) / dt : 0;
      lastEvents = p.processed;
      lastAt = p.elapsedSeconds;
      status.show(statusText(p, rate, extras));
    },
    done(): void {
      status.done();
    },
  };
}
