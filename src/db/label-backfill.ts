// Entries written before entity labels existed get theirs from the tracking
// configuration, in batches of one transaction each
// (audit_private.backfill_labels_batch, which walks audit.log's primary
// key). Never in a migration: rewriting the log there would hold a lock that
// blocks every audited write for as long as the log is large. The server
// runs it in the background after it listens, `npm run migrate` in the
// foreground; one process at a time (a session advisory lock), and a
// stopped run goes on where it stopped (the walk's position is stored).
import pg from "pg";
import type { Logger } from "../log.ts";

const LOCK_KEY = "hashtextextended('audit.log label backfill', 0)";

export interface BackfillOptions {
  /** Stops between two batches; each batch is atomic. */
  signal?: AbortSignal;
  /** Entries a batch examines (default 5,000). */
  batchEntries?: number;
  /** Progress is logged this often (ms, default 5,000). */
  progressEveryMs?: number;
}

export interface BackfillResult {
  /** Entries examined and labelled by this run. */
  examined: number;
  labelled: number;
  batches: number;
  longestBatchMs: number;
  seconds: number;
  /** Every entry written before labels has been examined (now or before). */
  done: boolean;
  /** Another process holds the backfill. */
  skipped: boolean;
}

export async function backfillLabels(connectionString: string, logger: Logger, options: BackfillOptions = {}): Promise<BackfillResult> {
  const { signal, batchEntries = 5_000, progressEveryMs = 5_000 } = options;
  const log = logger.child({ component: "label-backfill" });
  const started = performance.now();
  const result: BackfillResult = { examined: 0, labelled: 0, batches: 0, longestBatchMs: 0, seconds: 0, done: false, skipped: false };
  const client = new pg.Client({ connectionString, application_name: "audit-trail label backfill" });
  client.on("error", () => undefined); // a dropped connection is reported by the query that fails
  await client.connect();
  try {
    const { rows: state } = await client.query<{ pending: boolean; up_to_id: string }>(
      "select finished_at is null as pending, up_to_id::text from audit_private.label_backfill");
    if (!state[0]?.pending) return { ...result, done: true };
    if (!(await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${LOCK_KEY}) as locked`)).rows[0]?.locked) {
      log.info("another process is backfilling entity labels");
      return { ...result, skipped: true };
    }
    log.info({ upToId: state[0].up_to_id }, "labelling the entries written before entity labels existed, in batches");
    let lastReport = performance.now();
    while (!signal?.aborted) {
      const t0 = performance.now();
      const { rows } = await client.query<{ examined: number; labelled: number; done: boolean }>(
        "select examined, labelled, done from audit_private.backfill_labels_batch($1)", [batchEntries]);
      const ms = performance.now() - t0;
      const batch = rows[0]!;
      if (batch.done) {
        result.done = true;
        break;
      }
      result.batches++;
      result.examined += batch.examined;
      result.labelled += batch.labelled;
      result.longestBatchMs = Math.max(result.longestBatchMs, ms);
      if (performance.now() - lastReport >= progressEveryMs) {
        lastReport = performance.now();
        log.info({ examined: result.examined, labelled: result.labelled, entriesPerSecond: Math.round(result.examined / ((lastReport - started) / 1000)) }, "labelling entries");
      }
    }
  } finally {
    // Released before the connection ends: its backend may outlive end() a moment.
    await client.query("select pg_advisory_unlock_all()").catch(() => undefined);
    await client.end().catch(() => undefined);
  }
  result.seconds = (performance.now() - started) / 1000;
  if (result.batches > 0) {
    log.info(
      { examined: result.examined, labelled: result.labelled, batches: result.batches, longestBatchMs: Math.round(result.longestBatchMs), seconds: Math.round(result.seconds * 10) / 10, done: result.done },
      result.done ? "entity labels backfilled" : "entity label backfill stopped; the next run goes on",
    );
  }
  return result;
}
