// Section 4: what an audit entry costs on disk. A typical update (a process's
// description) of every fixture process, interleaved across tenants as real
// traffic is, captured into an emptied audit.log; then heap, TOAST and each
// index of audit.log per entry, against the business row's own size.
import pg from "pg";
import type { BenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { setCaptureMode, type WriteDatabase } from "./write-database.ts";

export interface StorageResult {
  variant: string;
  entries: number;
  auditEntry: {
    avgTupleBytes: number;
    heapBytesPerEntry: number;
    toastBytesPerEntry: number;
    indexBytesPerEntry: Record<string, number>;
    totalBytesPerEntry: number;
  };
  businessRow: {
    table: string;
    rows: number;
    avgTupleBytes: number;
    heapBytesPerRow: number;
    indexBytesPerRow: number;
    totalBytesPerRow: number;
  };
  /** Audit entry total / business row total. */
  entryToRowRatio: number;
}

export async function measureStorage(server: BenchServer, db: WriteDatabase): Promise<StorageResult> {
  const owner = new pg.Client({ connectionString: server.url(db.name) });
  await owner.connect();
  try {
    await setCaptureMode(owner, "statement");
    await owner.query("begin; set local audit.maintenance = 'on'; truncate audit.log; commit");
    await owner.query("vacuum full analyze app.processes");
    const business = (
      await owner.query<{ rows: string; avg: string; heap: string; idx: string }>(
        `select count(*) as rows, avg(pg_column_size(p.*)) as avg,
                pg_relation_size('app.processes') as heap, pg_indexes_size('app.processes') as idx
           from app.processes p`,
      )
    ).rows[0]!;
    await owner.query("begin");
    await owner.query("set local role app_user");
    await owner.query("select audit.set_context(jsonb_build_object('actor_id', md5('user:0:1')::uuid, 'request_id', 'storage', 'ip', '10.1.2.3'))");
    await owner.query("update app.processes set description = description || ' (reviewed)'");
    await owner.query("commit");
    await owner.query("analyze audit.log");

    const audit = (
      await owner.query<{ entries: string; avg: string; heap: string; toast: string }>(
        `select (select count(*) from audit.log) as entries,
                (select avg(pg_column_size(l.*)) from audit.log l) as avg,
                sum(pg_relation_size(c.oid)) as heap,
                sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)) as toast
           from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = 'audit.log'::regclass`,
      )
    ).rows[0]!;
    const indexes = await owner.query<{ name: string; bytes: string }>(
      `select pi.relname as name, sum(pg_relation_size(ci.inhrelid)) as bytes
         from pg_index x join pg_class pi on pi.oid = x.indexrelid
         join pg_inherits ci on ci.inhparent = x.indexrelid
        where x.indrelid = 'audit.log'::regclass
        group by pi.relname order by pi.relname`,
    );
    const entries = Number(audit.entries);
    const rows = Number(business.rows);
    const per = (bytes: string | number) => round(Number(bytes) / entries, 1);
    const indexBytesPerEntry = Object.fromEntries(indexes.rows.map((r) => [r.name, per(r.bytes)]));
    const heapBytesPerEntry = per(audit.heap);
    const toastBytesPerEntry = per(audit.toast);
    const totalBytesPerEntry = round(heapBytesPerEntry + toastBytesPerEntry + Object.values(indexBytesPerEntry).reduce((a, b) => a + b, 0), 1);
    const heapBytesPerRow = round(Number(business.heap) / rows, 1);
    const indexBytesPerRow = round(Number(business.idx) / rows, 1);
    return {
      variant: db.variant,
      entries,
      auditEntry: { avgTupleBytes: round(Number(audit.avg), 1), heapBytesPerEntry, toastBytesPerEntry, indexBytesPerEntry, totalBytesPerEntry },
      businessRow: {
        table: "app.processes",
        rows,
        avgTupleBytes: round(Number(business.avg), 1),
        heapBytesPerRow,
        indexBytesPerRow,
        totalBytesPerRow: round(heapBytesPerRow + indexBytesPerRow, 1),
      },
      entryToRowRatio: round(totalBytesPerEntry / (heapBytesPerRow + indexBytesPerRow), 2),
    };
  } finally {
    await owner.end();
  }
}
