// Golden vectors of the canonical form (version 1): the same entries give the
// same leaf hashes in PostgreSQL (the embedded 18, and 15 when CI runs this
// file against TEST_DATABASE_URL) and in the offline verifier
// (src/sealing/canonical.ts), in a session whose time zone and DateStyle
// are not UTC's. The hashes are pinned: a change to either side that alters a
// single byte fails here, and would need a new canonical version.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leafHash, sealHash, type CanonicalEntry } from "../../src/sealing/canonical.ts";
import { merkleRoot } from "../../src/sealing/merkle.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

const TENANT = "0a1b2c3d-0000-4000-8000-00000000000a";

interface Vector {
  /** What is stored (the values given to PostgreSQL). */
  stored: Record<string, string | null>;
  /** PostgreSQL's text of the jsonb values and the instant in microseconds: what an export carries. */
  text: { occurredAtMicros: string; oldValues: string | null; newValues: string | null; context: string };
  leaf: string;
}

const VECTORS: Vector[] = [
  {
    stored: {
      id: "1", occurred_at: "2026-11-30T10:00:00.123456Z", tenant_id: TENANT, account_id: "0a1b2c3d-0000-4000-8000-00000000000b",
      actor_type: "user", actor_id: "0a1b2c3d-0000-4000-8000-00000000000c", actor_email: "ada@example.test", actor_name: "Ada Lovelace",
      action: "update", resource_type: "process", entity_id: "42", event: "process.updated",
      old_values: '{"price": 1.50, "big": 12345678901234567890, "name": "Lagerbestand prüfen"}',
      new_values: '{"price": 2.0, "big": 12345678901234567891, "name": "Lagerbestand prüfen 😀"}',
      context: '{"ip": "203.0.113.7", "request_id": "r-1"}', transaction_id: "4294967301", entity_label: "Lagerbestand prüfen 😀",
    },
    text: {
      occurredAtMicros: "1796032800123456",
      // numbers exactly as stored (1.50, 20 digits), keys in jsonb's order
      oldValues: '{"big": 12345678901234567890, "name": "Lagerbestand prüfen", "price": 1.50}',
      newValues: '{"big": 12345678901234567891, "name": "Lagerbestand prüfen 😀", "price": 2.0}',
      context: '{"ip": "203.0.113.7", "request_id": "r-1"}',
    },
    leaf: "4c07b5bbc7f588a6ad84b00015acf8db200ec66ce0a05961fa0ceb80195e3f7d",
  },
  {
    // nulls and empty strings differ; an instant before the epoch
    stored: {
      id: "2", occurred_at: "1969-12-31T23:59:59.999999Z", tenant_id: TENANT, account_id: null,
      actor_type: "database_role", actor_id: null, actor_email: "", actor_name: "dba",
      action: "delete", resource_type: "settings", entity_id: "", event: "settings.deleted",
      old_values: '{"b": 1, "a": [true, null, "x\\"y"], "aa": {}}', new_values: null, context: "{}", transaction_id: "7", entity_label: null,
    },
    text: { occurredAtMicros: "-1", oldValues: '{"a": [true, null, "x\\"y"], "b": 1, "aa": {}}', newValues: null, context: "{}" },
    leaf: "b8efebc26d83b66dd8e7152d740b1377d0e2604de0658232c7b2762055518de2",
  },
  {
    // an id beyond JavaScript's safe integers; exponent and negative zero as jsonb keeps them
    stored: {
      id: "9007199254740993", occurred_at: "2000-02-29T00:00:00Z", tenant_id: TENANT, account_id: null,
      actor_type: "system", actor_id: null, actor_email: null, actor_name: null,
      action: "create", resource_type: "tenant", entity_id: "t", event: "tenant.created",
      old_values: null, new_values: '{"n": 1e3, "m": -0.000, "s": "tab\\tnewline\\n"}', context: '{"k": "v"}', transaction_id: "8", entity_label: "",
    },
    text: { occurredAtMicros: "951782400000000", oldValues: null, newValues: '{"m": 0.000, "n": 1000, "s": "tab\\tnewline\\n"}', context: '{"k": "v"}' },
    leaf: "554ef57ef88b052e09bf915246270ab90882e491cec2efb8ebe4eeaf807c6be1",
  },
];

const MERKLE_OF_AA_BB_CC = "9633b0ce0937fab8c998ffa595193755199f36aa16faab36fc024c80a50531e7";
const SEAL = {
  fields: {
    tenantId: TENANT, seq: "3", fromXid: "100", toXid: "200", sealedThroughXid: "250", entryCount: "2", firstId: "1", lastId: "2",
    occurredFromMicros: "1796032800123456", occurredToMicros: "1796032801000000", merkleRoot: "ab".repeat(32), previousHash: "cd".repeat(32),
    supersedes: null, reason: null, keyId: "0123456789abcdef", sealedAtMicros: "1796032860000000",
  },
  hash: "835faa8e890cff7eefc7e41ba54685a59efcdebb65d64a6c210ac4bd729a7f9b",
};

function offlineEntry(v: Vector): CanonicalEntry {
  const s = v.stored;
  return {
    id: s.id!, occurredAtMicros: v.text.occurredAtMicros, tenantId: s.tenant_id!, accountId: s.account_id!, actorType: s.actor_type!,
    actorId: s.actor_id!, actorEmail: s.actor_email!, actorName: s.actor_name!, action: s.action!, resourceType: s.resource_type!,
    entityId: s.entity_id!, event: s.event!, oldValues: v.text.oldValues, newValues: v.text.newValues, context: v.text.context,
    transactionId: s.transaction_id!, entityLabel: s.entity_label!,
  };
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function inOddSession<T>(work: (c: import("pg").PoolClient) => Promise<T>): Promise<T> {
  const c = await db.owner.connect();
  try {
    await c.query("set timezone = 'America/New_York'");
    await c.query("set datestyle = 'SQL, DMY'");
    await c.query("set extra_float_digits = -3");
    return await work(c);
  } finally {
    await c.query("reset all");
    c.release();
  }
}

describe("golden vectors (canonical form version 1)", () => {
  it.each(VECTORS.map((v, i) => [i + 1, v] as const))("entry %i: PostgreSQL, the offline verifier and the pinned hash agree", async (_n, v) => {
    const s = v.stored;
    const { rows } = await inOddSession((c) =>
      c.query<{ leaf: string; old: string | null; new: string | null; context: string; micros: string; version: string }>(
        `select encode(audit_private.entry_leaf_hash(row($1::bigint, $2::timestamptz, $3::uuid, $4::uuid, $5::audit.actor_type, $6::uuid, $7, $8, $9,
                  $10, $11, $12, $13::jsonb, $14::jsonb, $15::jsonb, $16::bigint, $17)::audit.log), 'hex') as leaf,
                $13::jsonb::text as old, $14::jsonb::text as new, $15::jsonb::text as context,
                audit_private.micros($2::timestamptz) as micros, current_setting('server_version_num') as version`,
        [s.id, s.occurred_at, s.tenant_id, s.account_id, s.actor_type, s.actor_id, s.actor_email, s.actor_name, s.action,
          s.resource_type, s.entity_id, s.event, s.old_values, s.new_values, s.context, s.transaction_id, s.entity_label],
      ),
    );
    const r = rows[0]!;
    expect({ old: r.old, new: r.new, context: r.context, micros: r.micros }).toEqual({
      old: v.text.oldValues, new: v.text.newValues, context: v.text.context, micros: v.text.occurredAtMicros,
    });
    expect(r.leaf).toBe(v.leaf);
    expect(leafHash(offlineEntry(v)).toString("hex")).toBe(v.leaf);
  });

  it("an entry stored in the log hashes the same when read back", async () => {
    const v = VECTORS[0]!;
    const s = v.stored;
    await db.owner.query(
      `insert into audit.log (id, occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type,
                              entity_id, event, old_values, new_values, context, transaction_id, entity_label)
       overriding system value
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
      [s.id, s.occurred_at, s.tenant_id, s.account_id, s.actor_type, s.actor_id, s.actor_email, s.actor_name, s.action,
        s.resource_type, s.entity_id, s.event, s.old_values, s.new_values, s.context, s.transaction_id, s.entity_label],
    );
    const { rows } = await inOddSession((c) =>
      c.query<{ leaf: string }>("select encode(audit_private.entry_leaf_hash(l), 'hex') as leaf from audit.log l where l.id = 1 and l.tenant_id = $1", [TENANT]));
    expect(rows[0]!.leaf).toBe(v.leaf);
  });

  it("the Merkle root and the seal hash agree with the pinned values", async () => {
    const { rows } = await inOddSession((c) =>
      c.query<{ root: string; seal: string }>(
        `select encode(audit_private.merkle_root(array[decode(repeat('aa', 32), 'hex'), decode(repeat('bb', 32), 'hex'), decode(repeat('cc', 32), 'hex')]), 'hex') as root,
                audit_private.seal_hash($1, 3, 100, 200, 250, 2, 1, 2, '2026-11-30T10:00:00.123456Z', '2026-11-30T10:00:01Z',
                                        repeat('ab', 32), repeat('cd', 32), null, null, '0123456789abcdef', '2026-11-30T10:01:00Z') as seal`,
        [TENANT],
      ),
    );
    expect(rows[0]!.root).toBe(MERKLE_OF_AA_BB_CC);
    expect(merkleRoot([Buffer.alloc(32, 0xaa), Buffer.alloc(32, 0xbb), Buffer.alloc(32, 0xcc)]).toString("hex")).toBe(MERKLE_OF_AA_BB_CC);
    expect(rows[0]!.seal).toBe(SEAL.hash);
    expect(sealHash(SEAL.fields)).toBe(SEAL.hash);
  });
});
