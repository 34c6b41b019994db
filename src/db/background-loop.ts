// One run now and then one every intervalMs, never two at once, in the
// background: the shape of the server's consumers of the log (detection,
// sealing, rollups) and of the periodic verification. A failed run is logged
// and changed nothing (its transaction rolled back): the next one repeats it.
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
  /**
   * "rate" (the default): a run starts every intervalMs. "deadline":
   * intervalMs is the most that what a run handles may wait for it: a run
   * starts intervalMs minus twice the recent runs' longest duration after the
   * previous one started (see nextStartDelay), so that what arrived just
   * after a run began is handled by the end of the next one.
   */
  pacing?: "rate" | "deadline";
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

/** Runs remembered for deadline pacing: enough to see a slow one coming back. */
const RECENT_RUNS = 8;

/**
 * Deadline pacing: how long after a run that took `tookMs` (and started
 * `tookMs` ago) the next one starts. Something arriving just after a run
 * began waits for the next run's end: the start-to-start period plus that
 * run's duration, kept within intervalMs by taking twice the recent runs'
 * longest duration off the period (on a busy machine a run takes up to about
 * twice its median: bench, rollup passes at 1,000 tx/s); never less than a
 * quarter interval apart (slower runs than that cannot keep the deadline,
 * and the loop does not spin).
 */
export function nextStartDelay(intervalMs: number, recentRunsMs: readonly number[], tookMs: number): number {
  const longest = Math.max(0, ...recentRunsMs);
  const period = Math.max(intervalMs / 4, intervalMs - 2 * longest);
  return Math.max(0, period - tookMs);
}

export function startBackgroundLoop<T>(options: BackgroundLoopOptions<T>): BackgroundLoop<T> {
  let stopped = false;
  let current: Promise<T | null> = (options.after ?? Promise.resolve()).then(() => null, () => null);
  let runStartedAt = 0;
  const schedule = () => {
    current = current
      .then(() => {
        if (stopped) return null;
        runStartedAt = performance.now();
        return options.run();
      })
      .catch((err: unknown) => {
        // the message, not the error: pg attaches its client to it
        const e = err as Error & { code?: string };
        options.log.error({ error: e.message, code: e.code }, options.failure);
        return null;
      });
    return current;
  };
  let timer: NodeJS.Timeout | undefined;
  let firstRun: Promise<T | null>;
  if (options.pacing === "deadline") {
    const recent: number[] = [];
    const tick = (): Promise<T | null> => {
      const run = schedule();
      void run.then(() => {
        if (stopped) return;
        const took = performance.now() - runStartedAt;
        recent.push(took);
        if (recent.length > RECENT_RUNS) recent.shift();
        timer = setTimeout(tick, nextStartDelay(options.intervalMs, recent, took));
        timer.unref();
      });
      return run;
    };
    firstRun = tick();
  } else {
    firstRun = schedule();
    timer = setInterval(schedule, options.intervalMs);
    timer.unref();
  }
  return {
    firstRun,
    runNow: schedule,
    async stop() {
      stopped = true;
      clearTimeout(timer); // (Node's clears an interval too)
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
