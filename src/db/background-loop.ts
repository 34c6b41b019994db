// One run now and then one every intervalMs, never two at once, in the
// background: the shape of the server's consumers of the log (detection,
// sealing) and of the periodic verification. A failed run is logged and
// changed nothing (its transaction rolled back): the next one repeats it.
import pg from "pg";
import type { Logger } from "../log.ts";

export interface BackgroundLoop<T> {
  /** The run started with the loop. */
  firstRun: Promise<T | null>;
  /** Runs once more now (after the run in progress), e.g. in tests. */
  runNow(): Promise<T | null>;
  /** Stops the timer and waits for the run in progress. */
  stop(): Promise<void>;
}

export interface BackgroundLoopOptions<T> {
  intervalMs: number;
  /** The loop's logger (a child with its component). */
  log: Logger;
  /** What a failed run is logged as, e.g. "sealing failed". */
  failure: string;
  run: () => Promise<T | null>;
  /** The first run waits for this. */
  after?: Promise<unknown>;
  /** Called once the timer is stopped and the last run is over (closing pools). */
  onStop?: () => Promise<void>;
}

export function startBackgroundLoop<T>(options: BackgroundLoopOptions<T>): BackgroundLoop<T> {
  let stopped = false;
  let current: Promise<T | null> = (options.after ?? Promise.resolve()).then(() => null, () => null);
  const schedule = () => {
    current = current
      .then(() => (stopped ? null : options.run()))
      .catch((err: unknown) => {
        // the message, not the error: pg attaches its client to it
        const e = err as Error & { code?: string };
        options.log.error({ error: e.message, code: e.code }, options.failure);
        return null;
      });
    return current;
  };
  const firstRun = schedule();
  const timer = setInterval(schedule, options.intervalMs);
  timer.unref();
  return {
    firstRun,
    runNow: schedule,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
      await options.onStop?.();
    },
  };
}

/**
 * The one connection a background loop runs on (the owner's): kept while
 * the loop runs often, closed when idle for two intervals, its statements
 * bounded by `statementTimeoutMs`; an idle connection's failure is a warning.
 */
export function loopPool(options: { connectionString: string; intervalMs: number; name: string; statementTimeoutMs: number; log: Logger }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: 1,
    idleTimeoutMillis: Math.max(10_000, options.intervalMs * 2),
    application_name: `audit-trail-${options.name}`,
    options: `-c statement_timeout=${options.statementTimeoutMs}`,
  });
  pool.on("error", (err: Error & { code?: string }) => options.log.warn({ error: err.message, code: err.code }, `idle ${options.name} connection failed`));
  return pool;
}
