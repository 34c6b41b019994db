// The one migrate path shared by `npm start`, `npm run migrate`, the tests
// and the bench: graphile-migrate's committed migrations (the tests also
// current.sql), then the tracking configuration (migrations/tracking.sql),
// then the audit partitions for the coming months; and the partition upkeep
// that moves entries out of the default partition in batches while serving.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import JSON5 from "json5";
import { Logger as MigrateLogger, migrate, watch, type Settings } from "graphile-migrate";
import pg from "pg";
import type { Logger } from "../log.ts";
import { withClient } from "./connection.ts";
import { backfillLabels, type BackfillResult } from "./label-backfill.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

// graphile-migrate keeps its pools open for a moment after use and exits the
// process if one of them sees an error, e.g. when the embedded server stops
// right after migrating. Close them as soon as the migration is done.
const { clearAllPools } = createRequire(import.meta.url)("graphile-migrate/dist/pgReal.js") as { clearAllPools(): void };

/** Settings from .gmrc, with the connection passed explicitly (never read from DATABASE_URL implicitly). */
export async function migrationSettings(connectionString: string, logger: Logger): Promise<Settings> {
  const gmrc = JSON5.parse(await readFile(`${projectRoot}.gmrc`, "utf8")) as Settings;
  const log = logger.child({ component: "graphile-migrate" });
  return {
    ...gmrc,
    connectionString,
    migrationsFolder: `${projectRoot}migrations`,
    logger: new MigrateLogger(() => (level, message) => {
      if (level === "error") log.error(message);
      else if (level === "warning") log.warn(message);
      else if (level === "info") log.info(message);
      else log.debug(message);
    }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Applies the committed migrations and ensures the audit partitions (unless
 * entries wait in the default partition: see maintainPartitions).
 * Concurrent callers (several replicas starting at once) wait their turn:
 * graphile-migrate fails fast when another migration holds its lock.
 */
export async function migrateDatabase(
  connectionString: string,
  logger: Logger,
  options: { includeCurrent?: boolean } = {},
): Promise<void> {
  const settings = await migrationSettings(connectionString, logger);
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(settings);
      // Development only (the test suite): the in-progress migration too.
      // On main it is empty, so this changes nothing there.
      if (options.includeCurrent) await watch(settings, true);
      clearAllPools();
      break;
    } catch (err) {
      clearAllPools();
      if (err instanceof Error && /exclusive lock/.test(err.message) && attempt < 60) {
        logger.info({ attempt }, "another process is migrating this database; waiting");
        await sleep(500);
        continue;
      }
      throw err;
    }
  }
  await applyTrackingConfiguration(connectionString);
  const partitions = await ensurePartitions(connectionString);
  logger.info({ partitionsCreated: partitions.created, movePending: partitions.deferred || undefined }, "database is migrated");
}

/** The declarative tracking configuration, applied after every migration. */
export const TRACKING_FILE = `${projectRoot}migrations/tracking.sql`;

/**
 * Applies migrations/tracking.sql in one transaction. Idempotent: on a
 * database that matches it, it writes nothing and locks no business table.
 */
export async function applyTrackingConfiguration(connectionString: string, file = TRACKING_FILE): Promise<void> {
  const sql = await readFile(file, "utf8");
  await withClient(connectionString, async (client) => {
    try {
      await client.query("begin");
      await client.query(sql);
      await client.query("commit");
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw new Error(`${path.relative(projectRoot, file)} could not be applied: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
}

/**
 * Creates the coming months' partitions of audit.log, unless entries wait in
 * its default partition: then audit.ensure_partitions() would move them all in
 * one transaction, and that is left to maintainPartitions() (deferred: true).
 */
export async function ensurePartitions(connectionString: string): Promise<{ created: number; deferred: boolean }> {
  return withClient(connectionString, async (client) => {
    if (await defaultPartitionBusy(client)) return { created: 0, deferred: true };
    const { rows } = await client.query<{ created: number }>("select audit.ensure_partitions() as created");
    return { created: rows[0]?.created ?? 0, deferred: false };
  });
}

/**
 * Entries in the default partition, or tables a batched move staged. (Reads
 * only the catalog and the table: true on a schema without the batched move.)
 */
async function defaultPartitionBusy(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ busy: boolean }>(
    `select exists (select from audit.log_default)
         or exists (select from pg_constraint where conname = 'staged_partition_range' and connamespace = 'audit'::regnamespace) as busy`,
  );
  return rows[0]?.busy ?? false;
}

export interface MoveOptions {
  /** Stops the move between two batches (or cancels a VACUUM, ANALYZE or lock wait); each batch is atomic. */
  signal?: AbortSignal;
  /** Entries a batch moves, roughly (default 10,000). */
  batchEntries?: number;
  /** Progress is logged this often (ms, default 5,000). */
  progressEveryMs?: number;
}

export interface MoveResult {
  /** Entries moved out of the default partition. */
  moved: number;
  /** Partitions attached at the end. */
  attached: string[];
  /** Batches run (each its own transaction). */
  batches: number;
  /** The longest batch, ms. */
  longestBatchMs: number;
  /** How long the closing transaction held the default partition (readers of audit.log waited at most this), ms. */
  attachMs: number;
  /** Time spent in each step, ms: the batches, VACUUM of the default partition, index builds, ANALYZE, the attach (with its retries). */
  stepMs: { batches: number; vacuum: number; index: number; analyze: number; attach: number };
  seconds: number;
  /** Stopped by the signal before the end (nothing is lost: the next run goes on). */
  stopped: boolean;
  /** Another process was moving already. */
  skipped: boolean;
}

/** Session lock of the one process that moves entries out of the default partition. */
const MOVE_LOCK_KEY = "hashtextextended('audit.log default partition move', 0)";
const ATTACH_LOCK_TIMEOUT_MS = 1_000;
// A moved entry stays in the default partition's indexes until VACUUM: the
// first read through audit.log to pass it checks it in the heap (about 1.5 s
// a million on two busy cores). A read that comes rarely meets all that its
// tenant lost since the last VACUUM, so the walk VACUUMs this often.
const VACUUM_EVERY_ENTRIES = 1_000_000;
const ATTACH_ATTEMPTS = 60;

const aborted = (signal?: AbortSignal) => signal?.aborted === true;

/**
 * Moves every entry out of audit.log's default partition into its partition,
 * in batches of one transaction each (audit_private.move_default_batch, which
 * walks the default partition's primary key, newest first), then VACUUMs the
 * default partition, builds the new partitions' indexes and attaches them in
 * one short transaction (migrations/current.sql says why, and what waits for
 * what). Audited writes never wait for a lock of it; readers of audit.log
 * wait only for the attach.
 */
export async function moveDefaultRows(connectionString: string, logger: Logger, options: MoveOptions = {}): Promise<MoveResult> {
  const { signal, batchEntries = 10_000, progressEveryMs = 5_000 } = options;
  const log = logger.child({ component: "partitions" });
  const started = performance.now();
  const result: MoveResult = {
    moved: 0, attached: [], batches: 0, longestBatchMs: 0, attachMs: 0, seconds: 0, stopped: false, skipped: false,
    stepMs: { batches: 0, vacuum: 0, index: 0, analyze: 0, attach: 0 },
  };
  const timed = async <T>(step: keyof MoveResult["stepMs"], work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      result.stepMs[step] += performance.now() - t0;
    }
  };
  const client = new pg.Client({ connectionString, application_name: "audit-trail partition move" });
  client.on("error", () => undefined); // a cancelled or dropped connection is reported by the query that fails
  await client.connect();
  const backendPid = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
  // Cancels what this connection runs when the signal fires (VACUUM, ANALYZE,
  // a lock wait): PostgreSQL rolls it back whole. Batches are not cancelled,
  // only not started: the loop checks the signal between them.
  let cancellable = false;
  const cancel = () => {
    if (!cancellable) return;
    void withClient(connectionString, (c) => c.query("select pg_cancel_backend($1)", [backendPid])).catch(() => undefined);
  };
  signal?.addEventListener("abort", cancel);
  const during = async <T>(work: () => Promise<T>): Promise<T> => {
    cancellable = true;
    try {
      return await work();
    } finally {
      cancellable = false;
    }
  };
  try {
    if (!(await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${MOVE_LOCK_KEY}) as locked`)).rows[0]?.locked) {
      log.info("another process is moving entries out of the default partition");
      return { ...result, skipped: true };
    }
    for (let round = 1; round <= 3 && !aborted(signal); round++) {
      const { rows } = await client.query<{ entries: string }>(
        "select greatest(reltuples, 0)::bigint as entries from pg_class where oid = 'audit.log_default'::regclass",
      );
      const estimate = Number(rows[0]?.entries ?? 0);
      if (round === 1) {
        log.info(
          { entries: estimate || undefined },
          "moving the entries of the default partition of audit.log into their partitions, in batches; moved entries show in audit.log once their partition is attached at the end",
        );
      }
      let movedThisRound = 0;
      let movedSinceVacuum = 0;
      let lastReport = performance.now();
      // The key of the last entry moved (primary key order, newest first): where the next batch starts.
      let cursor: [string | null, string | null, string | null] = [null, null, null];
      while (!aborted(signal)) {
        const t0 = performance.now();
        // The instant as text: a JavaScript Date would drop its microseconds.
        const { rows: batch } = await client.query<{ moved: string; last_tenant: string | null; last_time: string | null; last_id: string | null }>(
          "select moved, last_tenant, last_time::text, last_id from audit_private.move_default_batch($1, $2, $3, $4)", [batchEntries, ...cursor]);
        const ms = performance.now() - t0;
        const b = batch[0];
        if (!b?.last_tenant) break;
        cursor = [b.last_tenant, b.last_time, b.last_id];
        const moved = Number(b.moved);
        result.batches++;
        result.longestBatchMs = Math.max(result.longestBatchMs, ms);
        result.stepMs.batches += ms;
        movedThisRound += moved;
        movedSinceVacuum += moved;
        result.moved += moved;
        if (movedSinceVacuum >= VACUUM_EVERY_ENTRIES) {
          movedSinceVacuum = 0;
          await timed("vacuum", () => during(() => client.query("vacuum audit.log_default")));
        }
        if (performance.now() - lastReport >= progressEveryMs) {
          lastReport = performance.now();
          const seconds = (lastReport - started) / 1000;
          log.info(
            {
              moved: result.moved,
              percent: estimate > 0 ? Math.min(100, Math.round((result.moved / estimate) * 100)) : undefined,
              entriesPerSecond: Math.round(result.moved / seconds),
            },
            "moving entries out of the default partition",
          );
        }
      }
      if (aborted(signal)) break;
      const staged = (await client.query<{ name: string }>("select part_name as name from audit_private.staged_log_partitions()")).rows.map((r) => r.name);
      if (staged.length === 0 && movedThisRound === 0) break;
      // Dead entries make the attach's scan of the default partition long, under its lock.
      await timed("vacuum", () => during(() => client.query("vacuum audit.log_default")));
      for (const name of staged) {
        // Built in one go, before the attach's lock (which would build them under it).
        await timed("index", () => during(() => client.query("select audit_private.index_log_partition($1)", [name])));
        // Statistics before the planner sees the partition.
        await timed("analyze", () => during(() => client.query(`analyze audit.${client.escapeIdentifier(name)}`)));
      }
      await timed("attach", () => attachStaged(client, result, during, signal, log));
      const left = await client.query("select from audit.log_default limit 1");
      if (left.rowCount === 0) break;
    }
  } catch (err) {
    if (!aborted(signal)) throw err;
  } finally {
    signal?.removeEventListener("abort", cancel);
    // Released before the connection ends: its backend may outlive end() a moment, and the next run would find it held.
    await client.query(`select pg_advisory_unlock_all()`).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
  result.stopped = aborted(signal);
  result.seconds = (performance.now() - started) / 1000;
  if (result.batches > 0 || result.attached.length > 0) {
    log.info(
      {
        moved: result.moved,
        attached: result.attached,
        seconds: Math.round(result.seconds * 10) / 10,
        entriesPerSecond: result.seconds > 0 ? Math.round(result.moved / result.seconds) : undefined,
        batches: result.batches,
        longestBatchMs: Math.round(result.longestBatchMs),
        attachMs: Math.round(result.attachMs),
        stepMs: Object.fromEntries(Object.entries(result.stepMs).map(([k, v]) => [k, Math.round(v)])),
      },
      result.stopped ? "stopped moving entries out of the default partition (the next start goes on)" : "moved the entries of the default partition into their partitions",
    );
  }
  return result;
}

/** The closing transaction, retried while readers hold the default partition longer than the lock timeout. */
async function attachStaged(
  client: pg.Client,
  result: MoveResult,
  during: <T>(work: () => Promise<T>) => Promise<T>,
  signal: AbortSignal | undefined,
  log: Logger,
): Promise<void> {
  for (let attempt = 1; !aborted(signal); attempt++) {
    const t0 = performance.now();
    try {
      await client.query("begin");
      await client.query(`set local lock_timeout = ${ATTACH_LOCK_TIMEOUT_MS}`);
      const { rows } = await during(() => client.query<{ name: string }>("select audit_private.attach_staged_partitions() as name"));
      await client.query("commit");
      result.attachMs = Math.max(result.attachMs, performance.now() - t0);
      result.attached.push(...rows.map((r) => r.name));
      return;
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      const lockTimeout = (err as { code?: string }).code === "55P03";
      if (!lockTimeout || attempt >= ATTACH_ATTEMPTS) throw err;
      log.debug({ attempt }, "readers hold the default partition: attaching again shortly");
      await sleep(Math.min(5_000, 200 * attempt));
    }
  }
}

export interface MaintenanceResult {
  /** Partitions audit.ensure_partitions() created (the coming months). */
  created: number;
  move: MoveResult | null;
}

/**
 * Partition upkeep, safe to run while serving: empties the default partition
 * in batches when it holds entries, then creates the coming months'
 * partitions. The server runs it after it listens and daily; `npm run
 * migrate` in the foreground.
 */
export async function maintainPartitions(connectionString: string, logger: Logger, options: MoveOptions = {}): Promise<MaintenanceResult> {
  const busy = await withClient(connectionString, defaultPartitionBusy);
  const move = busy ? await moveDefaultRows(connectionString, logger, options) : null;
  if (aborted(options.signal) || move?.skipped) return { created: 0, move };
  const { created, deferred } = await ensurePartitions(connectionString);
  if (deferred) logger.warn({ component: "partitions" }, "entries are left in the default partition of audit.log; the next maintenance run moves them");
  return { created, move };
}

export interface LogMaintenanceResult extends MaintenanceResult {
  labels: BackfillResult | null;
}

/**
 * The log's upkeep, safe to run while serving: partitions
 * (maintainPartitions), then the entity labels of entries written before
 * labels existed (backfillLabels; one query once that is done).
 */
export async function maintainLog(connectionString: string, logger: Logger, options: MoveOptions = {}): Promise<LogMaintenanceResult> {
  const partitions = await maintainPartitions(connectionString, logger, options);
  if (aborted(options.signal) || partitions.move?.skipped) return { ...partitions, labels: null };
  const labels = await backfillLabels(connectionString, logger, { signal: options.signal, progressEveryMs: options.progressEveryMs });
  return { ...partitions, labels };
}

/**
 * Runs maintainLog() now and then every `everyMs`, one run at a time, in
 * the background; stop() ends the run in progress between two batches and
 * waits for it.
 */
export function startLogMaintenance(connectionString: string, logger: Logger, everyMs: number): { stop(): Promise<void> } {
  const controller = new AbortController();
  let current: Promise<void> = Promise.resolve();
  const runOnce = () => {
    current = current.then(() =>
      maintainLog(connectionString, logger, { signal: controller.signal }).then(
        ({ created }) => {
          if (created) logger.info({ created }, "audit partitions ensured");
        },
        (err: unknown) => logger.error({ err }, "audit log maintenance failed"),
      ),
    );
  };
  runOnce();
  const timer = setInterval(runOnce, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      controller.abort();
      await current;
    },
  };
}
