// Tamper evidence in the API: sealStatus, seals and sealVerifications, for
// tenant admins (their tenant's), another tenant's admin (none of them,
// whatever it filters by) and account admins (the status; no seals, no
// verifications, and no errors). Seals are made as the owner through the
// sealer's own SQL path (begin_round, stage_seals, commit_seals, end_round),
// with stand-in signatures; verification results are inserted as the owner,
// as `npm run verify` records them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { withAuditContext } from "../../src/application/audit-context.ts";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { accountAdmin, data, gql, seedWorld, startTestServer, tenantAdmin, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;

/** Any 88-character base64 string ending in "==" passes commit_seals' shape check. */
const SIGNATURE = `${"A".repeat(40)}${"b".repeat(40)}012345==`;

interface SealRow {
  tenant_id: string;
  seq: string;
  seal_hash: string;
  previous_hash: string | null;
  merkle_root: string;
  entry_count: number;
  sealed_at: Date;
  from_xid: string;
  to_xid: string;
}

/**
 * Runs sealing rounds as the owner until the sealer's watermark has passed
 * every transaction committed so far (the xmin horizon is cluster-wide:
 * other test files' transactions can hold it back for a while). Returns how
 * many seals were stored.
 */
async function sealEverything(owner: pg.Pool, timeoutMs = 120_000): Promise<number> {
  const { rows } = await owner.query<{ xid: string }>("select txid_current()::text as xid");
  const target = BigInt(rows[0]!.xid);
  const deadline = Date.now() + timeoutMs;
  let stored = 0;
  for (;;) {
    const client = await owner.connect();
    let to: string | null = null;
    try {
      await client.query("begin");
      const round = await client.query<{ from_xid: string | null; to_xid: string | null }>(
        "select from_xid::text, to_xid::text from audit_private.begin_round('seals', 1000000)",
      );
      const { from_xid: from, to_xid } = round.rows[0]!;
      to = to_xid;
      if (from !== null && to !== null) {
        const staged = await client.query<{ tenant_id: string; seq: string; seal_hash: string; entry_count: number }>(
          "select tenant_id, seq::text, seal_hash, entry_count from audit_private.stage_seals($1, $2, '0123456789abcdef')",
          [from, to],
        );
        if (staged.rows.length > 0) {
          const signatures = staged.rows.map((s) => ({ tenant_id: s.tenant_id, seq: s.seq, seal_hash: s.seal_hash, signature: SIGNATURE }));
          const committed = await client.query<{ n: number }>("select audit_private.commit_seals($1::jsonb) as n", [JSON.stringify(signatures)]);
          stored += committed.rows[0]!.n;
        }
        const entries = staged.rows.reduce((n, s) => n + s.entry_count, 0);
        await client.query("select audit_private.end_round('seals', $1, $2)", [to, entries]);
      }
      await client.query("commit");
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    if (to !== null && BigInt(to) > target) return stored;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the sealer to pass transaction ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One more job of a tenant, written by the application (a new entry to seal). */
async function moreActivity(l: World["a"]): Promise<void> {
  await withAuditContext(db.app, { actor_type: "system", actor_name: "scheduler" }, (c) =>
    c.query("insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'completed')", [l.tenantId, l.accountId, l.processId]),
  );
}

async function sealsOf(tenantId: string): Promise<SealRow[]> {
  const { rows } = await db.owner.query<SealRow>(
    `select tenant_id, seq::text, seal_hash, previous_hash, merkle_root, entry_count, sealed_at, from_xid::text, to_xid::text
       from audit.seals where tenant_id = $1 order by seq desc`,
    [tenantId],
  );
  return rows;
}

async function insertVerification(tenantId: string, findings: Record<string, number>, signaturesChecked: boolean, minutesAgo: number): Promise<string> {
  const { rows } = await db.owner.query<{ id: string }>(
    `insert into audit.verifications (tenant_id, verified_at, verified_by, seals_checked, entries_checked, findings, signatures_checked, ms)
     values ($1, now() - make_interval(mins => $2), 'npm run verify', 3, 40, $3, $4, 120) returning id::text`,
    [tenantId, minutesAgo, JSON.stringify(findings), signaturesChecked],
  );
  return rows[0]!.id;
}

/** Seals of tenant A (newest first) and B, and A's verifications (newest first). */
const sealed = { a: [] as SealRow[], b: [] as SealRow[] };
const verificationsA: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  server = await startTestServer(db);
  // Three rounds with entries of A (seals 1 to 3 of A), the first also with B's (seal 1 of B).
  await sealEverything(db.owner);
  await moreActivity(w.a);
  await sealEverything(db.owner);
  await moreActivity(w.a);
  await sealEverything(db.owner);
  sealed.a = await sealsOf(w.a.tenantId);
  sealed.b = await sealsOf(w.b.tenantId);
  verificationsA.unshift(await insertVerification(w.a.tenantId, {}, false, 30));
  verificationsA.unshift(await insertVerification(w.a.tenantId, { modified: 2, chain_broken: 1 }, true, 5));
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const names = (list: { name: string }[] | null | undefined) => (list ?? []).map((f) => f.name).sort();
const SEAL_FIELDS = "seq sealHash previousHash merkleRoot entryCount firstId lastId fromXid toXid sealedThroughXid occurredFrom occurredTo supersedes reason canonicalVersion keyId signature sealedAt";
const STATUS_FIELDS = "tenantId sealedUpTo sealCount newestSeq newestSealHash newestSealedAt lastVerifiedAt lastVerifiedBy lastVerificationFindings lastVerificationSignaturesChecked";

/** The seq of the seals a request lists (as strings), and its totalCount. */
async function seqs(token: string, args = "", variables?: Record<string, unknown>): Promise<{ seqs: string[]; totalCount: number }> {
  const d = await data(server, token, `query ($filter: SealFilter, $after: Cursor) { seals(filter: $filter, after: $after${args}) { totalCount nodes { seq } } }`, variables);
  return { seqs: d.seals.nodes.map((n: { seq: string }) => n.seq), totalCount: d.seals.totalCount };
}

const codeOf = (res: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => res.body.errors?.[0]?.extensions?.code;

describe("schema", () => {
  it("adds sealStatus, seals and sealVerifications to the queries; no mutation of seals, no lookup by key, no generic type of the tables", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      __schema { queryType { fields { name } } mutationType { fields { name } } types { name } }
    }`);
    expect(names(d.__schema.queryType.fields)).toEqual([
      "activityCounts", "auditEvents", "auditLogs", "detectorSettings", "logStreams", "sealStatus", "sealVerifications", "seals", "securityAlerts", "webhookEndpoints",
    ]);
    expect(names(d.__schema.mutationType.fields)).toEqual([
      "acknowledgeSecurityAlert", "createLogStream", "createWebhookEndpoint", "deleteLogStream", "deleteWebhookEndpoint", "pauseLogStream",
      "replayLogStream", "resolveSecurityAlert", "resumeLogStream", "updateDetectorSettings", "updateLogStream", "updateWebhookEndpoint",
    ]);
    expect(d.__schema.queryType.fields.map((f: { name: string }) => f.name).filter((n: string) => /By[A-Z]/.test(n))).toEqual([]);
    const types: string[] = d.__schema.types.map((t: { name: string }) => t.name);
    expect(types.filter((t) => /seal|verification|journal/i.test(t)).sort()).toEqual([
      "Seal", "SealConnection", "SealEdge", "SealFilter", "SealSeqFilter", "SealStatus", "SealVerification", "SealVerificationConnection",
      "SealVerificationEdge", "SealVerificationFilter",
    ]);
  });

  it("the new types have exactly these fields: no tenant, no entry lists", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      seal: __type(name: "Seal") { fields { name } }
      verification: __type(name: "SealVerification") { fields { name } }
      status: __type(name: "SealStatus") { fields { name description } }
      sealFilter: __type(name: "SealFilter") { inputFields { name } }
      seqFilter: __type(name: "SealSeqFilter") { inputFields { name type { name kind } } }
      verificationFilter: __type(name: "SealVerificationFilter") { inputFields { name } }
      query: __type(name: "Query") { fields { name args { name } type { name kind } } }
    }`);
    expect(names(d.seal.fields)).toEqual(SEAL_FIELDS.split(" ").sort());
    expect(names(d.verification.fields)).toEqual([
      "entriesChecked", "findings", "id", "ms", "rangeFrom", "rangeTo", "sealsChecked", "signaturesChecked", "verifiedAt", "verifiedBy",
    ]);
    expect(names(d.status.fields)).toEqual(STATUS_FIELDS.split(" ").sort());
    const hash = d.status.fields.find((f: { name: string }) => f.name === "newestSealHash");
    expect(hash.description).toMatch(/outside the database/);
    expect(hash.description).toMatch(/anchors your log's seal chain/);
    expect(names(d.sealFilter.inputFields)).toEqual(["and", "not", "or", "sealedAt", "seq"]);
    expect(d.seqFilter.inputFields.map((f: { name: string; type: { name: string; kind: string } }) => `${f.name}:${f.type.kind}:${f.type.name}`).sort()).toEqual([
      "equalTo:SCALAR:BigInt", "greaterThan:SCALAR:BigInt", "greaterThanOrEqualTo:SCALAR:BigInt", "lessThan:SCALAR:BigInt", "lessThanOrEqualTo:SCALAR:BigInt",
    ]);
    expect(names(d.verificationFilter.inputFields)).toEqual(["and", "not", "or", "verifiedAt"]);
    const query = Object.fromEntries(d.query.fields.map((f: { name: string }) => [f.name, f]));
    expect(names(query.seals.args)).toEqual(["after", "filter", "first"]);
    expect(names(query.sealVerifications.args)).toEqual(["after", "filter", "first"]);
    expect(names(query.sealStatus.args)).toEqual([]);
    expect(query.sealStatus.type).toEqual({ name: "SealStatus", kind: "OBJECT" });
  });

  it("entry lists, the tenant, keys, orderings, backward pages and the tables' functions are unknown", async () => {
    for (const query of [
      "{ seals { nodes { entryIds } } }",
      "{ seals { nodes { entryHashes } } }",
      "{ seals { nodes { tenantId } } }",
      "{ seals { edges { node { entryIds } } } }",
      "{ sealVerifications { nodes { tenantId } } }",
      `{ seals(filter: { tenantId: { equalTo: "${w.b.tenantId}" } }) { totalCount } }`,
      `{ seals(condition: { tenantId: "${w.b.tenantId}" }) { totalCount } }`,
      '{ seals(condition: { seq: "1" }) { totalCount } }',
      '{ seals(filter: { entryIds: { contains: ["1"] } }) { totalCount } }',
      "{ seals(orderBy: [SEQ_ASC]) { totalCount } }",
      "{ seals(last: 1) { totalCount } }",
      "{ seals(offset: 1) { totalCount } }",
      `{ sealByTenantIdAndSeq(tenantId: "${w.b.tenantId}", seq: "1") { seq } }`,
      '{ seal(seq: "1") { seq } }',
      `{ sealVerificationByTenantIdAndId(tenantId: "${w.b.tenantId}", id: "1") { id } }`,
      '{ coveringSeals(xids: ["1"]) { seq } }',
      "{ verify { nodes { status } } }",
      "{ maintenanceJournals { totalCount } }",
      "mutation { createSeal(input: { seal: {} }) { clientMutationId } }",
      "mutation { deleteSealVerification(input: {}) { clientMutationId } }",
    ]) {
      const res = await gql(server, tenantAdmin(w.a), query);
      expect(res.status, query).toBe(400);
      expect(codeOf(res), query).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(res.body.data, query).toBeUndefined();
    }
  });
});

describe("a tenant admin", () => {
  it("lists its tenant's seals newest first, as stored, with hashes, signatures and ranges", async () => {
    expect(sealed.a.map((s) => s.seq)).toEqual(["3", "2", "1"]);
    expect(sealed.b.map((s) => s.seq)).toEqual(["1"]);
    const d = await data(server, tenantAdmin(w.a), `{ seals { totalCount pageInfo { hasNextPage } nodes { ${SEAL_FIELDS} } } }`);
    expect(d.seals.totalCount).toBe(3);
    expect(d.seals.pageInfo.hasNextPage).toBe(false);
    const { rows } = await db.owner.query("select * from audit.seals where tenant_id = $1 order by seq desc", [w.a.tenantId]);
    expect(d.seals.nodes).toEqual(rows.map((r) => ({
      seq: String(r.seq), sealHash: r.seal_hash, previousHash: r.previous_hash, merkleRoot: r.merkle_root, entryCount: r.entry_count,
      firstId: r.first_id === null ? null : String(r.first_id), lastId: r.last_id === null ? null : String(r.last_id),
      fromXid: String(r.from_xid), toXid: String(r.to_xid), sealedThroughXid: String(r.sealed_through_xid),
      occurredFrom: expect.any(String), occurredTo: expect.any(String), supersedes: null, reason: null, canonicalVersion: 1,
      keyId: "0123456789abcdef", signature: SIGNATURE, sealedAt: expect.any(String),
    })));
    for (const [i, n] of d.seals.nodes.entries()) {
      expect(Date.parse(n.sealedAt)).toBe(rows[i].sealed_at.getTime());
      expect(Date.parse(n.occurredTo)).toBe(rows[i].occurred_to.getTime());
    }
    // The chain: each seal names its predecessor's hash.
    expect(d.seals.nodes[0].previousHash).toBe(d.seals.nodes[1].sealHash);
    expect(d.seals.nodes[1].previousHash).toBe(d.seals.nodes[2].sealHash);
    expect(JSON.stringify(d)).not.toContain(sealed.b[0]!.seal_hash);
  });

  it("pages through them with first and after, without skipping or repeating", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const d: any = await data(server, tenantAdmin(w.a), "query ($after: Cursor) { seals(first: 1, after: $after) { nodes { seq } pageInfo { hasNextPage endCursor } } }", { after });
      seen.push(...d.seals.nodes.map((n: { seq: string }) => n.seq));
      if (!d.seals.pageInfo.hasNextPage) break;
      after = d.seals.pageInfo.endCursor;
    }
    expect(seen).toEqual(["3", "2", "1"]);
    const tooMany = await gql(server, tenantAdmin(w.a), "{ seals(first: 501) { totalCount } }");
    expect(codeOf(tooMany)).toBe("PAGE_SIZE_TOO_LARGE");
  });

  it("filters them by a range of numbers and by when they were made", async () => {
    const token = tenantAdmin(w.a);
    expect(await seqs(token, "", { filter: { seq: { greaterThanOrEqualTo: "2" } } })).toEqual({ seqs: ["3", "2"], totalCount: 2 });
    expect((await seqs(token, "", { filter: { seq: { greaterThan: "1", lessThan: "3" } } })).seqs).toEqual(["2"]);
    expect((await seqs(token, "", { filter: { seq: { lessThanOrEqualTo: "2" } } })).seqs).toEqual(["2", "1"]);
    expect((await seqs(token, "", { filter: { seq: { equalTo: "1" } } })).seqs).toEqual(["1"]);
    expect((await seqs(token, "", { filter: { or: [{ seq: { equalTo: "1" } }, { seq: { equalTo: "3" } }] } })).seqs).toEqual(["3", "1"]);
    expect((await seqs(token, "", { filter: { not: { seq: { equalTo: "2" } } } })).seqs).toEqual(["3", "1"]);
    const d = await data(server, token, "{ seals { nodes { seq sealedAt } } }");
    const at = Object.fromEntries(d.seals.nodes.map((n: { seq: string; sealedAt: string }) => [n.seq, n.sealedAt]));
    expect((await seqs(token, "", { filter: { sealedAt: { greaterThan: at["2"] } } })).seqs).toEqual(["3"]);
    expect((await seqs(token, "", { filter: { sealedAt: { lessThanOrEqualTo: at["2"] }, seq: { greaterThan: "1" } } })).seqs).toEqual(["2"]);
    expect((await seqs(token, "", { filter: null })).seqs).toEqual(["3", "2", "1"]);
  });

  it("a bad seq filter is a client error with its code", async () => {
    const token = tenantAdmin(w.a);
    const cases: [unknown, string][] = [
      [{ seq: { greaterThan: null } }, "FILTER_NULL_VALUE"],
      [{ seq: {} }, "FILTER_EMPTY_VALUE"],
      [{ seq: { equalTo: "one" } }, "INVALID_BIGINT"],
    ];
    for (const [filter, code] of cases) {
      const res = await gql(server, token, "query ($filter: SealFilter) { seals(filter: $filter) { totalCount } }", { filter });
      expect(codeOf(res), JSON.stringify(filter)).toBe(code);
      expect(res.body.data?.seals ?? null).toBeNull();
    }
  });

  it("sees its tenant's seal status: the newest seal and the last verification", async () => {
    const d = await data(server, tenantAdmin(w.a), `{ sealStatus { ${STATUS_FIELDS} } }`);
    const { rows } = await db.owner.query<{ last_round_at: Date }>("select last_round_at from audit_private.log_consumers where consumer = 'seals'");
    const newest = sealed.a[0]!;
    expect(d.sealStatus).toEqual({
      tenantId: w.a.tenantId, sealedUpTo: expect.any(String), sealCount: "3", newestSeq: "3", newestSealHash: newest.seal_hash,
      newestSealedAt: expect.any(String), lastVerifiedAt: expect.any(String), lastVerifiedBy: "npm run verify",
      lastVerificationFindings: { modified: 2, chain_broken: 1 }, lastVerificationSignaturesChecked: true,
    });
    expect(Date.parse(d.sealStatus.sealedUpTo)).toBe(rows[0]!.last_round_at.getTime());
    expect(Date.parse(d.sealStatus.newestSealedAt)).toBe(newest.sealed_at.getTime());
    expect(Date.now() - Date.parse(d.sealStatus.lastVerifiedAt)).toBeGreaterThan(4 * 60_000);
    expect(Date.now() - Date.parse(d.sealStatus.lastVerifiedAt)).toBeLessThan(6 * 60_000);
  });

  it("lists its tenant's verifications newest first", async () => {
    const d = await data(server, tenantAdmin(w.a), "{ sealVerifications { totalCount nodes { id verifiedBy findings signaturesChecked sealsChecked entriesChecked ms } } }");
    expect(d.sealVerifications.totalCount).toBe(2);
    expect(d.sealVerifications.nodes).toEqual([
      { id: verificationsA[0], verifiedBy: "npm run verify", findings: { modified: 2, chain_broken: 1 }, signaturesChecked: true, sealsChecked: 3, entriesChecked: "40", ms: 120 },
      { id: verificationsA[1], verifiedBy: "npm run verify", findings: {}, signaturesChecked: false, sealsChecked: 3, entriesChecked: "40", ms: 120 },
    ]);
    const recent = await data(server, tenantAdmin(w.a), "query ($since: Datetime) { sealVerifications(filter: { verifiedAt: { greaterThan: $since } }) { nodes { id } } }", {
      since: new Date(Date.now() - 15 * 60_000).toISOString(),
    });
    expect(recent.sealVerifications.nodes).toEqual([{ id: verificationsA[0] }]);
  });
});

describe("another tenant's admin", () => {
  it("sees only its own tenant's seals, status and verifications", async () => {
    const d = await data(server, tenantAdmin(w.b), `{
      seals { totalCount nodes { seq sealHash } }
      sealVerifications { totalCount nodes { id } }
      sealStatus { ${STATUS_FIELDS} }
    }`);
    expect(d.seals).toEqual({ totalCount: 1, nodes: [{ seq: "1", sealHash: sealed.b[0]!.seal_hash }] });
    expect(d.sealVerifications).toEqual({ totalCount: 0, nodes: [] });
    expect(d.sealStatus).toMatchObject({
      tenantId: w.b.tenantId, sealCount: "1", newestSeq: "1", newestSealHash: sealed.b[0]!.seal_hash,
      lastVerifiedAt: null, lastVerifiedBy: null, lastVerificationFindings: null, lastVerificationSignaturesChecked: null,
    });
    const text = JSON.stringify(d);
    for (const s of sealed.a) expect(text).not.toContain(s.seal_hash);
    expect(text).not.toContain(w.a.tenantId);
  });

  it("finds none of the other tenant's seals by number, time, cursor or tenant", async () => {
    const token = tenantAdmin(w.b);
    expect(await seqs(token, "", { filter: { seq: { equalTo: "3" } } })).toEqual({ seqs: [], totalCount: 0 });
    expect(await seqs(token, "", { filter: { seq: { greaterThanOrEqualTo: "2" } } })).toEqual({ seqs: [], totalCount: 0 });
    // Its own seal 1, never the other tenant's seal 1.
    const one = await data(server, token, '{ seals(filter: { seq: { equalTo: "1" } }) { nodes { seq sealHash } } }');
    expect(one.seals.nodes).toEqual([{ seq: "1", sealHash: sealed.b[0]!.seal_hash }]);
    const since = new Date(sealed.a.at(-1)!.sealed_at.getTime() - 60_000).toISOString();
    expect((await seqs(token, "", { filter: { sealedAt: { greaterThan: since } } })).seqs).toEqual(["1"]);
    expect((await seqs(token, "", { filter: { or: [{ seq: { greaterThan: "1" } }, { not: { seq: { equalTo: "1" } } }] } })).seqs).toEqual([]);
    // A cursor of the other tenant's page positions in its own seals only.
    const a = await data(server, tenantAdmin(w.a), "{ seals(first: 1) { pageInfo { endCursor } } }");
    expect((await seqs(token, "", { after: a.seals.pageInfo.endCursor })).seqs).toEqual(["1"]);
    for (const query of [
      `{ seals(filter: { tenantId: { equalTo: "${w.a.tenantId}" } }) { nodes { seq } } }`,
      `{ seals(condition: { tenantId: "${w.a.tenantId}" }) { nodes { seq } } }`,
      `{ sealByTenantIdAndSeq(tenantId: "${w.a.tenantId}", seq: "3") { sealHash } }`,
    ]) {
      const res = await gql(server, token, query);
      expect(codeOf(res), query).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(JSON.stringify(res.body)).not.toContain(sealed.a[0]!.seal_hash);
    }
    const verifications = await data(server, token, `{ sealVerifications(filter: { verifiedAt: { greaterThan: "2000-01-01T00:00:00Z" } }) { totalCount nodes { id } } }`);
    expect(verifications.sealVerifications).toEqual({ totalCount: 0, nodes: [] });
  });
});

describe("an account admin", () => {
  it("sees its tenant's seal status", async () => {
    const d = await data(server, accountAdmin(w.a), `{ sealStatus { ${STATUS_FIELDS} } }`);
    const t = await data(server, tenantAdmin(w.a), `{ sealStatus { ${STATUS_FIELDS} } }`);
    expect(d.sealStatus).toEqual(t.sealStatus);
    expect(d.sealStatus.newestSealHash).toBe(sealed.a[0]!.seal_hash);
  });

  it("gets empty lists of seals and verifications, not errors", async () => {
    for (const token of [accountAdmin(w.a), accountAdmin(w.a, w.a.otherAccountId)]) {
      const res = await gql(server, token, `{
        seals { totalCount nodes { seq } pageInfo { hasNextPage } }
        filtered: seals(filter: { seq: { greaterThanOrEqualTo: "1" } }) { totalCount nodes { seq } }
        sealVerifications { totalCount nodes { id } }
      }`);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data).toEqual({
        seals: { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false } },
        filtered: { totalCount: 0, nodes: [] },
        sealVerifications: { totalCount: 0, nodes: [] },
      });
    }
  });
});
