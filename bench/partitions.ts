// Section 5: partition maintenance under write load. Four app_user clients
// run audited single-row transactions without pause while the owner runs
//   noop       audit.ensure_partitions() with nothing to create
//   create     audit.ensure_partitions(n) creating one new partition (a year)
//   behind-reader  the same, while an admin's read transaction on audit.log
//              is open (a long report; a tenant admin of the fixture's
//              first tenant, in the role and with the claims the API sets):
//              DDL that needs a lock conflicting with the reader queues, and
//              writers may queue behind it
// and records every write transaction's latency: the longest stall is the
// slowest write that overlapped the maintenance, next to the slowest
// outside any maintenance.
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { setTransactionScope } from "../src/server/scoped-query.ts";
import type { BenchServer } from "./server.ts";
import { percentile, round, sleep } from "./stats.ts";
import type { WriteDatabase } from "./write-database.ts";

export interface MaintenanceEvent {
  scenario: "noop" | "create" | "behind-reader";
  repetition: number;
  maintenanceMs: number;
  partitionsCreated: number;
  longestOverlappingWriteMs: number;
  writesDuring: number;
}

export interface PartitionsResult {
  variant: string;
  writers: number;
  readerHoldMs: number;
  baseline: { writes: number; p50Ms: number; p99Ms: number; maxMs: number };
  events: MaintenanceEvent[];
  worstStallMs: Record<MaintenanceEvent["scenario"], number>;
}

interface Span {
  start: number;
  end: number;
}

const WRITERS = 4;

export async function measurePartitions(
  server: BenchServer,
  db: WriteDatabase,
  opts: { repetitions: number; readerHoldMs: number },
  logger: Logger,
): Promise<PartitionsResult> {
  const owner = new pg.Client({ connectionString: server.url(db.name) });
  const reader = new pg.Client({ connectionString: server.url(db.name, "auth") });
  await Promise.all([owner.connect(), reader.connect()]);
  const writers = await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      const c = new pg.Client({ connectionString: server.url(db.name, "app") });
      await c.connect();
      return c;
    }),
  );
  const spans: Span[] = [];
  let stop = false;
  const { tenants: T, users: U, processes: P } = db.fixture;
  const writeLoops = writers.map(async (c, w) => {
    let i = w;
    while (!stop) {
      i += WRITERS;
      const start = performance.now();
      await c.query("begin");
      await c.query("select audit.set_context(jsonb_build_object('actor_id', md5('user:' || $1::text || ':' || $2::text)::uuid))", [i % T, i % U]);
      await c.query("update app.processes set description = 'Maintenance probe ' || $1::text where id = md5('process:' || $2::text)::uuid", [i, i % P]);
      await c.query("commit");
      spans.push({ start, end: performance.now() });
    }
  });

  // months_ahead for ensure_partitions that reaches the first month no
  // partition covers (the end of the last yearly or monthly partition), so
  // that the call creates exactly one partition.
  const nextMonthsAhead = async () => {
    const { rows } = await owner.query<{ n: number }>(
      `select coalesce(max(((extract(year from e) - extract(year from cur)) * 12 + extract(month from e) - extract(month from cur))::int), 0) as n
         from (select case when c.relname ~ '^log_[0-9]{4}$' then make_date(substr(c.relname, 5, 4)::int + 1, 1, 1)
                           else (to_date(substr(c.relname, 5), 'YYYY_MM') + interval '1 month')::date end as e,
                      date_trunc('month', now() at time zone 'UTC') as cur
                 from pg_inherits i join pg_class c on c.oid = i.inhrelid
                where i.inhparent = 'audit.log'::regclass and c.relname ~ '^log_[0-9]{4}(_[0-9]{2})?$') s`,
    );
    return rows[0]!.n;
  };

  // The admin's read transaction: a tenant admin of tenant 0 (write-fixtures.sql ids).
  const { rows: ids } = await owner.query<{ tenant: string; user: string }>("select md5('tenant:0')::uuid::text as tenant, md5('user:0:0')::uuid::text as user");
  const readerClaims = { userId: ids[0]!.user, tenantId: ids[0]!.tenant, role: "tenant_admin", accountId: null } as const;

  const events: MaintenanceEvent[] = [];
  const windows: Span[] = [];
  try {
    await sleep(1500); // writers reach a steady state
    for (let rep = 1; rep <= opts.repetitions; rep++) {
      for (const scenario of ["noop", "create", "behind-reader"] as const) {
        let readerDone: Promise<unknown> = Promise.resolve();
        if (scenario === "behind-reader") {
          await reader.query("begin");
          await setTransactionScope(reader, readerClaims, { statementTimeoutMs: 60_000 });
          await reader.query("select count(*) from (select 1 from audit.log limit 1000) s");
          readerDone = sleep(opts.readerHoldMs).then(() => reader.query("commit"));
          await sleep(20);
        }
        const monthsAhead = scenario === "noop" ? 3 : await nextMonthsAhead();
        const start = performance.now();
        const { rows } = await owner.query<{ created: number }>("select audit.ensure_partitions($1) as created", [monthsAhead]);
        const end = performance.now();
        await readerDone;
        windows.push({ start, end });
        await sleep(700); // let writes that started during the window finish
        const overlapping = spans.filter((s) => s.start < end && s.end > start);
        const event: MaintenanceEvent = {
          scenario,
          repetition: rep,
          maintenanceMs: round(end - start, 1),
          partitionsCreated: rows[0]!.created,
          longestOverlappingWriteMs: round(Math.max(0, ...overlapping.map((s) => s.end - s.start)), 1),
          writesDuring: overlapping.length,
        };
        events.push(event);
        logger.info({ variant: db.variant, ...event }, "partition maintenance");
        await sleep(800);
      }
    }
  } finally {
    stop = true;
    await Promise.allSettled(writeLoops);
    await Promise.all([owner.end(), reader.end(), ...writers.map((c) => c.end())]);
  }
  const outside = spans.filter((s) => !windows.some((w) => s.start < w.end + 50 && s.end > w.start - 50)).map((s) => s.end - s.start);
  const worst = (scenario: MaintenanceEvent["scenario"]) =>
    round(Math.max(0, ...events.filter((e) => e.scenario === scenario).map((e) => e.longestOverlappingWriteMs)), 1);
  return {
    variant: db.variant,
    writers: WRITERS,
    readerHoldMs: opts.readerHoldMs,
    baseline: {
      writes: outside.length,
      p50Ms: round(percentile(outside, 50), 2),
      p99Ms: round(percentile(outside, 99), 2),
      maxMs: round(Math.max(0, ...outside), 1),
    },
    events,
    worstStallMs: { noop: worst("noop"), create: worst("create"), "behind-reader": worst("behind-reader") },
  };
}
