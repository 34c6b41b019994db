// Exports with their proof, end to end: a real server over a real database
// whose entries are sealed here through the SQL path the sealer takes
// (begin_round, stage_seals, signatures made outside the database,
// commit_seals, end_round), then each export checked offline by
// src/sealing/export-verify.ts, as is and after edits.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyExport, type ExportVerification } from "../../src/sealing/export-verify.ts";
import { keyIdOf } from "../../src/sealing/keys.ts";
import type { RunningServer } from "../../src/server/app.ts";
import { webRoutes } from "../../src/server/routes/web-routes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser } from "../support/fixtures.ts";
import { sealUntil } from "../sealing/support/sealing.ts";
import { accountAdmin, seedWorld, startTestServer, tenantAdmin, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const keyId = keyIdOf(publicKey);
const publicKeys = new Map<string, KeyObject>([[keyId, publicKey]]);

const EXACT = `{"big": 12345678901234567890, "amount": 1.50, "enabled": true}`;


/** Seals (the sealer's own rounds) until every entry written so far is sealed. */
async function sealEverything(owner: pg.Pool): Promise<void> {
  const { rows } = await owner.query<{ max: string }>("select coalesce(max(transaction_id), 0)::text as max from audit.log");
  await sealUntil(owner, { key: privateKey, keyId }, BigInt(rows[0]!.max));
}

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  // numbers JSON.stringify would not write back as stored
  await asUser(db.app, w.a.adminId, (c) =>
    c.query("update app.settings set value = $2::jsonb where tenant_id = $1 and key = 'security.mfa_required'", [w.a.tenantId, EXACT]),
  );
  // names a spreadsheet would take for formulas (the CSV neutralizes them)
  await asUser(db.app, w.a.adminId, (c) =>
    c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, $3), ($1, $2, $4)",
      [w.a.tenantId, w.a.accountId, `=HYPERLINK("x")`, "'@quoted"]),
  );
  await sealEverything(db.owner);
  // small batches: every export crosses batch boundaries; exports on record, as with npm start
  server = await startTestServer(db, { routes: webRoutes({ demoTokens: null, exportBatchSize: 7 }), accessLog: "exports" });
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const dir = mkdtempSync(path.join(tmpdir(), "export-proof-"));
let files = 0;
function save(text: string, ext: string): string {
  const file = path.join(dir, `${files++}.${ext}`);
  writeFileSync(file, text);
  return file;
}

async function download(route: "/export" | "/export/proof", query: string, token: string): Promise<string> {
  const res = await fetch(`${server.url}${route}?${query}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status, `${route}?${query}: ${res.status}`).toBe(200);
  return res.text();
}

/** Verifies a JSON Lines export offline; keys null: signatures not checked. */
const jsonl = (text: string, keys: Map<string, KeyObject> | null = publicKeys) =>
  verifyExport({ file: save(text, "jsonl"), ...(keys ? { publicKeys: keys } : {}) });
const csv = (text: string, proof: string) => verifyExport({ file: save(text, "csv"), proofFile: save(proof, "proof.jsonl"), publicKeys });

type Line = Record<string, unknown>;
const linesOf = (text: string): Line[] => text.trimEnd().split("\n").map((l) => JSON.parse(l) as Line);
const entryLines = (text: string) => linesOf(text).filter((l) => !("type" in l));

/** The tenant's entries that no seal holds (written after the last sealing round). */
async function unsealedIds(tenantId: string, where = "true", params: unknown[] = []): Promise<string[]> {
  const { rows } = await db.owner.query<{ id: string }>(
    `select l.id::text from audit.log l
      where l.tenant_id = $1 and ${where}
        and not exists (select from audit.seals s where s.tenant_id = l.tenant_id and l.id = any (s.entry_ids))
      order by l.occurred_at desc, l.id desc`, [tenantId, ...params]);
  return rows.map((r) => r.id);
}

function expectVerified(result: ExportVerification): void {
  expect(result.findings).toEqual([]);
  expect(result.ok).toBe(true);
}

describe("JSON Lines with the proof inline", () => {
  it("a tenant admin's export without filters is complete: header, the entries, seals, proofs, end; it verifies offline", async () => {
    // (read before: the export's own access-log entries are written after its first read)
    const { rows } = await db.owner.query<{ id: string }>("select id::text from audit.log where tenant_id = $1 order by occurred_at desc, id desc", [w.a.tenantId]);
    const unsealed = await unsealedIds(w.a.tenantId);
    const text = await download("/export", "format=jsonl", tenantAdmin(w.a));
    const lines = linesOf(text);
    const header = lines[0]!;
    expect(Object.keys(header)).toEqual(["type", "format", "version", "exportedAt", "filter", "proof", "completeness", "note"]);
    expect(header).toMatchObject({ type: "header", format: "audit-trail export", version: 1, filter: {}, proof: "inline", completeness: "complete" });
    expect(Date.parse(header.exportedAt as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(header.note).toMatch(/every seal listed here has all its entries in this file/);

    // the entries: exactly the tenant's, newest first, with the API's field names and no "type"
    const entries = entryLines(text);
    expect(entries.map((e) => e.id)).toEqual(rows.map((r) => r.id));
    expect(lines.slice(1, 1 + entries.length).every((l) => !("type" in l))).toBe(true);
    expect(Object.keys(entries[0]!)).toEqual([
      "id", "occurredAt", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName", "action", "resourceType", "entityId",
      "entityLabel", "event", "description", "oldValues", "newValues", "context", "transactionId",
    ]);

    // then the trailer: seals (by seq), proofs, the end
    const trailer = lines.slice(1 + entries.length);
    const seals = trailer.filter((l) => l.type === "seal");
    const proofs = trailer.filter((l) => l.type === "proof");
    expect(trailer.map((l) => l.type)).toEqual([...seals.map(() => "seal"), ...proofs.map(() => "proof"), "end"]);
    expect(seals.length).toBeGreaterThan(0);
    expect(Object.keys(seals[0]!)).toEqual([
      "type", "tenantId", "seq", "fromXid", "toXid", "sealedThroughXid", "entryCount", "firstId", "lastId", "occurredFromMicros", "occurredToMicros",
      "merkleRoot", "previousHash", "supersedes", "reason", "keyId", "sealedAtMicros", "sealHash", "signature", "canonicalVersion",
    ]);
    expect(seals[0]).toMatchObject({ tenantId: w.a.tenantId, keyId, canonicalVersion: 1, seq: expect.stringMatching(/^\d+$/) });
    expect(Object.keys(proofs[0]!)).toEqual(["type", "id", "tenantId", "seq", "index", "size", "path"]);
    const end = trailer.at(-1)!;
    expect(end).toEqual({ type: "end", entries: entries.length, proved: entries.length - unsealed.length, unsealed, seals: seals.length });

    const result = await jsonl(text);
    expectVerified(result);
    expect(result).toMatchObject({ entries: entries.length, proved: entries.length - unsealed.length, unsealed, completeness: "complete", signaturesChecked: true });
    expect(result.proved).toBeGreaterThan(20);
  });

  it("1.50 and 12345678901234567890 in new_values are written as stored, and verify", async () => {
    const text = await download("/export", "format=jsonl&action=settings.updated", tenantAdmin(w.a));
    const line = text.split("\n").find((l) => l.includes("12345678901234567890"));
    expect(line).toContain(`"newValues":{"value": ${EXACT}}`);
    expect(linesOf(text)[0]).toMatchObject({ filter: { action: "settings.updated" }, completeness: "filtered" });
    const result = await jsonl(text);
    expectVerified(result);
    expect(result.proved).toBe(entryLines(text).length);
  });

  it("one character changed in one entry's value: exactly that line is a finding", async () => {
    const text = await download("/export", "format=jsonl", tenantAdmin(w.a));
    const lines = text.split("\n");
    for (const [from, to] of [["1.50", "1.51"], ["12345678901234567890", "12345678901234567891"], [`"actorEmail":"max@acme.test"`, `"actorEmail":"max@acme.tesT"`]]) {
      const at = lines.findIndex((l) => l.includes(from!) && l.startsWith(`{"id":`));
      expect(at, from).toBeGreaterThan(0);
      const id = (JSON.parse(lines[at]!) as { id: string }).id;
      const edited = lines.map((l, i) => (i === at ? l.replace(from!, to!) : l)).join("\n");
      const result = await jsonl(edited);
      expect(result.ok).toBe(false);
      expect(result.findings).toEqual([{ file: "export", line: at + 1, id, problem: expect.stringMatching(/^the entry was changed: its hash is not in seal \d+'s Merkle tree$/) }]);
    }
  });

  it("an entry line deleted from a complete export is a finding about its seal's count", async () => {
    const text = await download("/export", "format=jsonl", tenantAdmin(w.a));
    const lines = text.split("\n");
    const proofs = linesOf(text).filter((l) => l.type === "proof");
    const proof = proofs[Math.floor(proofs.length / 2)]!;
    const seal = linesOf(text).find((l) => l.type === "seal" && l.seq === proof.seq)!;
    const at = lines.findIndex((l) => l.startsWith(`{"id":${JSON.stringify(proof.id)},`));
    const result = await jsonl(lines.filter((_, i) => i !== at).join("\n"));
    expect(result.ok).toBe(false);
    const count = Number(seal.entryCount);
    expect(result.findings.map((f) => f.problem)).toContain(`seal ${proof.seq as string} covers ${count} entries, ${count - 1} ${count - 1 === 1 ? "is" : "are"} in this complete export`);
  });

  it("a seal line's merkleRoot changed is a finding on that seal", async () => {
    const text = await download("/export", "format=jsonl", tenantAdmin(w.a));
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.startsWith(`{"type":"seal"`));
    const seal = JSON.parse(lines[at]!) as { seq: string; merkleRoot: string };
    const root = seal.merkleRoot;
    lines[at] = lines[at]!.replace(root, (root[0] === "0" ? "1" : "0") + root.slice(1));
    const result = await jsonl(lines.join("\n"));
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({ file: "export", line: at + 1, problem: `seal ${seal.seq} does not match its hash: the seal line was changed` });
  });

  it("signatures: with another key the seals do not verify; without keys they are not checked", async () => {
    const text = await download("/export", "format=jsonl&resource=process", tenantAdmin(w.a));
    const other = generateKeyPairSync("ed25519").publicKey;
    const wrong = await jsonl(text, new Map([[keyIdOf(other), other]]));
    expect(wrong.ok).toBe(false);
    expect(wrong.findings.every((f) => /^bad signature on seal \d+: its key [0-9a-f]{16} is not among the trusted public keys$/.test(f.problem))).toBe(true);
    const unchecked = await jsonl(text, null);
    expectVerified(unchecked);
    expect(unchecked.signaturesChecked).toBe(false);
  });

  it("entries written after the sealing round are listed as unsealed, not findings", async () => {
    await asUser(db.app, w.a.memberId, (c) => c.query("update app.processes set description = 'after the round' where id = $1", [w.a.processId]));
    const { rows } = await db.owner.query<{ id: string }>(
      "select id::text from audit.log where tenant_id = $1 and new_values -> 'description' = '\"after the round\"'", [w.a.tenantId]);
    expect(rows.length).toBe(1);
    const unsealed = await unsealedIds(w.a.tenantId);
    const text = await download("/export", "format=jsonl", tenantAdmin(w.a));
    const result = await jsonl(text);
    expectVerified(result);
    expect(result.unsealed).toContain(rows[0]!.id);
    expect(result.unsealed).toEqual(unsealed);
    expect(result.proved + result.unsealed.length).toBe(result.entries);
    expect(linesOf(text).at(-1)!.unsealed).toContain(rows[0]!.id);
  });

  it("an account admin's export is filtered: only the account's entries, each proved, and it verifies", async () => {
    const unsealed = await unsealedIds(w.a.tenantId, "l.account_id = $2", [w.a.accountId]);
    const text = await download("/export", "format=jsonl", accountAdmin(w.a));
    expect(linesOf(text)[0]).toMatchObject({ proof: "inline", completeness: "filtered", filter: {} });
    expect(linesOf(text)[0]!.note).toMatch(/not that no matching entry was left out/);
    const entries = entryLines(text);
    expect(entries.length).toBeGreaterThan(0);
    expect(new Set(entries.map((e) => e.accountId))).toEqual(new Set([w.a.accountId]));
    const result = await jsonl(text);
    expectVerified(result);
    expect(result).toMatchObject({ completeness: "filtered", entries: entries.length });
    expect(result.unsealed).toEqual(unsealed);
    expect(result.proved).toBe(entries.length - unsealed.length);
    expect(result.proved).toBeGreaterThan(0);
  });
});

describe("CSV with its proof sidecar (GET /export/proof)", () => {
  it("the CSV's jsonb cells are PostgreSQL's text; CSV + sidecar verify, filtered and complete", async () => {
    for (const query of ["from=2026-03-01T00:00:00.000Z&to=2026-04-01T00:00:00.000Z", ""]) {
      const table = await download("/export", `format=csv${query ? `&${query}` : ""}`, tenantAdmin(w.a));
      // (the update with the exact numbers is not backdated into March)
      if (!query) {
        expect(table).toContain(`"{""value"": ${EXACT.replace(/"/g, '""')}}"`);
        // neutralized formulas (undone by the verifier)
        expect(table).toContain(`,"'=HYPERLINK(""x"")",process.created,`);
        expect(table).toContain(`,''@quoted,process.created,`);
      }
      const res = await fetch(`${server.url}/export/proof?format=csv${query ? `&${query}` : ""}`, { headers: { authorization: `Bearer ${tenantAdmin(w.a)}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("application/x-ndjson");
      expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="audit-log-[\d-]+\.proof\.jsonl"$/);
      const proof = await res.text();
      const header = linesOf(proof)[0]!;
      expect(Object.keys(header)).toEqual(["type", "format", "version", "exportedAt", "filter", "proof", "for", "completeness", "note"]);
      expect(header).toMatchObject({ proof: "sidecar", for: "csv", completeness: query ? "filtered" : "complete" });
      expect(linesOf(proof).slice(1).every((l) => ["seal", "proof", "end"].includes(l.type as string))).toBe(true);
      const result = await csv(table, proof);
      expectVerified(result);
      expect(result.proved).toBeGreaterThan(10);
      expect(result.proved + result.unsealed.length).toBe(result.entries);
    }
  });

  it("an edited CSV cell is found on its line", async () => {
    const query = "action=settings.updated";
    const table = await download("/export", `format=csv&${query}`, tenantAdmin(w.a));
    const proof = await download("/export/proof", query, tenantAdmin(w.a));
    expectVerified(await csv(table, proof));
    const at = table.indexOf("1.50");
    const line = table.slice(0, at).split("\n").length;
    const id = table.slice(table.lastIndexOf("\r\n", at) + 2).split(",")[0];
    const result = await csv(table.slice(0, at) + "1.5" + table.slice(at + 4), proof);
    expect(result.findings).toEqual([{ file: "export", line, id, problem: expect.stringMatching(/^the entry was changed: its hash is not in seal \d+'s Merkle tree$/) }]);
    // an edit in a text cell is found too
    const email = table.indexOf("max@acme.test");
    const emailLine = table.slice(0, email).split("\n").length;
    const edited = await csv(table.slice(0, email) + "Max@acme.test" + table.slice(email + "max@acme.test".length), proof);
    expect(edited.findings.map((f) => [f.line, f.problem.slice(0, 22)])).toEqual([[emailLine, "the entry was changed:"]]);
  });

  it("an account admin's sidecar; a row removed from the CSV is found", async () => {
    const table = await download("/export", "format=csv&resource=process", accountAdmin(w.a));
    const proof = await download("/export/proof", "format=csv&resource=process", accountAdmin(w.a));
    expect(linesOf(proof)[0]).toMatchObject({ completeness: "filtered", filter: { resource: "process" } });
    expectVerified(await csv(table, proof));
    const rows = table.split("\r\n");
    const proved = linesOf(proof).filter((l) => l.type === "proof").map((l) => l.id as string);
    // a sealed row that is not the newest (a newer row could have been written between the CSV and its proof)
    const at = rows.findIndex((r, i) => i > 1 && proved.includes(r.split(",")[0]!));
    const removed = rows[at]!.split(",")[0]!;
    const result = await csv(rows.filter((_, i) => i !== at).join("\r\n"), proof);
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual(expect.objectContaining({ file: "proof", id: removed, problem: expect.stringMatching(/is not in the CSV: a row was removed/) }));
  });

  it("a complete CSV whose sidecar came after a sealing round (that sealed entries newer than the CSV) still verifies", async () => {
    const table = await download("/export", "format=csv", tenantAdmin(w.a));
    // the CSV export's own access-log entries, written after its first read, are sealed now
    const { rows } = await db.owner.query<{ id: string }>(
      "select id::text from audit.log where tenant_id = $1 and event = 'audit_log.export_finished' order by id desc limit 1", [w.a.tenantId]);
    await sealEverything(db.owner);
    const proof = await download("/export/proof", "format=csv", tenantAdmin(w.a));
    expect(linesOf(proof).some((l) => l.type === "proof" && l.id === rows[0]!.id)).toBe(true);
    expect(table).not.toContain(`\r\n${rows[0]!.id},`);
    const result = await csv(table, proof);
    expectVerified(result);
    expect(result.completeness).toBe("complete");
    // a removed row is still found: by its seal's count, and by its proof
    const lines = table.split("\r\n");
    const removed = lines[5]!.split(",")[0]!;
    const cut = await csv(lines.filter((_, i) => i !== 5).join("\r\n"), proof);
    expect(cut.findings.map((f) => f.problem)).toContainEqual(expect.stringMatching(/^seal \d+ covers \d+ entries, \d+ (is|are) in this complete export$/));
    expect(cut.findings).toContainEqual(expect.objectContaining({ file: "proof", id: removed }));
  });

  it("the sidecar takes the export's parameters, with their errors, and only for CSV", async () => {
    const get = (query: string, token: string | null = tenantAdmin(w.a)) =>
      fetch(`${server.url}/export/proof?${query}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    expect((await get("format=csv", null)).status).toBe(401);
    for (const [query, message] of [
      ["format=jsonl", /the proof sidecar is for CSV exports/],
      ["tenant=x", /unknown parameter "tenant"/],
      ["user=not-a-uuid", /user must be a uuid/],
      ["from=soon", /from must be an ISO 8601 date-time/],
    ] as const) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code, query).toBe("INVALID_EXPORT_PARAMETER");
      expect(body.errors[0]!.message, query).toMatch(message);
    }
    // another tenant's admin gets only their own tenant's seals and entries
    const proof = await download("/export/proof", "", tenantAdmin(w.b));
    const seals = linesOf(proof).filter((l) => l.type === "seal");
    expect(seals.length).toBeGreaterThan(0);
    expect(new Set(seals.map((s) => s.tenantId))).toEqual(new Set([w.b.tenantId]));
  });
});
