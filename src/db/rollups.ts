// The server's rollup loop: audit.refresh_rollups() as the owner, one round
// at a time, often enough that an entry is counted within ROLLUP_INTERVAL_MS
// of its commit, and at once again while the log holds more than a round
// takes (catching up after a restart or an upgrade). The rounds themselves
// (watermark, horizon, lock, maintenance recounts) are the database's
// (db/schema/rollups.sql); audit.activity_counts() is exact whether or not
// they keep up: what they have not counted yet is counted live.
import pg from "pg";
import type { Logger } from "../log.ts";
import { loopPool, startBackgroundLoop, type BackgroundLoop } from "./background-loop.ts";
import { consumerLag, lagMessage } from "./consumer-lag.ts";

/** Transaction ids a round reads at most: a round stays a short transaction. */
export const ROLLUP_ROUND_XIDS = 200_000;

/** What one pass (one or more rounds) did. */
export interface RollupPass {
  /** Rounds run; 0 when another runner held the lock. */
  rounds: number;
  /** New entries counted. */
  entries: number;
  ms: number;
}

/**
 * Runs rounds until the rollups reach the xmin horizon or `sliceMs` has
 * passed (whichever first), so that a backlog is caught up without one long
 * transaction and without starving the other background work.
 */
export async function refreshRollups(client: pg.ClientBase, sliceMs = 30_000, maxXids = ROLLUP_ROUND_XIDS): Promise<RollupPass> {
  const started = performance.now();
  let rounds = 0;
  let entries = 0;
  for (;;) {
    const { rows } = await client.query<{ counted: string | null }>("select audit.refresh_rollups($1) as counted", [maxXids]);
    const counted = rows[0]?.counted ?? null;
    if (counted === null) break; // another runner
    rounds++;
    entries += Number(counted);
    // (a separate statement: it sees the round's new watermark)
    const { rows: behind } = await client.query<{ behind: boolean }>(
      "select c.watermark + $1 <= audit_private.current_horizon() as behind from audit_private.log_consumers c where c.consumer = 'rollups'",
      [maxXids],
    );
    if (!behind[0]?.behind || performance.now() - started > sliceMs) break;
  }
  return { rounds, entries, ms: Math.round(performance.now() - started) };
}

export interface RollupLoopOptions {
  /** The owner's connection (audit.refresh_rollups() is not granted to the API's roles). */
  connectionString: string;
  intervalMs: number;
  logger: Logger;
  /** Lag worth a warning, in seconds (default 300), checked about every 5 minutes. */
  warnLagSeconds?: number;
}

export type RollupLoop = BackgroundLoop<RollupPass>;

export function startRollups(options: RollupLoopOptions): RollupLoop {
  const log = options.logger.child({ component: "rollups" });
  const pool = loopPool({ connectionString: options.connectionString, intervalMs: options.intervalMs, name: "rollups", statementTimeoutMs: 120_000, log });
  const lagEvery = Math.max(1, Math.round(300_000 / options.intervalMs));
  const warnLag = options.warnLagSeconds ?? 300;
  let passes = 0;

  const pass = async (): Promise<RollupPass | null> => {
    const client = await pool.connect();
    try {
      const result = await refreshRollups(client);
      passes++;
      if (result.rounds > 1) log.info({ ...result }, "rollups caught up");
      else log.debug({ ...result }, "rollup round");
      if (passes % lagEvery === 0) {
        const lag = await consumerLag(client, "rollups");
        if (lag && lag.lagSeconds > warnLag) log.warn({ ...lag }, lagMessage("rollups", lag));
      }
      return result;
    } finally {
      client.release();
    }
  };
  // Deadline pacing: ROLLUP_INTERVAL_MS is how far the rollups may fall
  // behind the log, not the gap between rounds (a round's own duration would
  // come on top of it).
  return startBackgroundLoop({ intervalMs: options.intervalMs, pacing: "deadline", log, failure: "rollup round failed", run: pass, onStop: () => pool.end() });
}
