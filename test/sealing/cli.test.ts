// `npm run seal` and `npm run verify` as an operator runs them, against a real
// database (DATABASE_URL) with key files: what they print, their exit codes,
// and clear errors for missing keys and bad arguments.
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTenant, entryIds, provision, type Tenant } from "../db/security/support/security.ts";
import { asAttacker } from "./support/sealing.ts";

const root = path.resolve(import.meta.dirname, "../..");
let db: TestDatabase;
let dir: string;
let tenant: Tenant;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: "seal" | "verify", args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`src/cli/${script}.ts`, ...args], { cwd: root, env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `npm run seal` until the given transaction is below the watermark (other test files may hold the horizon). */
async function sealPast(xid: bigint): Promise<Run> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await run("seal");
    const { rows } = await db.owner.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = 'seals'");
    if (BigInt(rows[0]!.w) > xid || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "audit-trail-seal-cli-"));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  await writeFile(path.join(dir, "private.pem"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  await writeFile(path.join(dir, "public.pem"), publicKey.export({ type: "spki", format: "pem" }));
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: db.ownerUrl,
    SEAL_PRIVATE_KEY_FILE: path.join(dir, "private.pem"),
    SEAL_PUBLIC_KEY_FILE: path.join(dir, "public.pem"),
    LOG_LEVEL: "warn",
  };
  tenant = await createTenant(db.app, "Cli");
});
afterAll(async () => {
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("npm run seal", () => {
  it("seals, prints the count and each tenant's newest seal hash", async () => {
    const xid = await provision(db.app, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'Invoices')", [tenant.id, tenant.accountId]));
    await sealPast(xid);
    const r = await run("seal", ["--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const { rows } = await db.owner.query<{ seq: string; seal_hash: string }>(
      "select seq::text, seal_hash from audit.seals where tenant_id = $1 order by seq desc limit 1", [tenant.id]);
    expect(out.heads).toContainEqual({ tenantId: tenant.id, seq: rows[0]!.seq, sealHash: rows[0]!.seal_hash });
    const text = await run("seal");
    expect(text.stdout).toContain(`${tenant.id}  seal ${rows[0]!.seq}  ${rows[0]!.seal_hash}`);
  });

  it("without a private key, with DATABASE_URL set, says which variable it needs", async () => {
    const r = await run("seal", [], { SEAL_PRIVATE_KEY_FILE: "" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^npm run seal: SEAL_PRIVATE_KEY_FILE is required when DATABASE_URL is set/);
  });

  it("a key file that is not an Ed25519 key is refused by name", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" });
    await writeFile(path.join(dir, "rsa.pem"), rsa);
    const r = await run("seal", [], { SEAL_PRIVATE_KEY_FILE: path.join(dir, "rsa.pem") });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SEAL_PRIVATE_KEY_FILE: .*rsa\.pem is not an Ed25519 key but RSA/);
  });
});

describe("npm run verify", () => {
  it("exits 0 on an untouched log, and 1 with the finding after tampering; --json lists it", async () => {
    const xid = await provision(db.app, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'Payroll')", [tenant.id, tenant.accountId]));
    await sealPast(xid);
    const clean = await run("verify", ["--tenant", tenant.id]);
    expect(clean.stdout).toMatch(/No tampering found\./);
    expect(clean.stdout).toMatch(/signatures checked/);
    expect(clean.code).toBe(0);

    const [victim] = await entryIds(db.owner, xid);
    await asAttacker(db.owner, "update audit.log set new_values = '{\"name\": \"Payroll (forged)\"}' where id = $1", [victim]);
    const found = await run("verify", ["--tenant", tenant.id, "--json"]);
    expect(found.code).toBe(1);
    const rounds = JSON.parse(found.stdout) as Array<{ tenant_id: string; round: number | null; status: string; entry_ids: number[]; occurred_from: string | null; occurred_to: string | null }>;
    const modified = rounds.filter((r) => r.status === "modified");
    expect(modified).toEqual([{ tenant_id: tenant.id, round: expect.any(Number), occurred_from: expect.any(String), occurred_to: expect.any(String), status: "modified", entry_ids: [Number(victim)] }]);
    const text = await run("verify", ["--tenant", tenant.id]);
    expect(text.stdout).toMatch(new RegExp(`modified +seal \\d+ .* ids ${victim}`));
    expect(text.stdout).toMatch(/1 finding: the log does not match its seals\./);
    // each run is on record for the page
    const { rows } = await db.owner.query("select verified_by, findings from audit.verifications where tenant_id = $1 order by id desc limit 1", [tenant.id]);
    expect(rows[0]).toEqual({ verified_by: "npm run verify", findings: { modified: 1 } });
  });

  it("without trusted public keys it refuses, unless told to skip signatures", async () => {
    const r = await run("verify", ["--tenant", tenant.id], { SEAL_PUBLIC_KEY_FILE: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SEAL_PUBLIC_KEY_FILE is required when DATABASE_URL is set/);
    const skipped = await run("verify", ["--tenant", tenant.id, "--skip-signatures", "--no-record"], { SEAL_PUBLIC_KEY_FILE: "" });
    expect(skipped.stdout).toMatch(/signatures NOT checked/);
  });

  it("--anchors: what npm run seal printed, kept outside, is checked against the chain", async () => {
    const printed = await run("seal");
    await writeFile(path.join(dir, "anchors.txt"), printed.stdout);
    const ok = await run("verify", ["--tenant", tenant.id, "--anchors", path.join(dir, "anchors.txt"), "--no-record"]);
    expect(ok.stdout).not.toMatch(/chain_broken/);
    const { rows } = await db.owner.query<{ seq: string }>("select max(seq)::text as seq from audit.seals where tenant_id = $1", [tenant.id]);
    await asAttacker(db.owner, "delete from audit.seals where tenant_id = $1 and seq = $2", [tenant.id, rows[0]!.seq]);
    const gone = await run("verify", ["--tenant", tenant.id, "--anchors", path.join(dir, "anchors.txt"), "--no-record"]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(new RegExp(`chain_broken +seal ${rows[0]!.seq}: the anchored seal ${rows[0]!.seq} \\([0-9a-f]{64}\\) is gone`));
  });

  it("bad arguments: exit 2 with the usage", async () => {
    for (const args of [["--tenant", "acme"], ["--from", "yesterday"], ["--from", "2026-12-01", "--to", "2026-11-01"], ["--bogus"], ["--proof", "x.jsonl"],
      ["--anchors", "/nonexistent/anchors.txt"]]) {
      const r = await run("verify", args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^npm run verify: .+\nusage: npm run verify/);
    }
  });
});
