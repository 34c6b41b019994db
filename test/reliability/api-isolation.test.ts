// Randomized isolation through the API (property-based, fast-check): random
// tenants, accounts, users and audited writes; random admin tokens (valid,
// mismatched, expired, forged, incomplete); random GraphQL queries and
// exports. Every answer must be exactly the SQL truth of the token's scope,
// computed as the owner with an explicit `where tenant_id = … [and
// account_id = …]`; a refused token gets 401 and no data; nothing in any
// answer comes from another scope. Cases and seed: support/isolation-runs.ts.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { webRoutes } from "../../src/server/routes/web-routes.ts";
import { csvRecords } from "../browser/support/csv.ts";
import { gql, sign, startTestServer, type GraphQLResponse } from "../server/helpers.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { exportQueryArbitrary, exportSql, exportUrl, PLAIN_CSV_COLUMNS, type ExportQuery } from "./support/export.ts";
import { afterPosition, apiQueryArbitrary, expectPage, querySql, toRequest, type ApiQuery, type PooledCursor } from "./support/graphql.ts";
import { checkParameters, SEED, timeLimitOf } from "./support/isolation-runs.ts";
import { authorizationOf, tokenArbitrary, validTokenArbitrary, type TokenCase } from "./support/tokens.ts";
import { Atoms, canonicalInstant, truthRows, Vocabularies, type Order, type Scope, type Vocabulary } from "./support/truth.ts";
import { seededWorld, type World } from "./support/world.ts";

let db: TestDatabase;
let server: RunningServer;
let world: World;
let vocabularies: Vocabularies;
/** Every value of the log, whoever's. */
let vocabulary: Vocabulary;
let atoms: Atoms;
let cursors: PooledCursor[];

/** Sends a GraphQL request with exactly this Authorization header (null: none). */
function post(header: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse> {
  return gql(server, null, query, variables, header === null ? {} : { authorization: header });
}

function expectNoLeak(scope: Scope, answer: unknown, request: unknown, where: string): void {
  const leaked = atoms.leaks(scope, JSON.stringify(answer), JSON.stringify(request));
  expect(leaked, `${where}: another scope's ids or markers in the answer`).toEqual([]);
}

function expectRefused(res: { status: number; body: unknown }, request: unknown, where: string): void {
  expect(res.status, `${where}: status`).toBe(401);
  const body = res.body as { data?: unknown; errors?: unknown[] };
  expect(body.data, `${where}: data`).toBeUndefined();
  expect(body.errors?.length, `${where}: errors`).toBeGreaterThan(0);
  expectNoLeak(null, res.body, request, where);
}

/**
 * Cursors handed out by several admins (every tenant admin, some account
 * admins), in both orders, with the entries they point after, plus forged
 * ones: a query may continue from any of them.
 */
async function cursorPool(): Promise<PooledCursor[]> {
  const pool: PooledCursor[] = [];
  const admins = world.tenants.flatMap((t) => [
    { from: `tenant admin of ${t.id}`, claims: { sub: t.users[0], tenant_id: t.id, role: "tenant_admin" } },
    { from: `account admin of ${t.accounts[0]}`, claims: { sub: t.users[0], tenant_id: t.id, role: "account_admin", account_id: t.accounts[0] } },
  ]);
  for (const admin of admins) {
    for (const orderBy of ["DESC", "ASC"] as const) {
      const res = await post(`Bearer ${sign(admin.claims)}`, `{ auditLogs(first: 4, orderBy: [OCCURRED_AT_${orderBy}]) { edges { cursor node { id occurredAt } } } }`);
      for (const e of res.body.data.auditLogs.edges) {
        pool.push({ cursor: e.cursor, orderBy, position: { id: e.node.id, occurredAt: canonicalInstant(e.node.occurredAt) }, from: admin.from });
      }
    }
  }
  const forged = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString("base64");
  for (const cursor of [forged(["deadbeef00", "2026-01-01T00:00:00Z", "1"]), "bm90IGEgY3Vyc29y", "%%%", forged([])]) {
    pool.push({ cursor, orderBy: "DESC", position: null, from: "forged" });
  }
  return pool;
}

/** A token and a request drawn with its scope's vocabulary (its own values mostly, anyone's sometimes). */
function withVocabulary<R>(tokens: fc.Arbitrary<TokenCase>, request: (v: Vocabulary) => fc.Arbitrary<R>): fc.Arbitrary<[TokenCase, R]> {
  return tokens.chain((t) => request(vocabularies.for(t.kind === "valid" ? t.scope : null)).map((r): [TokenCase, R] => [t, r]));
}

beforeAll(async () => {
  db = await createTestDatabase();
  world = await seededWorld(db, SEED);
  [vocabularies, atoms] = await Promise.all([Vocabularies.read(db.owner, world), Atoms.read(db.owner, world)]);
  vocabulary = vocabularies.all;
  // Small export batches: every export crosses keyset boundaries, some between entries of one instant.
  server = await startTestServer(db, { routes: webRoutes({ exportBatchSize: 7 }) });
  cursors = await cursorPool();
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** One query of a valid token: one page, or every page from the starting cursor on. */
async function checkQuery(t: Extract<TokenCase, { kind: "valid" }>, q: ApiQuery): Promise<void> {
  const order: Order = q.orderBy ?? "DESC";
  const all = await truthRows(db.owner, t.scope, (p) => querySql(q, p), order);
  const start = q.after === null ? null : cursors[q.after % cursors.length]!;
  const where = `${t.label}, cursor from ${start?.from ?? "none"}`;
  const header = `Bearer ${t.token}`;
  const request = toRequest(q, start?.cursor ?? null);
  const res = await post(header, request.query, request.variables);
  expectNoLeak(t.scope, res.body, request, where);
  if (start && (start.position === null || start.orderBy !== order)) {
    // A forged cursor, or one of the other order, may be refused (with no data)...
    if (res.body.errors?.length) {
      expect(res.body.data?.auditLogs ?? null, `${where}: data with a refused cursor`).toBeNull();
      expect(JSON.stringify(res.body.errors), where).toMatch(/cursor/i);
      return;
    }
    // ...or, when it decodes as a position, must move within the admin's own scope.
    expect(start.position, `${where}: a forged cursor was accepted`).not.toBeNull();
  }
  expect(res.body.errors, where).toBeUndefined();
  expect(res.status, where).toBe(200);
  expectPage(q, res.body.data.auditLogs, all, start?.position ?? null, where);
  if (!q.walk || q.first === 0) return;

  // Page on with each page's endCursor: the pages together are exactly the rest, in order.
  const rest = afterPosition(all, order, start?.position ?? null);
  const walk = { ...q, first: Math.max(q.first ?? 50, Math.ceil(rest.length / 8)) }; // at most ~8 requests a walk
  let position = start?.position ?? null;
  let after = start?.cursor ?? null;
  const seen: string[] = [];
  for (let page = 0; page < 20; page++) {
    const r = toRequest(walk, after);
    const d = await post(header, r.query, r.variables);
    expect(d.body.errors, `${where}: page ${page}`).toBeUndefined();
    expectNoLeak(t.scope, d.body, r, `${where}: page ${page}`);
    const c = d.body.data.auditLogs;
    expectPage(walk, c, all, position, `${where}: page ${page}`);
    seen.push(...c.nodes.map((n: { id: string }) => n.id));
    if (!c.pageInfo.hasNextPage) break;
    after = c.pageInfo.endCursor;
    position = all.find((x) => x.id === seen.at(-1))!;
  }
  expect(seen, `${where}: pages together`).toEqual(rest.map((r) => r.id));
}

describe("randomized isolation: GraphQL", () => {
  const RUNS = 60;
  it(`every answer is exactly the token's scope (${RUNS} random token × query cases in CI)`, async () => {
    await fc.assert(
      fc.asyncProperty(withVocabulary(tokenArbitrary(world), apiQueryArbitrary), async ([t, q]) => {
        if (t.kind === "refused") {
          const request = toRequest(q, null);
          expectRefused(await post(t.header, request.query, request.variables), request, t.label);
          return;
        }
        await checkQuery(t, q);
      }),
      checkParameters(RUNS),
    );
  }, timeLimitOf(RUNS, 150));

  it("queries the API refuses carry no data and nothing of another scope", async () => {
    const other = fc.constantFrom(...vocabulary.tenantIds, ...vocabulary.accountIds);
    const invalid = other.chain((id) =>
      fc.constantFrom(
        `{ auditLogs(filter: { tenantId: { equalTo: "${id}" } }) { totalCount nodes { id } } }`,
        `{ auditLogs(condition: { tenantId: "${id}" }) { totalCount } }`,
        `{ auditLogs(filter: { accountId: { equalTo: "${id.slice(0, -1)}" } }) { nodes { id } } }`,
        `{ auditLogs(filter: { actorEmail: { like: "%" } }) { nodes { id } } }`,
        `{ auditLogs(filter: { occurredAt: { equalTo: "yesterday" } }) { nodes { id } } }`,
        "{ auditLogs(first: 501) { nodes { id } } }",
        "{ auditLogs(offset: 3) { nodes { id } } }",
        "{ auditLogs(last: 3) { nodes { id } } }",
        "{ auditLogs(orderBy: [ACTION_ASC]) { nodes { id } } }",
        "{ auditLogs { cappedCount(max: 0) { count } } }",
        `{ auditLogs(after: "${Buffer.from(JSON.stringify(["0", id, "1"])).toString("base64")}") { nodes { id } } }`,
        "{ auditLogs { groupedAggregates(groupBy: [TENANT_ID]) { keys count } } }",
        "{ auditLogs { groupedAggregates(groupBy: [OCCURRED_AT]) { keys count } } }",
        "{ auditLogs { nodes { id secret } } }",
        `{ auditLog(id: "1") { id } }`,
        // no mutation over the log (security monitoring's are tested in test/server/security/)
        'mutation { deleteAuditLog(input: { id: "1" }) { clientMutationId } }',
      ),
    );
    await fc.assert(
      fc.asyncProperty(tokenArbitrary(world), invalid, async (t, query) => {
        const res = await post(authorizationOf(t), query);
        if (t.kind === "refused") return expectRefused(res, query, t.label);
        expect(res.body.errors?.length, query).toBeGreaterThan(0);
        expect(res.body.data?.auditLogs ?? null, query).toBeNull();
        expectNoLeak(t.scope, res.body, query, `${t.label}: ${query}`);
      }),
      checkParameters(40),
    );
  }, timeLimitOf(40, 50));
});

/** The export's rows: JSON Lines parsed (canonical instants), or CSV records keyed by the header. */
async function readExport(res: Response, q: ExportQuery): Promise<{ ids: string[]; rows: Record<string, unknown>[] }> {
  const text = await res.text();
  if (q.format === "jsonl") {
    // the entries: the header, seal, proof and end lines of the file's proof carry a "type"
    const rows = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => !("type" in r));
    return { ids: rows.map((r) => String(r.id)), rows: rows.map((r) => ({ ...r, occurredAt: canonicalInstant(String(r.occurredAt)) })) };
  }
  expect(text.endsWith("\r\n"), "CSV ends with CRLF").toBe(true);
  const rows = csvRecords(text);
  return { ids: rows.map((r) => String(r.id)), rows };
}

describe("randomized isolation: GET /export", () => {
  const RUNS = 50;
  const foreignIds = () => [...vocabulary.tenantIds, ...vocabulary.accountIds];
  it(`every export is exactly the token's scope (${RUNS} random token × filter cases in CI)`, async () => {
    await fc.assert(
      fc.asyncProperty(withVocabulary(tokenArbitrary(world), (v) => exportQueryArbitrary(v, foreignIds())), async ([t, q]) => {
        const url = exportUrl(server.url, q);
        const header = authorizationOf(t);
        const res = await fetch(url, { headers: header === null ? {} : { authorization: header } });
        if (t.kind === "refused") {
          return expectRefused({ status: res.status, body: await res.json() }, url, `${t.label}: ${url}`);
        }
        if (q.refused) {
          const body = await res.json();
          expect(res.status, url).toBe(400);
          expect(body.data, url).toBeUndefined();
          return expectNoLeak(t.scope, body, url, url);
        }
        expect(res.status, url).toBe(200);
        const got = await readExport(res, q);
        const want = await truthRows(db.owner, t.scope, (p) => exportSql(q, p));
        expect(got.ids, `${t.label}: ${url}`).toEqual(want.map((r) => r.id));
        if (q.format === "jsonl") {
          expect(got.rows, url).toEqual(want);
        } else {
          const plain = (r: Record<string, unknown>) => PLAIN_CSV_COLUMNS.map((c) => r[c] ?? "");
          expect(got.rows.map(plain), url).toEqual(want.map((r) => plain(r as unknown as Record<string, unknown>)));
        }
        expectNoLeak(t.scope, got.rows, url, url);
      }),
      checkParameters(RUNS),
    );
  }, timeLimitOf(RUNS, 150));
});

describe("randomized isolation: scopes side by side", () => {
  it("concurrent requests of different scopes each count their own scope", async () => {
    // Requests share the server's pool and connections: claims must never carry over from one to the next.
    const valid = validTokenArbitrary(world);
    await fc.assert(
      fc.asyncProperty(fc.array(valid, { minLength: 2, maxLength: 6 }), async (tokens) => {
        const query = "{ auditLogs(first: 0) { totalCount cappedCount(max: 100000) { count } groupedAggregates(groupBy: [ACCOUNT_ID]) { keys count } } }";
        const answers = await Promise.all(tokens.map((t) => post(`Bearer ${t.token}`, query)));
        for (const [i, t] of tokens.entries()) {
          const rows = await truthRows(db.owner, t.scope, () => "true");
          const perAccount = new Map<string | null, number>();
          for (const r of rows) perAccount.set(r.accountId, (perAccount.get(r.accountId) ?? 0) + 1);
          const { groupedAggregates, ...counts } = answers[i]!.body.data.auditLogs;
          expect(counts, t.label).toEqual({ totalCount: rows.length, cappedCount: { count: rows.length } });
          expect(new Map(groupedAggregates.map((g: { keys: [string | null]; count: string }) => [g.keys[0], Number(g.count)])), t.label).toEqual(perAccount);
        }
      }),
      checkParameters(15),
    );
  }, timeLimitOf(15, 100));
});
