// The server's detection loop: audit.detect() every DETECT_INTERVAL_MS, as
// the owner, one round at a time. The rounds themselves (watermark, horizon,
// lock) are the database's (db/schema/log-consumers.sql); this only calls
// them, logs what they found, and says why detection lags when a long
// transaction holds the horizon back.
import pg from "pg";
import type { Logger } from "../log.ts";
import { loopPool, startBackgroundLoop, type BackgroundLoop } from "./background-loop.ts";
import { consumerLag, lagMessage } from "./consumer-lag.ts";

/** What one call of audit.detect() did. */
export interface DetectionRound {
  /** Alerts opened or updated; null when another runner held the lock. */
  changed: number | null;
  ms: number;
}

export async function detectOnce(client: pg.ClientBase): Promise<DetectionRound> {
  const started = performance.now();
  const { rows } = await client.query<{ changed: number | null }>("select audit.detect() as changed");
  return { changed: rows[0]?.changed ?? null, ms: Math.round(performance.now() - started) };
}

export interface DetectionLoopOptions {
  /** The owner's connection (audit.detect() is not granted to the API's roles). */
  connectionString: string;
  intervalMs: number;
  logger: Logger;
  /** How often the lag is checked, in rounds (default: about every 5 minutes). */
  lagEveryRounds?: number;
  /** Lag worth a warning, in seconds (default 300). */
  warnLagSeconds?: number;
}

export type DetectionLoop = BackgroundLoop<DetectionRound>;

/** Runs audit.detect() now and then every intervalMs, one round at a time, in the background. */
export function startDetection(options: DetectionLoopOptions): DetectionLoop {
  const log = options.logger.child({ component: "detection" });
  // a round reads what the log gained since the last one: seconds, not minutes
  const pool = loopPool({ connectionString: options.connectionString, intervalMs: options.intervalMs, name: "detection", statementTimeoutMs: 120_000, log });
  const lagEvery = options.lagEveryRounds ?? Math.max(1, Math.round(300_000 / options.intervalMs));
  const warnLag = options.warnLagSeconds ?? 300;
  let rounds = 0;

  const round = async (): Promise<DetectionRound | null> => {
    const client = await pool.connect();
    try {
      const result = await detectOnce(client);
      rounds++;
      if (result.changed === null) log.debug("another detection run holds the lock; skipped");
      else if (result.changed > 0) log.info({ alerts: result.changed, ms: result.ms }, "security alerts opened or updated");
      else log.debug({ ms: result.ms }, "detection round: nothing new");
      if (rounds % lagEvery === 0) {
        const lag = await consumerLag(client, "detectors");
        if (lag && lag.lagSeconds > warnLag) {
          log.warn({ ...lag }, lagMessage("detection", lag));
        }
      }
      return result;
    } finally {
      client.release();
    }
  };
  return startBackgroundLoop({ intervalMs: options.intervalMs, log, failure: "detection round failed", run: round, onStop: () => pool.end() });
}
