// The single-row write transactions of section 1, and the two ways of
// driving them with 4 concurrent clients: pgbench (C, light on the client
// side) when installed, else node-postgres. Each transaction is what an
// application does: begin; audit.set_context(actor); one write; commit —
// four round trips, prepared statements.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import pg from "pg";
import type { BenchServer } from "./server.ts";
import { workDir } from "./server.ts";

const run = promisify(execFile);

/** The fixture's shape (bench/sql/write-fixtures.sql). */
export interface FixtureSize {
  tenants: number;
  accounts: number;
  users: number;
  processes: number;
  jobs: number;
}

interface TxnType {
  name: string;
  description: string;
  /** The write; `:name` are random integers from `vars`. */
  write: string;
}

const CONTEXT_SQL =
  "select audit.set_context(jsonb_build_object('actor_id', md5('user:' || :t::text || ':' || :u::text)::uuid, " +
  "'request_id', 'req-' || :r::text, 'ip', '10.1.2.3'))";

export function transactionTypes(f: FixtureSize): TxnType[] {
  const { tenants: T, accounts: A, users: U } = f;
  return [
    {
      name: "process_update",
      description: "update of a process's description",
      write: "update app.processes set description = 'Reviewed in request ' || :r::text where id = md5('process:' || :p::text)::uuid",
    },
    {
      name: "job_completion",
      description: "terminal update of a running job",
      write: "update app.jobs set status = 'completed', finished_at = now() where id = (select md5('job:' || nextval('bench.job_seq')::text)::uuid)",
    },
    {
      name: "membership_insert",
      description: "insert of an account membership",
      write:
        "insert into app.memberships (tenant_id, account_id, user_id, role) " +
        `select md5('tenant:' || (k % ${T}))::uuid, md5('account:' || (k % ${T}) || ':' || ((k / ${T}) % ${A}))::uuid, ` +
        `md5('user:' || (k % ${T}) || ':' || ((k / ${T * A}) % ${U}))::uuid, 'member' from nextval('bench.membership_seq') k`,
    },
    {
      name: "settings_update",
      description: "update of the account's RPA credentials (a secret, redacted)",
      write:
        "update app.settings set value = jsonb_build_object('username', 'robot-' || :r::text, 'password', md5(:r::text), " +
        "'endpoint', 'https://rpa.example.test/' || :a::text) where id = md5('setting:' || :t::text || ':' || :a::text)::uuid",
    },
  ];
}

function ranges(f: FixtureSize): Record<string, [number, number]> {
  return { t: [0, f.tenants - 1], u: [0, f.users - 1], a: [0, f.accounts - 1], p: [0, f.processes - 1], r: [1, 1_000_000_000] };
}

export interface RunResult {
  transactions: number;
  seconds: number;
  tps: number;
  failed: number;
}

export interface RunSpec {
  server: BenchServer;
  database: string;
  clients: number;
  seconds: number;
  synchronousCommit: "on" | "off";
  fixture: FixtureSize;
  /** pgbench only: a fixed rate (transactions/s over all clients, --rate) instead of as fast as possible. */
  rate?: number;
  /** pgbench only: write every transaction's latency to files named PREFIX.<pid>[.<thread>] (--log). */
  logPrefix?: string;
}

export async function findPgbench(): Promise<{ path: string; version: string } | null> {
  try {
    const { stdout } = await run("pgbench", ["--version"]);
    return { path: "pgbench", version: stdout.trim() };
  } catch {
    return null;
  }
}

async function writePgbenchScripts(f: FixtureSize): Promise<string[]> {
  const dir = `${workDir}pgbench/`;
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const t of transactionTypes(f)) {
    const vars = Object.entries(ranges(f)).map(([name, [lo, hi]]) => `\\set ${name} random(${lo}, ${hi})`);
    const body = [...vars, "begin;", `${CONTEXT_SQL};`, `${t.write};`, "commit;", ""].join("\n");
    const file = `${dir}${t.name}.sql`;
    await writeFile(file, body);
    files.push(file);
  }
  return files;
}

export async function runPgbench(spec: RunSpec): Promise<RunResult> {
  const files = await writePgbenchScripts(spec.fixture);
  const args = [
    "-n", "-M", "prepared", "-c", String(spec.clients), "-j", String(Math.min(2, spec.clients)), "-T", String(spec.seconds),
    "-h", spec.server.host, "-p", String(spec.server.port), "-U", "app_user",
    ...(spec.rate ? ["--rate", String(spec.rate)] : []),
    ...(spec.logPrefix ? ["--log", "--log-prefix", spec.logPrefix] : []),
    ...files.flatMap((f) => ["-f", `${f}@1`]),
    spec.database,
  ];
  const { stdout } = await run("pgbench", args, {
    env: { ...process.env, PGPASSWORD: spec.server.appUserPassword, PGOPTIONS: `-c synchronous_commit=${spec.synchronousCommit}` },
    maxBuffer: 10 * 1024 * 1024,
  });
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!processed || !tps) throw new Error(`could not read pgbench's output:\n${stdout}`);
  const transactions = Number(processed[1]);
  return { transactions, tps: Number(tps[1]), seconds: transactions / Number(tps[1]), failed: failed ? Number(failed[1]) : 0 };
}

/** The same workload from node-postgres, for machines without pgbench. */
export async function runNodeClients(spec: RunSpec): Promise<RunResult> {
  const types = transactionTypes(spec.fixture);
  const rng = ranges(spec.fixture);
  const toPositional = (sql: string) => {
    const names: string[] = [];
    const text = sql.replace(/(?<!:):([a-z])\b/g, (_m, name: string) => {
      let i = names.indexOf(name);
      if (i < 0) i = names.push(name) - 1;
      return `$${i + 1}`;
    });
    return { text, names };
  };
  const context = toPositional(CONTEXT_SQL);
  const writes = types.map((t) => ({ name: t.name, ...toPositional(t.write) }));
  const url = spec.server.url(spec.database, "app");
  const clients = await Promise.all(
    Array.from({ length: spec.clients }, async () => {
      const c = new pg.Client({ connectionString: url, options: `-c synchronous_commit=${spec.synchronousCommit}` });
      await c.connect();
      return c;
    }),
  );
  const draw = () => Object.fromEntries(Object.entries(rng).map(([k, [lo, hi]]) => [k, lo + Math.floor(Math.random() * (hi - lo + 1))]));
  let transactions = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + spec.seconds * 1000;
  try {
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < deadline) {
          const v = draw();
          const w = writes[Math.floor(Math.random() * writes.length)]!;
          try {
            await c.query("begin");
            await c.query({ name: "ctx", text: context.text, values: context.names.map((n) => v[n]) });
            await c.query({ name: w.name, text: w.text, values: w.names.map((n) => v[n]) });
            await c.query("commit");
            transactions++;
          } catch {
            failed++;
            await c.query("rollback").catch(() => undefined);
          }
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const seconds = (performance.now() - started) / 1000;
  return { transactions, seconds, tps: transactions / seconds, failed };
}
