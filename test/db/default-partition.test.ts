// Entries waiting in the default partition (history imported before its
// years' partitions existed) are moved into their partitions in batches,
// each its own transaction, while audited writes go on without waiting for
// the move; a stopped move loses nothing and the next run finishes it; the
// server answers /healthz while it moves.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maintainPartitions, moveDefaultRows } from "../../src/db/migrate.ts";
import { createLogger } from "../../src/log.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, type Landscape } from "../support/fixtures.ts";
import { startProcess } from "../support/start-process.ts";

const root = path.resolve(import.meta.dirname, "../..");
const logger = createLogger("warn");

let db: TestDatabase;
let l: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
});
afterAll(async () => {
  await db?.drop();
});

/** Imports `count` entries dated at random in [from, from + days), as a DBA would, into the default partition. */
async function importHistory(target: pg.Pool, tenant: Landscape, count: number, from: string, days: number): Promise<void> {
  await target.query(
    `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                            action, resource_type, entity_id, event, old_values, new_values, context)
     select $3::timestamptz + random() * make_interval(days => $4), $1, $2, 'user', $5, 'ada@acme.test', 'Ada Admin',
            'update', 'process', 'p-' || (g % 500), 'process.updated',
            jsonb_build_object('description', 'Imported process ' || g, 'status', 'draft'),
            jsonb_build_object('description', 'Imported process ' || g || ', reviewed', 'status', 'active'),
            jsonb_build_object('request_id', 'import-' || g, 'ip', '203.0.113.7', 'user_agent', 'history-import/1.0')
       from generate_series(1, $6::int) g`,
    [tenant.tenantId, tenant.accountId, from, days, tenant.adminId, count],
  );
}

async function count(target: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await target.query<{ n: string }>(sql, params);
  return Number(rows[0]!.n);
}

async function partitions(target: pg.Pool): Promise<string[]> {
  const { rows } = await target.query<{ name: string }>(
    "select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass order by 1");
  return rows.map((r) => r.name);
}

/** Repeats `work` until stopped, recording how long each run took. */
function loop(work: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      const t0 = performance.now();
      await work(i);
      latencies.push(performance.now() - t0);
    }
  })();
  return {
    latencies,
    async stop() {
      running = false;
      await done;
    },
  };
}

describe("moving entries out of the default partition", () => {
  it("moves 80,000 entries of two past years in batches while audited writes go on: nothing lost or duplicated, no write waits for the move", async () => {
    // 2019 and 2020 interleaved, as an import in no particular order leaves them
    await importHistory(db.owner, l, 80_000, "2019-01-01T00:00:00Z", 731);
    await db.owner.query("create table public.imported as select id from audit.log_default");
    const imported = await count(db.owner, "select count(*) as n from public.imported");
    expect(imported).toBe(80_000);
    expect(await partitions(db.owner)).not.toContain("log_2019");

    // Audited writes of today, through the application's role, all along.
    const writes = loop((i) =>
      asUser(db.app, l.adminId, (c) => c.query("update app.processes set description = $1 where id = $2", [`rev ${i}`, l.processId])));
    // More history arriving meanwhile: it lands in the default partition, wherever the move is.
    // An insert routed to the default partition just before the attach and
    // checked after it is refused by PostgreSQL (the default partition's
    // bounds changed under it); an importer retries it.
    const late: string[] = [];
    let refusedAtAttach = 0;
    const backdated = loop(async () => {
      try {
        const { rows } = await db.owner.query<{ id: string }>(
          `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_name, action, resource_type, entity_id, event)
           values ('2019-06-01T00:00:00Z'::timestamptz + random() * interval '150 days', $1, $2, 'system', 'importer',
                   'create', 'process', 'late', 'process.created') returning id`, [l.tenantId, l.accountId]);
        late.push(rows[0]!.id);
      } catch (err) {
        if ((err as { code?: string }).code !== "23514") throw err;
        refusedAtAttach++;
      }
      await new Promise((r) => setTimeout(r, 5));
    });
    // A reader of the whole log (waits only for the attach).
    const reads = loop(() => db.owner.query("select count(*) from audit.log where tenant_id = $1", [l.tenantId]));

    await new Promise((r) => setTimeout(r, 200));
    const result = await moveDefaultRows(db.ownerUrl, logger, { batchEntries: 5_000 });
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all([writes.stop(), backdated.stop(), reads.stop()]);

    expect(result.stopped).toBe(false);
    expect(result.attached.sort()).toEqual(["log_2019", "log_2020"]);
    expect(result.batches).toBeGreaterThan(10);
    // nothing left behind, nothing staged
    expect(await count(db.owner, "select count(*) as n from audit.log_default")).toBe(0);
    expect(await count(db.owner, "select count(*) as n from audit_private.staged_log_partitions()")).toBe(0);
    expect(await count(db.owner, "select count(*) as n from pg_constraint where conname = 'staged_partition_range'")).toBe(0);
    // every imported entry once, in its year's partition, and every late one
    expect(await count(db.owner,
      "select count(*) as n from public.imported i where not exists (select from audit.log l where l.id = i.id and l.occurred_at < '2021-01-01')")).toBe(0);
    expect(await count(db.owner, "select count(*) as n from audit.log where id = any($1::bigint[]) and tableoid = 'audit.log_2019'::regclass", [late])).toBe(late.length);
    expect(late.length).toBeGreaterThan(10);
    expect(refusedAtAttach).toBeLessThanOrEqual(2);
    const historic = await db.owner.query<{ n: string; ids: string }>(
      "select count(*) as n, count(distinct id) as ids from audit.log where occurred_at < '2021-01-01'");
    expect(Number(historic.rows[0]!.n)).toBe(imported + late.length);
    expect(Number(historic.rows[0]!.ids)).toBe(imported + late.length);
    expect(await count(db.owner, "select count(*) as n from audit.log_2019 where occurred_at >= '2020-01-01'")).toBe(0);
    // the audited writes all recorded, in this year's partition
    expect(await count(db.owner, "select count(*) as n from audit.log where entity_id = $1 and event = 'process.updated' and occurred_at > now() - interval '1 hour'",
      [l.processId])).toBe(writes.latencies.length);
    // ... and none of them waited for the move: the longest is a small part of it
    const moveMs = result.seconds * 1000;
    const longestWrite = Math.max(...writes.latencies);
    expect(writes.latencies.length).toBeGreaterThan(20);
    expect(longestWrite).toBeLessThan(Math.min(1_000, moveMs / 4));
    console.info(
      `moved ${result.moved} entries in ${Math.round(moveMs)} ms (${Math.round(result.moved / result.seconds)}/s, ${result.batches} batches, ` +
        `longest ${Math.round(result.longestBatchMs)} ms, attach ${Math.round(result.attachMs)} ms); ${writes.latencies.length} audited writes, ` +
        `longest ${Math.round(longestWrite)} ms; longest read ${Math.round(Math.max(...reads.latencies))} ms`,
    );
    await db.owner.query("drop table public.imported");
  });

  it("a move stopped between batches loses nothing, and the next run finishes it", async () => {
    await importHistory(db.owner, l, 20_000, "2016-01-01T00:00:00Z", 366);
    const controller = new AbortController();
    // Stops after the third batch: progress is logged after every batch here.
    let reports = 0;
    const counting = pino({ level: "info" }, new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (chunk.toString().includes('"msg":"moving entries out of the default partition"') && ++reports === 3) controller.abort();
        callback();
      },
    }));
    const stopped = await moveDefaultRows(db.ownerUrl, counting, { batchEntries: 2_000, progressEveryMs: 0, signal: controller.signal });
    expect(stopped.stopped, JSON.stringify(stopped)).toBe(true);
    expect(stopped.batches).toBe(3);
    expect(stopped.attached).toEqual([]);
    // the entries are in the default partition or in the staged table, each once
    const inDefault = await count(db.owner, "select count(*) as n from audit.log_default");
    const staged = await count(db.owner, "select count(*) as n from audit.log_2016");
    expect(staged).toBe(stopped.moved);
    expect(staged).toBeGreaterThan(0);
    expect(inDefault + staged).toBe(20_000);
    expect(await partitions(db.owner)).not.toContain("log_2016");

    const finished = await maintainPartitions(db.ownerUrl, logger);
    expect(finished.move?.attached).toEqual(["log_2016"]);
    expect(await partitions(db.owner)).toContain("log_2016");
    expect(await count(db.owner, "select count(*) as n from audit.log_default")).toBe(0);
    expect(await count(db.owner, "select count(distinct id) as n from audit.log_2016")).toBe(20_000);
  });

  it("the server listens and answers /healthz while it moves, and stops between two batches on SIGINT", { timeout: 120_000 }, async () => {
    const other = await createTestDatabase();
    try {
      const tenant = await createLandscape(other.app, "Globex");
      await importHistory(other.owner, tenant, 30_000, "2017-01-01T00:00:00Z", 365);
      const server = startProcess(root, {
        ...process.env,
        DATABASE_URL: other.ownerUrl,
        AUTH_DATABASE_URL: other.authUrl,
        JWT_SECRET: randomBytes(36).toString("base64url"),
        PORT: "0",
        LOG_LEVEL: "info",
      });
      const { lines, exited } = server;
      const ready = await server.ready;
      expect(ready, lines.map((x) => x.msg).join("\n") + server.stderr()).not.toBeNull();
      const health = await fetch(`${ready!.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", database: "ok" });
      const finishedBefore = lines.some((x) => x.msg.startsWith("moved the entries of the default partition"));
      expect(finishedBefore).toBe(false);
      // moving: wait for the first batches, then stop the server
      for (let i = 0; i < 100 && (await count(other.owner, "select count(*) as n from audit_private.staged_log_partitions()")) === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      server.child.kill("SIGINT");
      expect(await exited).toBe(0);
      const stopped = lines.find((x) => x.msg.startsWith("stopped moving entries"));
      expect(stopped, lines.map((x) => x.msg).join("\n")).toBeDefined();
      // every entry once: in the default partition or staged
      const inDefault = await count(other.owner, "select count(*) as n from audit.log_default");
      const staged = await count(other.owner, "select count(*) as n from audit.log_2017");
      expect(staged).toBe(stopped!.moved);
      expect(inDefault + staged).toBe(30_000);
      // the next run (here `npm run migrate`'s) ends it
      await maintainPartitions(other.ownerUrl, logger);
      expect(await count(other.owner, "select count(distinct id) as n from audit.log_2017")).toBe(30_000);
      expect(await count(other.owner, "select count(*) as n from audit.log_default")).toBe(0);
    } finally {
      await other.drop();
    }
  });
});
