// Crash without loss: audited writes from several clients through the
// application role (single-row and bulk inserts, updates, deletes, and a
// transaction mixing them) while the PostgreSQL server is killed hard (SIGKILL
// of the postmaster and every process it started, like a power cut) at random
// moments, then restarted. Afterwards, for every transaction:
//   committed (the client saw COMMIT succeed): its business change and all its
//     entries exist and match;
//   in doubt (COMMIT sent, no answer): both exist, or neither;
//   failed before COMMIT: neither exists;
// and no entry exists without its business change.
//
// Runs on a cluster of its own (the embedded binaries, a fresh data folder),
// never on the cluster the other test files share nor on TEST_DATABASE_URL.
// Run in a child process (crash-run.ts): the killed cluster's handle cannot
// be stopped cleanly, and the process exits explicitly when done.
import { randomUUID } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { withCredentials, withDatabase } from "../../../src/config.ts";
import { createDatabaseIfMissing, setRolePasswords } from "../../../src/db/admin.ts";
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresServer } from "../../../src/db/embedded.ts";
import { migrateDatabase } from "../../../src/db/migrate.ts";
import type { Logger } from "../../../src/log.ts";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

export interface CrashOptions {
  dataDir: string;
  /** Concurrent writing clients. */
  clients: number;
  /** Hard crashes during the run (at least one). */
  crashes: number;
  /** Seconds of load in all, crashes spread over it at random moments. */
  seconds: number;
  /** Seed of the workload's choices and the crash moments. */
  seed: number;
  /**
   * Commit without waiting for the WAL flush (synchronous_commit = off for
   * the application role): commits acknowledged in the last moments before a
   * crash are lost. Only to show that the checks catch a lost commit.
   */
  asyncCommit?: boolean;
  logger: Logger;
}

type Kind = "process.create" | "process.update" | "settings.insert" | "settings.update" | "settings.delete" | "mixed";
type Outcome = "committed" | "in_doubt" | "failed";

interface Txn {
  tag: string;
  kind: Kind;
  outcome: Outcome;
  /** The settings group (key prefix) or process the transaction targets. */
  target: string;
  /** Rows the transaction changes in its target group (settings kinds). */
  rows: number;
}

export interface CrashResult {
  ok: boolean;
  crashes: number;
  transactions: { committed: number; inDoubt: number; failed: number; byKind: Record<string, number> };
  /** In-doubt transactions found applied (both change and entries) and not applied (neither). */
  inDoubtResolved: { applied: number; notApplied: number };
  entriesChecked: number;
  problems: string[];
  seconds: number;
}

const ACCOUNTS = 2;

/** A seeded generator (pure-rand): the same seed, the same choices. */
function random(seed: number): () => number {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** SIGKILL the postmaster and every process it started. */
async function killHard(owner: string): Promise<number> {
  const client = new pg.Client({ connectionString: owner });
  await client.connect();
  const dataDirectory = (await client.query<{ d: string }>("select current_setting('data_directory') as d")).rows[0]!.d;
  await client.end();
  const postmaster = Number.parseInt((await readFile(path.join(dataDirectory, "postmaster.pid"), "utf8")).split("\n")[0]!, 10);
  // Stopped first, the postmaster forks no backend between the scan below and
  // the kill: a backend forked in that gap outlived it, attached to the shared
  // memory, and the restart refused to start ("pre-existing shared memory
  // block is still in use"). All at once, as in a power cut.
  process.kill(postmaster, "SIGSTOP");
  const children: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid …: comm may hold spaces and parentheses
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "", 10);
    if (ppid === postmaster) children.push(Number(entry));
  }
  for (const pid of [postmaster, ...children]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  // wait until every one of them is gone, as after a power cut
  for (let i = 0; i < 200; i++) {
    const alive = [];
    for (const pid of [postmaster, ...children]) {
      // a zombie has let go of its memory; one nobody reaps stays forever
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      if (stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") alive.push(pid);
    }
    if (alive.length === 0) break;
    await sleep(25);
  }
  return children.length + 1;
}

export async function runCrashScenario(o: CrashOptions): Promise<CrashResult> {
  const started = Date.now();
  const rnd = random(o.seed);
  const log = o.logger.child({ component: "crash" });
  const start = async (): Promise<EmbeddedPostgresServer> => {
    // After a hard kill the restart runs crash recovery; retry while the
    // killed processes' resources are released. A new port each attempt: while
    // the server was down, another cluster on this machine (a parallel test
    // file) may have taken the old one.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startEmbeddedPostgres({ dataDir: o.dataDir, port: await freePort(), logger: o.logger });
      } catch (err) {
        if (attempt >= 40) throw err;
        log.warn({ attempt, err: err instanceof Error ? err.message : String(err) }, "restart failed; retrying");
        await sleep(250);
      }
    }
  };
  let server = await start();
  await createDatabaseIfMissing(server.rootUrl, "crash");
  // The URLs follow the server: each restart may be on another port.
  const ownerUrl = () => withDatabase(server.rootUrl, "crash");
  await migrateDatabase(ownerUrl(), o.logger);
  await setRolePasswords(server.rootUrl, { app_user: server.credentials.appUserPassword });
  if (o.asyncCommit) {
    const c = new pg.Client({ connectionString: ownerUrl() });
    await c.connect();
    await c.query("alter role app_user in database crash set synchronous_commit = off");
    // and the WAL writer nearly idle, so that acknowledged commits are still
    // unflushed when the kill comes, however busy the machine is
    await c.query("alter system set wal_writer_delay = '10s'");
    await c.query("alter system set wal_writer_flush_after = '64MB'");
    await c.query("select pg_reload_conf()");
    await c.end();
  }
  const appUrl = () => withCredentials(ownerUrl(), "app_user", server.credentials.appUserPassword);

  // One tenant, its accounts, one user per client, one process per client to update.
  const tenantId = randomUUID();
  const accountIds = Array.from({ length: ACCOUNTS }, () => randomUUID());
  const userIds = Array.from({ length: o.clients }, () => randomUUID());
  {
    const setup = new pg.Client({ connectionString: appUrl() });
    await setup.connect();
    await setup.query("begin");
    await setup.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_type: "system", actor_name: "crash-setup" })]);
    await setup.query("insert into app.tenants (id, name) values ($1, 'Crash test')", [tenantId]);
    for (const [i, id] of accountIds.entries()) await setup.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, $3)", [id, tenantId, `Account ${i}`]);
    for (const [i, id] of userIds.entries()) {
      await setup.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, $3, $4)", [id, tenantId, `writer${i}@crash.test`, `Writer ${i}`]);
    }
    await setup.query("commit");
    await setup.end();
  }

  const txns: Txn[] = [];
  // The load (and the crash schedule) starts once the database is ready.
  const loadStarted = Date.now();
  const deadline = loadStarted + o.seconds * 1000;
  let stopping = false;

  // The writers: each serial, reconnecting after a crash.
  const writer = async (w: number) => {
    const userId = userIds[w]!;
    const accountId = accountIds[w % ACCOUNTS]!;
    // What this writer may still touch: groups and processes whose last
    // transaction is known (committed), and not yet deleted / updated.
    const groups: { key: string; rows: number; updated: boolean }[] = [];
    const processes: { id: string; updated: boolean }[] = [];
    let seq = 0;
    let client: pg.Client | null = null;
    while (!stopping && Date.now() < deadline) {
      if (!client) {
        const c = new pg.Client({ connectionString: appUrl(), connectionTimeoutMillis: 2000 });
        c.on("error", () => undefined);
        try {
          await c.connect();
          client = c;
        } catch {
          await sleep(100);
          continue;
        }
      }
      const tag = `w${w}-${++seq}`;
      // choose a kind the writer's state allows
      const candidates: Kind[] = ["process.create", "settings.insert", "mixed"];
      if (processes.some((p) => !p.updated)) candidates.push("process.update");
      if (groups.some((g) => !g.updated)) candidates.push("settings.update");
      if (groups.length) candidates.push("settings.delete");
      const kind = candidates[Math.floor(rnd() * candidates.length)]!;
      const rows = 5 + Math.floor(rnd() * 200);
      let txn: Txn;
      let apply: (c: pg.Client) => Promise<void>;
      let onCommit: () => void = () => undefined;
      switch (kind) {
        case "process.create": {
          const id = randomUUID();
          txn = { tag, kind, outcome: "failed", target: id, rows: 1 };
          apply = async (c) => {
            await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, $4)", [id, tenantId, accountId, tag]);
          };
          onCommit = () => processes.push({ id, updated: false });
          break;
        }
        case "process.update": {
          const p = processes.find((x) => !x.updated)!;
          p.updated = true; // touched once, whatever the outcome
          txn = { tag, kind, outcome: "failed", target: p.id, rows: 1 };
          apply = async (c) => {
            await c.query("update app.processes set description = $2 where id = $1", [p.id, tag]);
          };
          break;
        }
        case "settings.insert": {
          txn = { tag, kind, outcome: "failed", target: tag, rows };
          apply = async (c) => {
            await c.query(
              `insert into app.settings (tenant_id, account_id, key, value)
               select $1, $2, $3 || '.' || g, jsonb_build_object('n', g, 'password', 'secret-' || g) from generate_series(1, $4::int) g`,
              [tenantId, accountId, tag, rows]);
          };
          onCommit = () => groups.push({ key: tag, rows, updated: false });
          break;
        }
        case "settings.update": {
          const g = groups.find((x) => !x.updated)!;
          g.updated = true;
          txn = { tag, kind, outcome: "failed", target: g.key, rows: g.rows };
          apply = async (c) => {
            await c.query("update app.settings set value = to_jsonb($2::text) where tenant_id = $1 and key like $3 || '.%'", [tenantId, tag, g.key]);
          };
          break;
        }
        case "settings.delete": {
          const g = groups.splice(Math.floor(rnd() * groups.length), 1)[0]!;
          txn = { tag, kind, outcome: "failed", target: g.key, rows: g.rows };
          apply = async (c) => {
            await c.query("delete from app.settings where tenant_id = $1 and key like $2 || '.%'", [tenantId, g.key]);
          };
          break;
        }
        case "mixed": {
          const id = randomUUID();
          txn = { tag, kind, outcome: "failed", target: id, rows };
          apply = async (c) => {
            await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, $4)", [id, tenantId, accountId, tag]);
            await c.query(
              `insert into app.settings (tenant_id, account_id, key, value)
               select $1, $2, $3 || '.' || g, to_jsonb(g) from generate_series(1, $4::int) g`,
              [tenantId, accountId, tag, rows]);
          };
          break;
        }
      }
      txns.push(txn);
      let commitSent = false;
      try {
        await client.query("begin");
        await client.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_id: userId, request_id: tag })]);
        await apply(client);
        commitSent = true;
        await client.query("commit");
        txn.outcome = "committed";
        onCommit();
      } catch {
        txn.outcome = commitSent ? "in_doubt" : "failed";
        client.end().catch(() => undefined);
        client = null;
      }
    }
    await client?.end().catch(() => undefined);
  };

  // The crashes: at random moments over the run, each followed by a restart.
  let crashes = 0;
  const crasher = async () => {
    const moments = Array.from({ length: o.crashes }, () => 0.15 + rnd() * 0.7).sort((a, b) => a - b);
    for (const m of moments) {
      const at = loadStarted + m * o.seconds * 1000;
      while (Date.now() < at) await sleep(20);
      const killed = await killHard(server.rootUrl);
      crashes++;
      log.info({ crash: crashes, processesKilled: killed, transactionsSoFar: txns.length }, "server killed");
      server = await start();
      log.info({ crash: crashes }, "server restarted after crash recovery");
    }
  };

  await Promise.all([crasher(), ...Array.from({ length: o.clients }, (_, w) => writer(w))]);
  stopping = true;

  const result = await verify(ownerUrl(), tenantId, txns, crashes);
  await server.stop();
  await rm(o.dataDir, { recursive: true, force: true }).catch(() => undefined);
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  return result;
}

async function verify(ownerUrl: string, tenantId: string, txns: Txn[], crashes: number): Promise<CrashResult> {
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const problems: string[] = [];
  try {
    // Every entry of the run, by the request id each transaction set.
    const { rows: entryRows } = await owner.query<{ tag: string; n: number; events: string[]; new_value_tags: number }>(
      `select context->>'request_id' as tag, count(*)::int as n, array_agg(distinct event order by event) as events,
              count(*) filter (where new_values->'value' = to_jsonb(context->>'request_id'))::int as new_value_tags
         from audit.log where tenant_id = $1 and context ? 'request_id' group by 1`,
      [tenantId]);
    const entries = new Map(entryRows.map((r) => [r.tag, r]));
    const known = new Set(txns.map((t) => t.tag));
    for (const tag of entries.keys()) if (!known.has(tag)) problems.push(`entries with request id ${tag}, which no transaction of the run set`);

    const processes = new Map(
      (await owner.query<{ id: string; name: string; description: string | null }>("select id, name, description from app.processes where tenant_id = $1", [tenantId]))
        .rows.map((r) => [r.id, r]));
    const settingsByGroup = new Map<string, { n: number; valueTags: Map<string, number> }>();
    for (const r of (await owner.query<{ grp: string; value: unknown }>(
      "select split_part(key, '.', 1) as grp, value from app.settings where tenant_id = $1", [tenantId])).rows) {
      const g = settingsByGroup.get(r.grp) ?? { n: 0, valueTags: new Map() };
      g.n++;
      if (typeof r.value === "string") g.valueTags.set(r.value, (g.valueTags.get(r.value) ?? 0) + 1);
      settingsByGroup.set(r.grp, g);
    }
    const processNames = new Set([...processes.values()].map((p) => p.name));
    const deletedBy = new Map<string, Txn>();
    for (const t of txns) if (t.kind === "settings.delete") deletedBy.set(t.target, t);
    const deletedFor = (group: string) => {
      const d = deletedBy.get(group);
      if (!d) return false;
      const e = entries.get(d.tag);
      return d.outcome === "committed" || (d.outcome === "in_doubt" && e !== undefined);
    };

    let applied = 0;
    let notApplied = 0;
    let checked = 0;
    for (const t of txns) {
      const e = entries.get(t.tag);
      const n = e?.n ?? 0;
      checked += n;
      const expectedEntries = t.kind === "mixed" ? t.rows + 1 : t.rows;
      // Did the business change happen? (independently of the log)
      let change: boolean;
      switch (t.kind) {
        case "process.create":
        case "mixed":
          change = processNames.has(t.tag);
          if (t.kind === "mixed" && change !== ((settingsByGroup.get(t.tag)?.n ?? 0) === t.rows)) {
            problems.push(`${t.tag} (mixed, ${t.outcome}): its process and its settings disagree (a torn transaction)`);
          }
          break;
        case "process.update":
          change = processes.get(t.target)?.description === t.tag;
          break;
        case "settings.insert":
          change = deletedFor(t.tag) ? n > 0 : (settingsByGroup.get(t.tag)?.n ?? 0) === t.rows;
          if (!deletedFor(t.tag) && ![0, t.rows].includes(settingsByGroup.get(t.tag)?.n ?? 0)) {
            problems.push(`${t.tag} (settings.insert, ${t.outcome}): ${settingsByGroup.get(t.tag)?.n} of ${t.rows} rows (a torn statement)`);
          }
          break;
        case "settings.update": {
          const g = settingsByGroup.get(t.target);
          const withTag = g?.valueTags.get(t.tag) ?? 0;
          change = deletedFor(t.target) ? n > 0 : withTag === t.rows;
          if (!deletedFor(t.target) && ![0, t.rows].includes(withTag)) problems.push(`${t.tag} (settings.update, ${t.outcome}): ${withTag} of ${t.rows} rows updated`);
          break;
        }
        case "settings.delete":
          change = (settingsByGroup.get(t.target)?.n ?? 0) === 0;
          break;
      }
      const complete = n === expectedEntries;
      if (n !== 0 && !complete) problems.push(`${t.tag} (${t.kind}, ${t.outcome}): ${n} entries, expected ${expectedEntries} or none`);
      if (e && t.kind === "settings.update" && e.new_value_tags !== n) problems.push(`${t.tag}: entries whose new value is not the transaction's`);
      switch (t.outcome) {
        case "committed":
          if (!complete) problems.push(`${t.tag} (${t.kind}) committed but has ${n} of ${expectedEntries} entries`);
          if (!change) problems.push(`${t.tag} (${t.kind}) committed but its business change is missing`);
          break;
        case "in_doubt":
          if (complete !== change) problems.push(`${t.tag} (${t.kind}) in doubt: change ${change ? "present" : "absent"} but entries ${n}/${expectedEntries}`);
          if (complete && change) applied++;
          else notApplied++;
          break;
        case "failed":
          if (n !== 0) problems.push(`${t.tag} (${t.kind}) failed before COMMIT but has ${n} entries`);
          if (change) problems.push(`${t.tag} (${t.kind}) failed before COMMIT but its change exists`);
          break;
      }
    }
    const byKind: Record<string, number> = {};
    for (const t of txns) byKind[t.kind] = (byKind[t.kind] ?? 0) + 1;
    return {
      ok: problems.length === 0 && crashes > 0,
      crashes,
      transactions: {
        committed: txns.filter((t) => t.outcome === "committed").length,
        inDoubt: txns.filter((t) => t.outcome === "in_doubt").length,
        failed: txns.filter((t) => t.outcome === "failed").length,
        byKind,
      },
      inDoubtResolved: { applied, notApplied },
      entriesChecked: checked,
      problems: problems.slice(0, 50),
      seconds: 0,
    };
  } finally {
    await owner.end();
  }
}
