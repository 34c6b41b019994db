// The read benchmark's data set (bench/sql/read-dataset.sql): generated
// set-based straight into audit.log as the owner, with the indexes dropped
// during the load and rebuilt after it (as their definitions stand after
// migrating), then VACUUM (FREEZE, ANALYZE). A database per size is kept in
// the bench cluster and reused while its fingerprint (generator, committed
// migrations, size) matches; current.sql is re-applied on reuse.
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { benchDir, cloneDatabase, createMigratedDatabase, databaseExists, dropDatabase, type BenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { variantSql } from "./write-database.ts";

const GENERATOR_VERSION = 1;
export const READ_TENANTS = 1000;
const SLICE = 500_000;
const PARALLEL = 2;

export interface ReadDataset {
  database: string;
  /** Capture configuration applied on top of the migrated schema ("migrated": none). */
  variant: string;
  rows: number;
  tenants: number;
  spanEnd: Date;
  reused: boolean;
  generationSeconds: number | null;
  sizes: { heapBytes: number; indexBytes: number; partitions: number };
}

async function fingerprint(rows: number): Promise<string> {
  const h = createHash("sha1");
  h.update(`v${GENERATOR_VERSION}:${rows}:${READ_TENANTS}\n`);
  h.update(await readFile(`${benchDir}sql/read-dataset.sql`, "utf8"));
  const committed = `${benchDir}../migrations/committed/`;
  for (const f of (await readdir(committed)).sort()) h.update(await readFile(committed + f, "utf8"));
  return h.digest("hex");
}

function parts(sql: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | null = null;
  for (const line of sql.split("\n")) {
    const m = /^-- part: (\w+)/.exec(line);
    if (m) {
      current = m[1]!;
      out.set(current, "");
    } else if (current) out.set(current, out.get(current)! + line + "\n");
  }
  return out;
}

function fill(sql: string, values: Record<string, string | number>): string {
  let text = sql;
  for (const [k, v] of Object.entries(values)) text = text.replaceAll(`{{${k}}}`, String(v));
  return text;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function sizes(c: pg.ClientBase): Promise<ReadDataset["sizes"]> {
  const { rows } = await c.query<{ heap: string; idx: string; n: number }>(
    `select sum(pg_relation_size(c.oid)) as heap, sum(pg_indexes_size(c.oid)) as idx, count(*)::int as n
       from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass`,
  );
  return { heapBytes: Number(rows[0]!.heap), indexBytes: Number(rows[0]!.idx), partitions: rows[0]!.n };
}

export async function readDatasetName(rows: number): Promise<string> {
  return `audit_bench_reads_${rows}`;
}

export async function ensureReadDataset(server: BenchServer, rows: number, regenerate: boolean, logger: Logger): Promise<ReadDataset> {
  const database = await readDatasetName(rows);
  const url = server.url(database);
  const print = await fingerprint(rows);
  if (!regenerate && (await databaseExists(server, database))) {
    const found = await withClient(url, async (c) => {
      const exists = await c.query("select 1 from pg_class where oid = to_regclass('bench.dataset')");
      if (!exists.rowCount) return null;
      const { rows: r } = await c.query<{ fingerprint: string; span_end: Date; generation_seconds: number | null }>(
        "select fingerprint, span_end, generation_seconds from bench.dataset",
      );
      return r[0] && r[0].fingerprint === print ? r[0] : null;
    });
    if (found) {
      logger.info({ database, rows }, "reusing the read data set");
      await migrateDatabase(url, logger, { includeCurrent: true });
      const s = await withClient(url, sizes);
      return { database, variant: "migrated", rows, tenants: READ_TENANTS, spanEnd: found.span_end, reused: true, generationSeconds: found.generation_seconds, sizes: s };
    }
  }

  logger.info({ database, rows }, "generating the read data set (once; later runs reuse it)");
  const started = performance.now();
  await createMigratedDatabase(server, database, logger);
  const spanEnd = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  const sql = parts(await readFile(`${benchDir}sql/read-dataset.sql`, "utf8"));
  const values = { rows, tenants: READ_TENANTS, span_end: spanEnd.toISOString() };
  const indexDefs = await withClient(url, async (c) => {
    await c.query(fill(sql.get("catalogue")!, values));
    await c.query(fill(sql.get("partitions")!, values));
    // Drop the indexes for the load; rebuild them from their definitions after it.
    const { rows: defs } = await c.query<{ name: string; def: string; constraint_def: string | null }>(
      `select ci.relname as name, pg_get_indexdef(x.indexrelid) as def,
              (select pg_get_constraintdef(k.oid) from pg_constraint k where k.conindid = x.indexrelid and k.conrelid = x.indrelid) as constraint_def
         from pg_index x join pg_class ci on ci.oid = x.indexrelid
        where x.indrelid = 'audit.log'::regclass order by ci.relname`,
    );
    for (const d of defs) {
      if (d.constraint_def) await c.query(`alter table audit.log drop constraint ${c.escapeIdentifier(d.name)}`);
      else await c.query(`drop index audit.${c.escapeIdentifier(d.name)}`);
    }
    return defs;
  });

  const slices: [number, number][] = [];
  for (let from = 1; from <= rows; from += SLICE) slices.push([from, Math.min(rows, from + SLICE - 1)]);
  let done = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, (_, w) =>
      withClient(url, async (c) => {
        await c.query("set synchronous_commit = off");
        for (let i = w; i < slices.length; i += PARALLEL) {
          const [from, to] = slices[i]!;
          await c.query(fill(sql.get("load")!, { ...values, from, to }));
          done += to - from + 1;
          logger.info({ database, loaded: done, of: rows, seconds: round((performance.now() - started) / 1000, 0) }, "loading audit entries");
        }
      }),
    ),
  );

  const queue = [...indexDefs];
  await Promise.all(
    Array.from({ length: PARALLEL }, () =>
      withClient(url, async (c) => {
        await c.query("set maintenance_work_mem = '1GB'");
        for (let d = queue.shift(); d; d = queue.shift()) {
          if (d.constraint_def) await c.query(`alter table audit.log add constraint ${c.escapeIdentifier(d.name)} ${d.constraint_def}`);
          else await c.query(d.def.replace(" ON ONLY ", " ON "));
          logger.info({ database, index: d.name }, "index rebuilt");
        }
      }),
    ),
  );
  await withClient(url, (c) => c.query("vacuum (freeze, analyze) audit.log"));
  const generationSeconds = round((performance.now() - started) / 1000, 1);
  const s = await withClient(url, async (c) => {
    await c.query("insert into bench.dataset (rows, tenants, span_end, fingerprint, generation_seconds) values ($1, $2, $3, $4, $5)", [
      rows, READ_TENANTS, spanEnd, print, generationSeconds,
    ]);
    return sizes(c);
  });
  logger.info({ database, rows, generationSeconds }, "read data set ready");
  return { database, variant: "migrated", rows, tenants: READ_TENANTS, spanEnd, reused: false, generationSeconds, sizes: s };
}

/**
 * The data set with a capture configuration's SQL applied (e.g. its indexes):
 * a copy of the migrated one, kept and reused while the variant's SQL and the
 * base data set are unchanged.
 */
export async function ensureReadVariant(server: BenchServer, base: ReadDataset, variant: string, logger: Logger): Promise<ReadDataset> {
  if (variant === "migrated") return base;
  const database = `${base.database}_${variant.replace(/[^a-z0-9]+/g, "_")}`.slice(0, 63);
  const url = server.url(database);
  const sql = await variantSql(variant);
  const print = createHash("sha1").update(`${base.spanEnd.toISOString()}:${base.generationSeconds}\n`).update(sql).digest("hex");
  let reused = false;
  if (await databaseExists(server, database)) {
    reused = await withClient(url, async (c) => {
      const r = await c.query<{ v: string }>("select obj_description('bench.dataset'::regclass, 'pg_class') as v");
      return r.rows[0]?.v === print;
    });
  }
  const started = performance.now();
  if (!reused) {
    logger.info({ database, variant }, "copying the read data set and applying the variant (once; later runs reuse it)");
    await dropDatabase(server.rootUrl, database);
    await cloneDatabase(server, base.database, database);
    await withClient(url, async (c) => {
      await c.query("set maintenance_work_mem = '1GB'");
      await c.query(sql);
      await c.query(`comment on table bench.dataset is '${print}'`);
    });
    await withClient(url, (c) => c.query("analyze audit.log"));
  } else {
    logger.info({ database, variant }, "reusing the read data set of the variant");
  }
  const s = await withClient(url, sizes);
  return { ...base, database, variant, reused, generationSeconds: reused ? base.generationSeconds : round((performance.now() - started) / 1000, 1), sizes: s };
}
