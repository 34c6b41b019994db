// Shared helpers of the tamper-evidence tests: a signing key, sealing rounds
// that wait (with a deadline) until the transactions we wrote are sealed,
// and the attacker: a superuser who edits the log and the seals behind
// every trigger (session_replication_role = replica switches them off).
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import pg from "pg";
import { inTransaction } from "../../../src/db/transaction.ts";
import { keyIdOf } from "../../../src/sealing/keys.ts";
import { sealDueRounds, type SigningKey } from "../../../src/sealing/sealer.ts";
import { verifyLog, type RoundResult, type VerifyOptions } from "../../../src/sealing/verifier.ts";
import { until, watermark } from "../../db/security/support/security.ts";

export interface TestKeys {
  signing: SigningKey;
  publicKeys: Map<string, KeyObject>;
}

export function testKeys(): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const keyId = keyIdOf(publicKey);
  return { signing: { key: privateKey, keyId }, publicKeys: new Map([[keyId, publicKey]]) };
}

/** Seals until the 'seals' watermark has passed every transaction id in `xids` (other test files' transactions may hold the cluster-wide horizon back for a while). */
export async function sealUntil(owner: pg.Pool, signing: SigningKey, ...xids: bigint[]): Promise<void> {
  const target = xids.reduce((a, b) => (b > a ? b : a), 0n);
  const client = await owner.connect();
  try {
    await until(`the sealer to seal transaction ${target}`, async () => {
      await sealDueRounds(client, signing);
      const w = await watermark(client, "seals");
      return w !== null && w > target ? true : undefined;
    });
  } finally {
    client.release();
  }
}

/** Runs `sql` as a superuser behind the triggers (the append-only guards and the journal do not fire). */
export async function asAttacker(owner: pg.Pool, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return inTransaction(owner, async (c) => {
    await c.query("set local session_replication_role = replica");
    return c.query(sql, params);
  });
}

/** The Node verifier (npm run verify's) for one tenant, hashing on two connections like the CLI. */
export async function verifyTenant(owner: pg.Pool, tenantId: string, options: Partial<VerifyOptions> = {}): Promise<RoundResult[]> {
  const client = await owner.connect();
  try {
    const connectionString = (owner as unknown as { options: { connectionString: string } }).options.connectionString;
    const result = await verifyLog(client, { tenantId, publicKeys: null, unsealedAfterMs: 120_000, connectionString, ...options });
    return result.rounds;
  } finally {
    client.release();
  }
}

export interface SqlRound {
  seq: string | null;
  status: string;
  entry_ids: string[] | null;
  detail: string | null;
}

/** audit.verify() for one tenant, as the owner. */
export async function verifyTenantInSql(owner: pg.Pool, tenantId: string): Promise<SqlRound[]> {
  const { rows } = await owner.query<SqlRound>(
    "select seq::text, status, entry_ids::text[], detail from audit.verify($1)",
    [tenantId],
  );
  return rows;
}

/** The findings (status other than ok) as "seq:status:ids", comparable between the two verifiers. */
export function findingsOf(rounds: Array<{ seq: string | null; status: string; entryIds?: string[]; entry_ids?: string[] | null }>): string[] {
  return rounds
    .filter((r) => r.status !== "ok" && r.status !== "bad_signature")
    .map((r) => `${r.seq ?? "-"}:${r.status}:${(r.entryIds ?? r.entry_ids ?? []).join(",")}`)
    .sort();
}
