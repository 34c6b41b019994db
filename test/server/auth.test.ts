// Every way a token can be wrong: HTTP 401, a clear GraphQL error, never
// data. And the right ones: HS256 by default, RS256 with a public key,
// issuer and audience when configured, a small clock tolerance.
import { generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createLandscape, type Landscape } from "../support/fixtures.ts";
import { gql, SECRET, sign, startTestServer } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let l: Landscape;
const QUERY = "{ auditLogs { totalCount nodes { id tenantId } } }";

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
  server = await startTestServer(db);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const now = () => Math.floor(Date.now() / 1000);
const valid = (extra: Record<string, unknown> = {}) => ({ sub: l.adminId, tenant_id: l.tenantId, role: "tenant_admin", ...extra });
const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString("base64url");

async function expectRefused(authorization: string | null, code: string, message: RegExp, target: RunningServer = server) {
  const res = await gql(target, null, QUERY, undefined, authorization === null ? {} : { authorization });
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="audit-trail"/);
  expect(res.body).not.toHaveProperty("data");
  expect(res.body.errors).toHaveLength(1);
  expect(res.body.errors![0]).toMatchObject({ extensions: { code } });
  expect(res.body.errors![0]!.message).toMatch(message);
}

async function expectAccepted(token: string, target: RunningServer = server) {
  const res = await gql(target, token, QUERY);
  expect(res.status).toBe(200);
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data.auditLogs.totalCount).toBeGreaterThan(0);
}

describe("a valid token", () => {
  it("is accepted", () => expectAccepted(sign(valid())));
  it("is accepted a moment after exp, within the clock tolerance", () => expectAccepted(sign(valid({ exp: now() - 2 }))));
  it("is accepted with extra claims, which are ignored", () => expectAccepted(sign(valid({ email: "ada@acme.test", pg_role: "postgres" }))));
  it("of a tenant admin may carry an account_id, which does not narrow it", async () => {
    const res = await gql(server, sign(valid({ account_id: l.otherAccountId })), QUERY);
    const all = await gql(server, sign(valid()), QUERY);
    expect(res.body.data.auditLogs.totalCount).toBe(all.body.data.auditLogs.totalCount);
  });
});

describe("refused with 401 and no data", () => {
  it("no Authorization header", () => expectRefused(null, "UNAUTHENTICATED", /Authentication required/));
  it("another scheme", () => expectRefused("Basic YWRhOnNlY3JldA==", "INVALID_TOKEN", /must be "Bearer <token>"/));
  it("Bearer without a token", () => expectRefused("Bearer ", "INVALID_TOKEN", /must be "Bearer <token>"/));
  it("a malformed token", () => expectRefused("Bearer not-a-jwt", "INVALID_TOKEN", /not a well-formed JWT/));
  it("three parts of garbage", () => expectRefused("Bearer aaa.bbb.ccc", "INVALID_TOKEN", /Invalid token/));
  it("expired", () => expectRefused(`Bearer ${sign(valid({ exp: now() - 60 }))}`, "TOKEN_EXPIRED", /Token expired at \d{4}-/));
  it("not valid yet (nbf)", () => expectRefused(`Bearer ${sign(valid({ nbf: now() + 600 }))}`, "INVALID_TOKEN", /not valid yet/));
  it("without exp", () => {
    const token = jwt.sign(valid(), SECRET, { algorithm: "HS256" });
    return expectRefused(`Bearer ${token}`, "INVALID_CLAIMS", /exp \(expiry\) claim is required/);
  });
  it("signed with another secret", () =>
    expectRefused(`Bearer ${sign(valid(), "another-secret-0123456789-abcdefghijklmnop")}`, "INVALID_TOKEN", /signature verification failed/));
  it("with a tampered payload", () => {
    const [h, , s] = sign(valid()).split(".");
    const forged = `${h}.${b64({ ...valid(), tenant_id: "00000000-0000-4000-8000-000000000000", exp: now() + 300 })}.${s}`;
    return expectRefused(`Bearer ${forged}`, "INVALID_TOKEN", /signature verification failed/);
  });
  it("alg: none", () => {
    const token = `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...valid(), exp: now() + 300 })}.`;
    return expectRefused(`Bearer ${token}`, "INVALID_TOKEN", /must be signed with HS256/);
  });
  it("another HMAC algorithm (HS512) with the right secret", () =>
    expectRefused(`Bearer ${sign(valid(), SECRET, { algorithm: "HS512" })}`, "INVALID_TOKEN", /must be signed with HS256/));
  it("RS256 when the server expects HS256", () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const token = jwt.sign({ ...valid(), exp: now() + 300 }, privateKey, { algorithm: "RS256" });
    return expectRefused(`Bearer ${token}`, "INVALID_TOKEN", /must be signed with HS256/);
  });
  it("a payload that is not an object", () => {
    const token = jwt.sign("just a string", SECRET, { algorithm: "HS256" });
    return expectRefused(`Bearer ${token}`, "INVALID_CLAIMS", /payload must be a JSON object|exp/);
  });

  for (const claim of ["sub", "tenant_id", "role"]) {
    it(`missing ${claim}`, () => {
      const claims: Record<string, unknown> = valid();
      delete claims[claim];
      return expectRefused(`Bearer ${sign(claims)}`, "INVALID_CLAIMS", new RegExp(`${claim} claim (is required|must be)`));
    });
  }
  it("sub that is not a UUID", () => expectRefused(`Bearer ${sign(valid({ sub: "ada" }))}`, "INVALID_CLAIMS", /sub claim must be a UUID/));
  it("tenant_id that is not a UUID (no injection through claims)", () =>
    expectRefused(`Bearer ${sign(valid({ tenant_id: "x' or '1'='1" }))}`, "INVALID_CLAIMS", /tenant_id claim must be a UUID/));
  it("tenant_id as a number", () => expectRefused(`Bearer ${sign(valid({ tenant_id: 42 }))}`, "INVALID_CLAIMS", /tenant_id claim must be a UUID/));
  it("account_admin without account_id", () =>
    expectRefused(`Bearer ${sign(valid({ role: "account_admin" }))}`, "INVALID_CLAIMS", /account_id claim is required/));
  it("account_admin with an account_id that is not a UUID", () =>
    expectRefused(`Bearer ${sign(valid({ role: "account_admin", account_id: "finance" }))}`, "INVALID_CLAIMS", /account_id claim must be a UUID/));

  for (const role of ["audit_reader", "postgres", "audit_viewer", "audit_authenticator", "admin", "TENANT_ADMIN", "tenant_admin ", ""]) {
    it(`role escalation or unknown role: ${JSON.stringify(role)}`, async () => {
      await expectRefused(`Bearer ${sign(valid({ role }))}`, "INVALID_CLAIMS", /role claim must be "tenant_admin" or "account_admin"|role claim is required/);
    });
  }
  it("a role given as a list", () =>
    expectRefused(`Bearer ${sign(valid({ role: ["tenant_admin", "audit_reader"] }))}`, "INVALID_CLAIMS", /role claim must be/));

  it("error messages never echo the token's content", async () => {
    const res = await gql(server, sign(valid({ role: "superuser-please" })), QUERY);
    expect(JSON.stringify(res.body)).not.toContain("superuser-please");
  });
});

describe("the database role never comes from the token", () => {
  it("every request runs in the admin kind's fixed role with the claims as jwt.claims.* settings", async () => {
    // A claim named like a setting changes nothing; the role stays audit_tenant_admin (visible in pg_stat_activity
    // only while running, so check through the data: a tenant admin of another tenant sees nothing here).
    const other = sign({ sub: l.adminId, tenant_id: "00000000-0000-4000-8000-000000000000", role: "tenant_admin", "jwt.claims.tenant_id": l.tenantId });
    const res = await gql(server, other, QUERY);
    expect(res.body.data.auditLogs.totalCount).toBe(0);
  });
});

describe("anonymous introspection", () => {
  it("is allowed while introspection is on (GraphiQL loads the schema before a token is pasted), data is not", async () => {
    const schema = await gql(server, null, "query Introspection { __schema { queryType { name } } }");
    expect(schema.status).toBe(200);
    expect(schema.body.data.__schema.queryType.name).toBe("Query");
    await expectRefused(null, "UNAUTHENTICATED", /Authentication required/);
    const mixed = await gql(server, null, "{ __typename auditLogs { totalCount } }");
    expect(mixed.status).toBe(401);
    const viaFragment = await gql(server, null, "query { ...F } fragment F on Query { auditLogs { totalCount } }");
    expect(viaFragment.status).toBe(401);
  });
});

describe("RS256 with a public key, issuer and audience", () => {
  let rsServer: RunningServer;
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const rs = (claims: Record<string, unknown>, options: jwt.SignOptions = {}) =>
    jwt.sign({ exp: now() + 300, ...claims }, privateKey, { algorithm: "RS256", issuer: "https://id.example", audience: "audit-trail", ...options });

  beforeAll(async () => {
    rsServer = await startTestServer(db, { jwt: { algorithm: "RS256", key: publicPem, issuer: "https://id.example", audience: "audit-trail" } });
  });
  afterAll(async () => {
    await rsServer?.close();
  });

  it("accepts a token signed with the private key", () => expectAccepted(rs(valid()), rsServer));
  it("refuses HS256 signed with the public key as the secret (algorithm confusion)", () => {
    const token = jwt.sign({ ...valid(), exp: now() + 300, iss: "https://id.example", aud: "audit-trail" }, publicPem, { algorithm: "HS256" });
    return expectRefused(`Bearer ${token}`, "INVALID_TOKEN", /must be signed with RS256/, rsServer);
  });
  it("refuses a token of another key pair", () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const token = jwt.sign({ ...valid(), exp: now() + 300 }, other, { algorithm: "RS256", issuer: "https://id.example", audience: "audit-trail" });
    return expectRefused(`Bearer ${token}`, "INVALID_TOKEN", /signature verification failed/, rsServer);
  });
  it("refuses a wrong issuer or audience", async () => {
    await expectRefused(`Bearer ${rs(valid(), { issuer: "https://evil.example" })}`, "INVALID_TOKEN", /wrong issuer/, rsServer);
    await expectRefused(`Bearer ${rs(valid(), { audience: "another-app" })}`, "INVALID_TOKEN", /wrong audience/, rsServer);
  });
});
