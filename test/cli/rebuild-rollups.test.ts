// `npm run rollups:rebuild` as a DBA runs it after a restore: against a real
// database (DATABASE_URL), for everything, one tenant or a range of days;
// what it prints, its exit codes, and clear errors for bad arguments (which
// change nothing).
import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { refreshUntil } from "../db/support/rollups.ts";

const root = path.resolve(import.meta.dirname, "../..");
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/cli/rebuild-rollups.ts", ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The rollup rows of a tenant per day, as "day|event|entries". */
async function dayRows(tenantId: string): Promise<string[]> {
  const { rows } = await db.owner.query<{ r: string }>(
    "select to_char(period_start at time zone 'UTC', 'YYYY-MM-DD') || '|' || event || '|' || entries as r from audit.tenant_rollups where tenant_id = $1 and period = 'day' order by 1",
    [tenantId]);
  return rows.map((x) => x.r);
}

/** What the log holds per day for a tenant, in the same shape. */
async function logRows(tenantId: string): Promise<string[]> {
  const { rows } = await db.owner.query<{ r: string }>(
    `select to_char(date_trunc('day', occurred_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD') || '|' || event || '|' || count(*) as r
       from audit.log where tenant_id = $1 group by date_trunc('day', occurred_at, 'UTC'), event order by 1`,
    [tenantId]);
  return rows.map((x) => x.r);
}

beforeAll(async () => {
  db = await createTestDatabase();
  env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.ownerUrl, LOG_LEVEL: "warn" };
  // Two tenants' entries over five days of March, written as the owner.
  const { rows } = await db.owner.query<{ xid: string }>(
    `with written as (
       insert into audit.log (occurred_at, tenant_id, account_id, actor_type, action, resource_type, entity_id, event)
       select timestamptz '2026-03-01T00:00:00Z' + g * interval '37 minutes', t, null, 'system', 'update', 'settings', 's' || g, 'settings.updated'
         from generate_series(0, 190) g cross join unnest(array[$1::uuid, $2::uuid]) t
       returning transaction_id)
     select max(transaction_id)::text as xid from written`,
    [T1, T2]);
  // Rolled up past them (the xmin horizon is cluster-wide: another test file's open transaction can hold a round back).
  await refreshUntil(db.owner, BigInt(rows[0]!.xid));
});
afterAll(async () => {
  await db?.drop();
});

describe("npm run rollups:rebuild", () => {
  it("recounts everything from the log and says how many entries it counted", async () => {
    await db.owner.query("update audit.tenant_rollups set entries = entries + 5");
    const r = await run();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Rebuilt the rollups of every tenant, every day from the log: 382 entries counted in \d+ ms\.\n$/);
    expect(await dayRows(T1)).toEqual(await logRows(T1));
    expect(await dayRows(T2)).toEqual(await logRows(T2));
  });

  it("recounts one tenant only, or the UTC days of a range only", async () => {
    await db.owner.query("update audit.tenant_rollups set entries = entries + 5");
    const one = await run(["--tenant", T1, "--json"]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ tenant: T1, from: null, to: null, entries: 191 });
    expect(await dayRows(T1)).toEqual(await logRows(T1));
    expect(await dayRows(T2)).not.toEqual(await logRows(T2));

    // 2026-03-02T12:00Z to 2026-03-03T01:00Z: the days of March 2 and 3, whole.
    const range = await run(["--tenant", T2, "--from", "2026-03-02T12:00:00Z", "--to", "2026-03-03T01:00:00Z"]);
    expect(range.code).toBe(0);
    expect(range.stdout).toMatch(/^Rebuilt the rollups of tenant 2222.*, the UTC days from 2026-03-02T12:00:00\.000Z to 2026-03-03T01:00:00\.000Z from the log: 78 entries counted/);
    const rows = await dayRows(T2);
    const want = await logRows(T2);
    for (const [i, row] of rows.entries()) {
      const fixed = row.startsWith("2026-03-02") || row.startsWith("2026-03-03");
      expect(row === want[i], row).toBe(fixed);
    }
    expect((await run()).code).toBe(0);
  });

  it("refuses bad arguments with a clear message and changes nothing", async () => {
    const before = await dayRows(T1);
    for (const [args, message] of [
      [["--tenant", "acme"], /--tenant must be a tenant id \(a UUID\), got "acme"/],
      [["--from", "yesterday"], /--from must be an ISO 8601 instant with a time zone/],
      [["--from", "2026-03-03T00:00:00Z", "--to", "2026-03-02T00:00:00Z"], /--to \(2026-03-02T00:00:00\.000Z\) must be after --from/],
      [["--everything"], /Unknown option '--everything'[\s\S]*usage: npm run rollups:rebuild/],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr).toMatch(/^npm run rollups:rebuild: /);
    }
    expect(await dayRows(T1)).toEqual(before);
  });
});
