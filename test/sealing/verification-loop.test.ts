// The server's periodic verification: it records each run for the page, and
// a restart soon after a run does not verify everything again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import { startVerification } from "../../src/sealing/verification-loop.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTenant, provision } from "../db/security/support/security.ts";
import { sealUntil, testKeys } from "./support/sealing.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe("startVerification", () => {
  it("verifies and records the result; a restart within half an interval skips the run", async () => {
    const keys = testKeys();
    const tenant = await createTenant(db.app, "Verified");
    const xid = await provision(db.app, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'p')", [tenant.id, tenant.accountId]));
    await sealUntil(db.owner, keys.signing, xid);
    const options = { connectionString: db.ownerUrl, publicKeys: keys.publicKeys, intervalMs: 3_600_000, unsealedAfterMs: 120_000, logger: createLogger("silent") };

    const first = startVerification(options);
    const result = await first.firstRun;
    await first.stop();
    expect(result?.tenants.find((t) => t.tenantId === tenant.id)?.findings).toEqual({});
    const { rows } = await db.owner.query("select verified_by, findings, signatures_checked from audit.verifications where tenant_id = $1", [tenant.id]);
    expect(rows).toEqual([{ verified_by: "server", findings: {}, signatures_checked: true }]);

    const restarted = startVerification(options);
    expect(await restarted.firstRun).toBeNull();
    await restarted.stop();
    const { rows: after } = await db.owner.query("select count(*)::int as n from audit.verifications where tenant_id = $1", [tenant.id]);
    expect(after[0]!.n).toBe(1);
  });
});
