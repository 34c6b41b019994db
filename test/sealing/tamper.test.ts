// Tamper evidence from the attacker's side: a superuser edits, deletes and
// forges entries and seals behind every trigger; `verify` (the Node verifier
// of `npm run verify`, and audit.verify() in SQL) names each finding with its
// round and entry ids, and nothing on an untouched log. Late commits are
// sealed in a later round; journaled maintenance is maintenance, not tampering.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { keyIdOf } from "../../src/sealing/keys.ts";
import { sealDueRounds } from "../../src/sealing/sealer.ts";
import { hasFindings, parseAnchors } from "../../src/sealing/verifier.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createTenant, entryIds, ownerWithClaims, provision, type Tenant } from "../db/security/support/security.ts";
import { asAttacker, findingsOf, sealUntil, testKeys, verifyTenant, verifyTenantInSql, type TestKeys } from "./support/sealing.ts";

let db: TestDatabase;
let keys: TestKeys;

beforeAll(async () => {
  db = await createTestDatabase();
  keys = testKeys();
});
afterAll(async () => {
  await db?.drop();
});

/** A tenant with three sealed rounds of process creations (2, 3 and 1 entries); returns the rounds' entry ids. */
async function sealedTenant(name: string): Promise<{ tenant: Tenant; rounds: string[][] }> {
  const tenant = await createTenant(db.app, name);
  const rounds: string[][] = [];
  for (const n of [2, 3, 1]) {
    const xid = await provision(db.app, (c) =>
      c.query(
        "insert into app.processes (tenant_id, account_id, name) select $1, $2, 'p' || g from generate_series(1, $3) g",
        [tenant.id, tenant.accountId, n],
      ),
    );
    await sealUntil(db.owner, keys.signing, xid);
    rounds.push(await entryIds(db.owner, xid));
  }
  return { tenant, rounds };
}

async function sealOf(tenantId: string, entryId: string): Promise<string> {
  const { rows } = await db.owner.query<{ seq: string }>(
    "select seq::text from audit.seals where tenant_id = $1 and $2::bigint = any (entry_ids) order by seq desc limit 1",
    [tenantId, entryId],
  );
  return rows[0]!.seq;
}

async function bothVerifiers(tenantId: string) {
  const node = await verifyTenant(db.owner, tenantId, { publicKeys: keys.publicKeys });
  const sql = await verifyTenantInSql(db.owner, tenantId);
  expect(findingsOf(sql)).toEqual(findingsOf(node));
  return node;
}

describe("an untouched log", () => {
  it("verifies ok, every seal, in Node with signatures and in SQL", async () => {
    const { tenant } = await sealedTenant("Untouched");
    const rounds = await bothVerifiers(tenant.id);
    expect(rounds.length).toBeGreaterThanOrEqual(3); // three rounds (the tenant's creation may share the first)
    expect(rounds.every((r) => r.status === "ok")).toBe(true);
    const { rows } = await db.owner.query("select status from audit.verify($1)", [tenant.id]);
    expect(rows.every((r) => r.status === "ok")).toBe(true);
  });

  it("each tenant's seals chain from 1 without gaps and tile the transactions", async () => {
    const { tenant } = await sealedTenant("Chained");
    const { rows } = await db.owner.query<{ seq: string; from_xid: string; to_xid: string; previous_hash: string | null; seal_hash: string }>(
      "select seq::text, from_xid::text, to_xid::text, previous_hash, seal_hash from audit.seals where tenant_id = $1 order by seq",
      [tenant.id],
    );
    rows.forEach((s, i) => {
      expect(s.seq).toBe(String(i + 1));
      expect(s.previous_hash).toBe(i === 0 ? null : rows[i - 1]!.seal_hash);
      expect(s.from_xid).toBe(i === 0 ? "0" : rows[i - 1]!.to_xid);
    });
  });
});

describe("a superuser behind the triggers", () => {
  it("edits an entry's values: modified, with the entry id and its round", async () => {
    const { tenant, rounds } = await sealedTenant("Edited");
    const victim = rounds[1]![1]!;
    await asAttacker(db.owner, "update audit.log set new_values = new_values || '{\"name\": \"forged\"}' where id = $1", [victim]);
    const result = await bothVerifiers(tenant.id);
    expect(findingsOf(result)).toEqual([`${await sealOf(tenant.id, victim)}:modified:${victim}`]);
  });

  it("deletes an entry: missing", async () => {
    const { tenant, rounds } = await sealedTenant("Deleted");
    const victim = rounds[0]![0]!;
    const seq = await sealOf(tenant.id, victim);
    await asAttacker(db.owner, "delete from audit.log where id = $1", [victim]);
    expect(findingsOf(await bothVerifiers(tenant.id))).toEqual([`${seq}:missing:${victim}`]);
  });

  it("inserts a forged entry into a sealed round: inserted", async () => {
    const { tenant, rounds } = await sealedTenant("Forged");
    const seq = await sealOf(tenant.id, rounds[1]![0]!);
    const { rows } = await asAttacker(
      db.owner,
      `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_name, action, resource_type, entity_id, event, new_values, transaction_id)
       select l.occurred_at, l.tenant_id, l.account_id, 'user', 'Ada Admin', 'delete', 'process', 'x', 'process.deleted', null, l.transaction_id
         from audit.log l where l.id = $1
       returning id::text`,
      [rounds[1]![0]],
    );
    expect(findingsOf(await bothVerifiers(tenant.id))).toEqual([`${seq}:inserted:${rows[0].id}`]);
  });

  it("deletes every entry of a round: all of them missing", async () => {
    const { tenant, rounds } = await sealedTenant("Emptied");
    const seq = await sealOf(tenant.id, rounds[1]![0]!);
    await asAttacker(db.owner, "delete from audit.log where id = any($1::bigint[])", [rounds[1]]);
    expect(findingsOf(await bothVerifiers(tenant.id))).toEqual([`${seq}:missing:${rounds[1]!.join(",")}`]);
  });

  it("deletes a seal in the middle of the chain: chain broken, its entries unsealed", async () => {
    const { tenant, rounds } = await sealedTenant("Unchained");
    const seq = BigInt(await sealOf(tenant.id, rounds[1]![0]!));
    await asAttacker(db.owner, "delete from audit.seals where tenant_id = $1 and seq = $2", [tenant.id, seq.toString()]);
    const result = await bothVerifiers(tenant.id);
    const broken = result.filter((r) => r.status === "chain_broken");
    expect(broken.map((r) => r.seq)).toEqual([String(seq + 1n), String(seq + 1n)]);
    expect(broken.map((r) => r.detail).sort()).toEqual([
      expect.stringMatching(/^its previous_hash does not match|predecessor, is missing/),
      expect.stringMatching(/^transactions \d+ to \d+ are covered by no seal$/),
    ].sort());
    expect(result.find((r) => r.status === "unsealed")?.entryIds).toEqual(rounds[1]);
    expect(findingsOf(result).some((f) => f.startsWith(`${seq + 1n}:chain_broken`))).toBe(true);
  });

  it("alters a seal: its hash no longer matches, and its signature fails", async () => {
    const { tenant, rounds } = await sealedTenant("Altered");
    const seq = await sealOf(tenant.id, rounds[1]![0]!);
    await asAttacker(db.owner, "update audit.seals set entry_count = entry_count + 1 where tenant_id = $1 and seq = $2", [tenant.id, seq]);
    const result = await bothVerifiers(tenant.id);
    expect(result.filter((r) => r.status === "chain_broken" && r.seq === seq).map((r) => r.detail)).toEqual([
      "the seal does not match its hash: it was altered",
      "its entry list does not match its Merkle root or count",
    ]);
    expect(result.filter((r) => r.status === "bad_signature").map((r) => r.seq)).toEqual([seq]);
  });

  it("re-hashes an altered seal: the next seal's link breaks, and the signature still fails", async () => {
    const { tenant, rounds } = await sealedTenant("Rehashed");
    const seq = await sealOf(tenant.id, rounds[0]![0]!);
    const victim = rounds[0]![0]!;
    // edit an entry and rebuild its seal the way the database computes seals
    await asAttacker(db.owner, "update audit.log set actor_name = 'Nobody' where id = $1", [victim]);
    await asAttacker(
      db.owner,
      `update audit.seals s set entry_hashes = h.hashes, merkle_root = encode(audit_private.merkle_root(h.hashes), 'hex')
         from (select array_agg(audit_private.entry_leaf_hash(l) order by l.id) as hashes
                 from audit.log l, audit.seals s2 where s2.tenant_id = $1 and s2.seq = $2 and l.id = any (s2.entry_ids)) h
        where s.tenant_id = $1 and s.seq = $2`,
      [tenant.id, seq],
    );
    await asAttacker(
      db.owner,
      `update audit.seals s set seal_hash = audit_private.seal_hash(s.tenant_id, s.seq, s.from_xid, s.to_xid, s.sealed_through_xid, s.entry_count,
              s.first_id, s.last_id, s.occurred_from, s.occurred_to, s.merkle_root, s.previous_hash, s.supersedes, s.reason, s.key_id, s.sealed_at)
        where s.tenant_id = $1 and s.seq = $2`,
      [tenant.id, seq],
    );
    const result = await bothVerifiers(tenant.id);
    expect(result.filter((r) => r.status === "bad_signature").map((r) => r.seq)).toEqual([seq]);
    expect(result.filter((r) => r.status === "chain_broken").map((r) => r.seq)).toEqual([String(BigInt(seq) + 1n)]);
    expect(result.some((r) => r.status === "modified")).toBe(false); // the entries match the forged seal
  });

  it("a seal signed by an untrusted key: bad signature (Node only: SQL cannot check signatures)", async () => {
    const { tenant } = await sealedTenant("Untrusted");
    const other = generateKeyPairSync("ed25519").publicKey;
    const result = await verifyTenant(db.owner, tenant.id, { publicKeys: new Map([[keyIdOf(other), other]]) });
    expect(result.filter((r) => r.status === "bad_signature").length).toBeGreaterThanOrEqual(3);
    expect(result.find((r) => r.status === "bad_signature")!.detail).toMatch(/not among the trusted public keys/);
  });

  it("reports nothing about another tenant's untouched log while one is tampered", async () => {
    const { tenant: clean } = await sealedTenant("Bystander");
    const { tenant: hit, rounds } = await sealedTenant("Target");
    await asAttacker(db.owner, "delete from audit.log where id = $1", [rounds[2]![0]]);
    expect(findingsOf(await verifyTenant(db.owner, clean.id))).toEqual([]);
    expect(findingsOf(await verifyTenant(db.owner, hit.id))).toHaveLength(1);
  });
});

describe("the newest seal, anchored outside the database", () => {
  it("removing the newest seal with its entries (and winding the sealer back) looks like a sealer behind, until the anchor is checked", async () => {
    const { tenant, rounds } = await sealedTenant("Anchored");
    const { rows: newest } = await db.owner.query<{ seq: string; seal_hash: string; from_xid: string }>(
      "select seq::text, seal_hash, from_xid::text from audit.seals where tenant_id = $1 order by seq desc limit 1", [tenant.id]);
    const head = newest[0]!;
    // what `npm run seal` printed, kept by the tenant
    const kept = `Newest seal per tenant (keep these outside the database: they anchor each tenant's chain):\n  ${tenant.id}  seal ${head.seq}  ${head.seal_hash}\n`;
    const anchors = parseAnchors(kept);
    expect(anchors).toEqual([{ tenantId: tenant.id, seq: head.seq, sealHash: head.seal_hash }]);
    expect(findingsOf(await verifyTenant(db.owner, tenant.id, { anchors }))).toEqual([]);

    await asAttacker(db.owner, "delete from audit.log where id = any($1::bigint[])", [rounds[2]]);
    await asAttacker(db.owner, "delete from audit.seals where tenant_id = $1 and seq = $2", [tenant.id, head.seq]);
    expect(findingsOf(await verifyTenant(db.owner, tenant.id))).toEqual([]); // nothing to see without the anchor
    const found = await verifyTenant(db.owner, tenant.id, { anchors });
    expect(found.filter((r) => r.status !== "ok").map((r) => [r.seq, r.status, r.detail])).toEqual([
      [head.seq, "chain_broken", `the anchored seal ${head.seq} (${head.seal_hash}) is gone: seals were removed`],
    ]);
  });

  it("a rewritten chain (the anchored seal replaced by another) does not match the anchor", async () => {
    const { tenant } = await sealedTenant("Rewritten");
    const { rows } = await db.owner.query<{ seq: string; seal_hash: string }>(
      "select seq::text, seal_hash from audit.seals where tenant_id = $1 order by seq desc limit 1", [tenant.id]);
    const anchors = [{ tenantId: tenant.id, seq: rows[0]!.seq, sealHash: rows[0]!.seal_hash }];
    await asAttacker(db.owner, "update audit.seals set seal_hash = repeat('0', 64) where tenant_id = $1 and seq = $2", [tenant.id, rows[0]!.seq]);
    const found = await verifyTenant(db.owner, tenant.id, { anchors });
    expect(found.some((r) => r.seq === rows[0]!.seq && r.status === "chain_broken" && /not the anchored seal/.test(r.detail ?? ""))).toBe(true);
  });

  it("anchors are read from what npm run seal prints, or plain lines; a file without any is refused", () => {
    expect(parseAnchors("7d9c0a39-3b0e-4d8a-9c51-2f3d4e5a6b7c 12 " + "a".repeat(64))).toEqual([
      { tenantId: "7d9c0a39-3b0e-4d8a-9c51-2f3d4e5a6b7c", seq: "12", sealHash: "a".repeat(64) },
    ]);
    expect(() => parseAnchors("Sealed 3 seals\n")).toThrow(/no anchor in it/);
  });
});

describe("rounds and late commits", () => {
  it("a transaction that commits late is sealed in a later round, in the seal whose range holds it", async () => {
    const tenant = await createTenant(db.app, "Late");
    const late = await db.app.connect();
    try {
      await late.query("begin");
      await late.query("select audit.set_context('{\"actor_type\": \"system\", \"actor_name\": \"slow job\"}')");
      await late.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'slow')", [tenant.id, tenant.accountId]);
      const { rows } = await late.query<{ xid: string }>("select txid_current()::text as xid");
      const lateXid = BigInt(rows[0]!.xid);
      // a later transaction commits first
      const early = await provision(db.app, (c) =>
        c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'quick')", [tenant.id, tenant.accountId]));
      const client = await db.owner.connect();
      try {
        await sealDueRounds(client, keys.signing);
      } finally {
        client.release();
      }
      // the open transaction holds the horizon: neither is sealed yet
      const sealedIds = async () =>
        (await db.owner.query<{ id: string }>("select unnest(entry_ids)::text as id from audit.seals where tenant_id = $1", [tenant.id])).rows.map((r) => r.id);
      const earlyIds = await entryIds(db.owner, early);
      expect(await sealedIds()).not.toContain(earlyIds[0]);
      await late.query("commit");
      await sealUntil(db.owner, keys.signing, lateXid, early);
      const lateIds = await entryIds(db.owner, lateXid);
      expect(await sealedIds()).toEqual(expect.arrayContaining([...lateIds, ...earlyIds]));
      const { rows: covering } = await db.owner.query<{ ok: boolean }>(
        "select $2::bigint >= from_xid and $2::bigint < to_xid as ok from audit.seals where tenant_id = $1 and $3::bigint = any (entry_ids)",
        [tenant.id, lateXid.toString(), lateIds[0]],
      );
      expect(covering.map((r) => r.ok)).toEqual([true]);
      expect(findingsOf(await bothVerifiers(tenant.id))).toEqual([]);
    } finally {
      await late.query("rollback").catch(() => undefined);
      late.release();
    }
  });
});

describe("journaled maintenance", () => {
  it("is reported as maintenance with its reason, then re-sealed", async () => {
    const { tenant, rounds } = await sealedTenant("Maintained");
    const victim = rounds[1]![0]!;
    const seq = await sealOf(tenant.id, victim);
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("set local audit.maintenance = 'on'");
      await client.query("set local audit.maintenance_reason = 'erasure request #42'");
      await client.query("update audit.log set actor_name = 'erased' where id = $1", [victim]);
      await client.query("commit");
    } finally {
      client.release();
    }
    const { rows: journal } = await db.owner.query(
      "select operation, changed_columns, reason, changed_by from audit.maintenance_journal where entry_id = $1", [victim]);
    expect(journal).toEqual([{ operation: "update", changed_columns: ["actor_name"], reason: "erasure request #42", changed_by: expect.any(String) }]);

    // before the sealer runs again: maintenance, not modified; no finding
    const before = await bothVerifiers(tenant.id);
    expect(findingsOf(before)).toEqual([`${seq}:maintenance:${victim}`]);
    expect(before.find((r) => r.status === "maintenance")!.detail).toBe("erasure request #42");
    expect(hasFindings({ rounds: before, tenants: [], signaturesChecked: true, ms: 0 })).toBe(false);

    // the next round re-seals that range with the reason
    const { rows: x } = await db.owner.query<{ xid: string }>("select txid_current()::text as xid");
    await sealUntil(db.owner, keys.signing, BigInt(x[0]!.xid));
    const { rows: reseal } = await db.owner.query(
      "select supersedes::text, reason from audit.seals where tenant_id = $1 and supersedes is not null", [tenant.id]);
    expect(reseal).toEqual([{ supersedes: seq, reason: "erasure request #42" }]);
    const after = await bothVerifiers(tenant.id);
    expect(after.filter((r) => r.status === "maintenance").map((r) => [r.seq, r.detail])).toEqual([[seq, expect.stringContaining("erasure request #42")]]);
    expect(after.filter((r) => !["ok", "maintenance"].includes(r.status))).toEqual([]);
  });

  it("a deletion in maintenance is journaled and not reported missing", async () => {
    const { tenant, rounds } = await sealedTenant("Erased");
    const victim = rounds[2]![0]!;
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("set local audit.maintenance = 'on'");
      await client.query("set local audit.maintenance_reason = 'tenant erasure'");
      await client.query("delete from audit.log where id = $1", [victim]);
      await client.query("commit");
    } finally {
      client.release();
    }
    const result = await bothVerifiers(tenant.id);
    expect(result.filter((r) => r.status !== "ok").map((r) => [r.status, r.entryIds])).toEqual([["maintenance", [victim]]]);
  });

  it("a move between partitions is not journaled (its values are unchanged) and verifies ok", async () => {
    const { tenant, rounds } = await sealedTenant("Imported");
    // history imported before its year's partition existed lands in the default partition
    const { rows: imported } = await db.owner.query<{ id: string; xid: string }>(
      `insert into audit.log (occurred_at, tenant_id, actor_type, actor_name, action, resource_type, entity_id, event, new_values)
       values ('2019-05-01T10:00:00Z', $1, 'system', 'import', 'create', 'process', 'legacy', 'process.created', '{"name": "legacy"}')
       returning id::text, transaction_id::text as xid`,
      [tenant.id],
    );
    await sealUntil(db.owner, keys.signing, BigInt(imported[0]!.xid));
    const count = async () => (await db.owner.query<{ n: string }>("select count(*)::text as n from audit.maintenance_journal")).rows[0]!.n;
    const before = await count();
    await db.owner.query("select audit.ensure_partitions()");
    const { rows: where } = await db.owner.query<{ part: string }>("select tableoid::regclass::text as part from audit.log where id = $1", [imported[0]!.id]);
    expect(where[0]!.part).toBe("audit.log_2019");
    expect(await count()).toBe(before);
    expect(findingsOf(await bothVerifiers(tenant.id))).toEqual([]);
    expect(rounds).toHaveLength(3);
  });
});

describe("the seals an export is proved with (audit.covering_seals)", () => {
  it("are the admin's tenant's current seals of the given transactions: a re-seal, not what it superseded; nothing of another tenant", async () => {
    const { tenant, rounds } = await sealedTenant("Covered");
    const { tenant: other } = await sealedTenant("Neighbour");
    const victim = rounds[1]![0]!;
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("set local audit.maintenance = 'on'");
      await client.query("set local audit.maintenance_reason = 'correction'");
      await client.query("update audit.log set actor_name = 'corrected' where id = $1", [victim]);
      await client.query("commit");
    } finally {
      client.release();
    }
    const { rows: x } = await db.owner.query<{ xid: string }>("select txid_current()::text as xid");
    await sealUntil(db.owner, keys.signing, BigInt(x[0]!.xid));
    const { rows: xids } = await db.owner.query<{ xid: string }>(
      "select transaction_id::text as xid from audit.log where id = any($1::bigint[]) order by id", [[rounds[0]![0], victim, rounds[2]![0]]]);
    const claims = (t: Tenant) => ({ role: "tenant_admin" as const, tenantId: t.id, sub: t.admin.id });
    const covering = async (t: Tenant) =>
      (await ownerWithClaims<{ tenant_id: string; seq: string; supersedes: string | null }>(db.owner, claims(t),
        "select tenant_id::text, seq::text, supersedes::text from audit.covering_seals($1::bigint[])", [xids.map((r) => r.xid)])).rows;
    const mine = await covering(tenant);
    const reseal = mine.find((s) => s.supersedes !== null)!;
    expect(reseal.seq).toBe(await sealOf(tenant.id, victim));
    expect(mine.map((s) => s.seq)).not.toContain(reseal.supersedes);
    expect(mine).toHaveLength(3);
    expect(mine.every((s) => s.tenant_id === tenant.id)).toBe(true);
    // another tenant's admin asking for the same transactions gets only its own tenant's seals
    // (transaction ids are shared by all tenants), never these
    const theirs = await covering(other);
    expect(theirs.every((s) => s.tenant_id === other.id)).toBe(true);
  });
});
