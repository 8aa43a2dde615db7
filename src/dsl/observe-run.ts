/**
 * Logs and alerts of a DSL run (`riptide run --topology …` and the pipelines written on the DSL),
 * as `riptide run`'s built-in pipelines have them: a `start` and a `stop` line around the run's
 * own (worker restarts, Kafka assignments, …), `--log-level` for the run logger's lines,
 * `--alert-*` for the alerts (src/cli/observe.ts), fed from the coordinator's snapshots and, on
 * Kafka, the consumer lag, and `--http HOST:PORT` for the dashboard, /metrics, /healthz and
 * /readyz (src/http/server.ts; no region map: a topology's windows are not regions). `--quiet`
 * without `--log-level` silences the log too (these runs have no status line for it to silence).
 * Ctrl-C or SIGTERM stops the run as it stops the built-in pipelines' (`signal`: what was accepted
 * is processed and flushed, the summary printed, exit code 0; a second one exits with 130), and
 * the `stop` line says `interrupted`.
 */
import { UsageError } from "../cli/args.js";
import { describeAlerts, OBSERVE_OPTIONS, observeSettings, RunObserver, type RunObserverOptions } from "../cli/observe.js";
import type { Coordinator, RunSummary } from "../coordinator/coordinator.js";
import { createRunLogger, type LogFn } from "../log/logger.js";
import type { ConsumerLag } from "../metrics/lag.js";

/** The option names this adds to a DSL run's accepted options. */
export const OBSERVE_OPTION_NAMES: readonly string[] = [...Object.keys(OBSERVE_OPTIONS), "http"];

export interface ObservedRun {
  onLog: LogFn;
  /** Aborted by the first Ctrl-C/SIGTERM during around() (the coordinator's `signal`). */
  signal: AbortSignal;
  /** The run's coordinator, for the alerts' snapshots (runTopology's onCoordinator). */
  attach(coordinator: Coordinator): void;
  /** The consumer lag of the run's first input topic, once its Kafka setup exists. */
  setLag(lag: ConsumerLag | undefined): void;
  /** The run's summary, for the `stop` line (status done). */
  done(summary: RunSummary): void;
  /**
   * Runs `body`; then, whatever happened, a last alert evaluation, notifications in flight
   * settled, the lag stopped, `cleanup` (the Kafka clients closed: a revoke logs before the end),
   * and the log closed with a `stop` line: status done, or failed with the error.
   */
  around<T>(body: () => Promise<T>, cleanup?: () => Promise<void>): Promise<T>;
}

export async function observeRun(values: Record<string, unknown>, context: { kafka: boolean; pipeline: string; source: string }): Promise<ObservedRun> {
  const settings = observeSettings(values, { kafka: context.kafka });
  const httpServer = values["http"] === undefined ? undefined : await import("../http/server.js");
  let address: import("../http/server.js").HttpAddress | undefined;
  try {
    address = httpServer?.parseHttpAddress(String(values["http"]), "--http");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const silent = values["quiet"] === true && values["log-level"] === undefined;
  const logs = silent ? undefined : createRunLogger({ level: settings.logLevel });
  const onLog: LogFn = (event, detail) => logs?.log(event, detail);
  onLog("start", {
    pipeline: context.pipeline, source: context.source, logLevel: settings.logLevel,
    ...(settings.alerts && { alerts: describeAlerts(settings.alerts) }), node: process.version,
  });
  let coordinator: Coordinator | undefined;
  const options: RunObserverOptions = {
    settings: settings.alerts, pipeline: context.pipeline, source: context.source, log: onLog,
    snapshot: () => coordinator?.progress(),
  };
  const observer = new RunObserver(options);
  let outcome: Record<string, unknown> = { status: "failed" };
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  };
  const http = httpServer && address && new httpServer.RunHttpServer({
    ...address, processor: context.pipeline, topic: context.source,
    snapshot: () => coordinator?.progress(),
    latency: () => coordinator?.latencyHistogram,
    stages: () => coordinator?.stageLatency,
    ...(context.kafka && { lag: () => options.lag?.snapshot() ?? [] }),
  });
  if (http) {
    try {
      onLog("http-listening", { url: await http.start() });
    } catch (err) {
      logs?.close();
      throw err;
    }
  }
  observer.start();
  return {
    onLog,
    signal: abort.signal,
    attach(c) { coordinator = c; },
    // The observer reads its options at each evaluation: the lag joins once the consumer exists.
    setLag(lag) { if (lag) options.lag = lag; },
    done(s) {
      outcome = { status: abort.signal.aborted ? "interrupted" : "done", events: s.events, seconds: s.seconds, outputs: s.outputs, deadLetters: s.deadLetters ?? 0, workerRestarts: s.workerRestarts };
    },
    async around(body, cleanup) {
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        return await body();
      } catch (err) {
        outcome = { status: "failed", error: String((err as Error)?.message ?? err) };
        throw err;
      } finally {
        observer.evaluate();
        http?.tick();
        await observer.stop();
        await options.lag?.stop();
        await http?.stop();
        await cleanup?.();
        logs?.close();
        onLog("stop", outcome);
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    },
  };
}
