// How far a consumer of the log (detectors, rollups) is behind, as
// audit.log_consumers() reports it, and the operator's warning: a consumer
// that lags because a long transaction holds the xmin horizon back says so.

import type pg from "pg";

export interface ConsumerLag {
  pendingEntries: number;
  lagSeconds: number;
  oldestTransactionPid: number | null;
  oldestTransactionAgeSeconds: number | null;
}

export async function consumerLag(client: pg.ClientBase, consumer: string): Promise<ConsumerLag | null> {
  const { rows } = await client.query<{ pending_entries: string; lag_seconds: string; oldest_transaction_pid: number | null; oldest_transaction_age_seconds: string | null }>(
    "select pending_entries, lag_seconds, oldest_transaction_pid, oldest_transaction_age_seconds from audit.log_consumers() where consumer = $1",
    [consumer],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    pendingEntries: Number(r.pending_entries),
    lagSeconds: Number(r.lag_seconds),
    oldestTransactionPid: r.oldest_transaction_pid,
    oldestTransactionAgeSeconds: r.oldest_transaction_age_seconds === null ? null : Number(r.oldest_transaction_age_seconds),
  };
}

/** "detection lags 400 s: a transaction open for 390 s (pid 123) holds the xmin horizon back". */
export function lagMessage(what: string, lag: ConsumerLag): string {
  return lag.oldestTransactionPid !== null
    ? `${what} lags ${lag.lagSeconds} s: a transaction open for ${lag.oldestTransactionAgeSeconds} s (pid ${lag.oldestTransactionPid}) holds the xmin horizon back`
    : `${what} lags ${lag.lagSeconds} s`;
}
