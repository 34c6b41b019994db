// The offline export verifier's readers without a database: the scanner that
// finds each top-level value's raw text in a JSON Lines line, the RFC 4180
// reader, and verifyExport on a small export made here with the real
// canonical form, Merkle tree and signatures (the server's exports are
// checked end to end in test/server/export-proof.test.ts).
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { leafHash, sealHash, type CanonicalEntry, type SealFields } from "../../src/sealing/canonical.ts";
import { CsvReader, formatExportVerification, parseCsv, rawMembers, verifyExport } from "../../src/sealing/export-verify.ts";
import { keyIdOf, signSeal } from "../../src/sealing/keys.ts";
import { merkleRoot, proofsFor } from "../../src/sealing/merkle.ts";

describe("rawMembers: the raw source span of each top-level value", () => {
  test("values exactly as written: numbers, nested objects with spaces, strings with escapes, literals", () => {
    const line = `{"a":1.50,"b" : {"x": [1, 2.0, {"y": "}]\\""}], "z": 12345678901234567890} ,"c":"q\\"uo,te}","d":null,"e":true,"f":[ ],"g":-0.0e+1}`;
    const m = rawMembers(line);
    expect([...m.keys()]).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
    expect(m.get("a")!.raw).toBe("1.50");
    expect(m.get("b")!.raw).toBe(`{"x": [1, 2.0, {"y": "}]\\""}], "z": 12345678901234567890}`);
    expect(m.get("c")!.raw).toBe(`"q\\"uo,te}"`);
    expect(m.get("d")!.raw).toBe("null");
    expect(m.get("e")!.raw).toBe("true");
    expect(m.get("f")!.raw).toBe("[ ]");
    expect(m.get("g")!.raw).toBe("-0.0e+1");
    for (const [, span] of m) expect(line.slice(span.start, span.end)).toBe(span.raw);
  });

  test("keys with escapes, unicode and surrounding whitespace", () => {
    const m = rawMembers(` \t{ "k\\u0065y" : "vä\\u2028lue" , "\\"" : {} }\r `);
    expect(m.get("key")!.raw).toBe(`"vä\\u2028lue"`);
    expect(m.get('"')!.raw).toBe("{}");
    expect(rawMembers("{}").size).toBe(0);
  });

  test("refuses what is not exactly one JSON object, and repeated keys", () => {
    for (const bad of [
      "", "[]", "1", `{"a":1`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":"x}`, `{"a":{"b":1}`,
      `{"a":1}{}`, `{"a":1} x`, `{"a":[1,]}`, `{"a":1,"a":2}`, `{"a":{"b":1,}}`, `{"a":'x'}`,
    ]) {
      expect(() => rawMembers(bad), bad).toThrow(SyntaxError);
    }
  });
});

describe("CsvReader (RFC 4180)", () => {
  test("quoted cells with commas, quotes and line breaks, CRLF records, the line each record starts on", () => {
    const text = `a,b,c\r\n1,"x, ""y""",\r\n2,"multi\r\nline\nbreaks",""\r\n3,,"'=1"\r\n`;
    const records = parseCsv(text);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 6]);
    expect(records[1]!.cells).toEqual([{ value: "1", quoted: false }, { value: 'x, "y"', quoted: true }, { value: "", quoted: false }]);
    expect(records[2]!.cells.map((c) => c.value)).toEqual(["2", "multi\r\nline\nbreaks", ""]);
    // an empty string ("") differs from a null (an empty cell)
    expect(records[2]!.cells[2]).toEqual({ value: "", quoted: true });
    expect(records[3]!.cells).toEqual([{ value: "3", quoted: false }, { value: "", quoted: false }, { value: "'=1", quoted: true }]);
    expect(records.every((r) => r.malformed === undefined)).toBe(true);
  });

  test("the same records whatever the chunks (a CRLF or a \"\" split between two)", () => {
    const text = `id,v\r\n1,"a""b"\r\n2,"c\r\nd"\r\n3,e`;
    const whole = parseCsv(text);
    for (let cut = 1; cut < text.length; cut++) {
      const reader = new CsvReader();
      expect([...reader.push(text.slice(0, cut)), ...reader.push(text.slice(cut)), ...reader.end()], `cut at ${cut}`).toEqual(whole);
    }
    expect(whole.map((r) => r.cells.map((c) => c.value))).toEqual([["id", "v"], ["1", 'a"b'], ["2", "c\r\nd"], ["3", "e"]]);
  });

  test("LF-only files, no final line end, blank lines skipped; stray or unclosed quotes are flagged", () => {
    expect(parseCsv("a,b\n1,2\n\n3,4").map((r) => [r.line, r.cells.map((c) => c.value)])).toEqual([[1, ["a", "b"]], [2, ["1", "2"]], [4, ["3", "4"]]]);
    expect(parseCsv(`a,b"c\r\n`)[0]!.malformed).toMatch(/quote inside an unquoted cell/);
    expect(parseCsv(`"a"b,c\r\n`)[0]!.malformed).toMatch(/text after a closing quote/);
    expect(parseCsv(`1,"open\r\n`)[0]!.malformed).toMatch(/not closed/);
  });
});

// --- verifyExport on a handmade export ---------------------------------------

const TENANT = "0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11";
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const KEY_ID = keyIdOf(publicKey);
const publicKeys = new Map([[KEY_ID, publicKey]]);

interface Made {
  api: Record<string, string | null>;
  canonical: CanonicalEntry;
}

function entry(id: number, xid: number, newValues: string | null): Made {
  const occurredAt = `2026-03-0${1 + (id % 5)}T10:00:00.${String(id).padStart(6, "0")}Z`;
  const api = {
    id: String(id), occurredAt, tenantId: TENANT, accountId: null, actorType: "user", actorId: TENANT, actorEmail: "ada@acme.test",
    actorName: id === 2 ? "=cmd" : "Ada, \"the\" Admin", action: "update", resourceType: "settings", entityId: `e${id}`, entityLabel: null,
    event: "settings.updated", description: "Settings updated", oldValues: null, newValues, context: `{"ip": "203.0.113.9"}`, transactionId: String(xid),
  };
  const canonical: CanonicalEntry = {
    id: api.id, occurredAtMicros: String(Date.parse(occurredAt) * 1000 + (id % 1000)), tenantId: TENANT, accountId: null, actorType: "user",
    actorId: TENANT, actorEmail: api.actorEmail, actorName: api.actorName, action: "update", resourceType: "settings", entityId: api.entityId,
    event: api.event, oldValues: null, newValues, context: api.context, transactionId: api.transactionId, entityLabel: null,
  };
  return { api, canonical };
}

function jsonLineOf(api: Record<string, string | null>): string {
  const raw = new Set(["oldValues", "newValues", "context"]);
  return `{${Object.entries(api).map(([k, v]) => `${JSON.stringify(k)}:${v === null ? "null" : raw.has(k) ? v : JSON.stringify(v)}`).join(",")}}`;
}

/** Seals 1 (xids [100, 200)) and 2 ([200, 300)) over five entries, and one newer unsealed entry (xid 300). */
function handmade(completeness: "complete" | "filtered" = "complete") {
  const entries = [
    entry(1, 150, `{"amount": 1.50}`), entry(2, 150, `{"big": 12345678901234567890}`), entry(3, 160, null),
    entry(4, 250, `{"a": [1, 2.0]}`), entry(5, 260, `{"s": "x\\ny"}`), entry(6, 300, `{}`),
  ];
  const seals: Record<string, unknown>[] = [];
  const proofs: string[] = [];
  let previous: string | null = null;
  for (const [seq, from, to, members] of [[1, 100, 200, entries.slice(0, 3)], [2, 200, 300, entries.slice(3, 5)]] as const) {
    const leaves = members.map((m) => leafHash(m.canonical));
    const fields: SealFields = {
      tenantId: TENANT, seq: String(seq), fromXid: String(from), toXid: String(to), sealedThroughXid: String(to), entryCount: String(members.length),
      firstId: members[0]!.canonical.id, lastId: members.at(-1)!.canonical.id, occurredFromMicros: "1", occurredToMicros: "2",
      merkleRoot: merkleRoot(leaves).toString("hex"), previousHash: previous, supersedes: null, reason: null, keyId: KEY_ID, sealedAtMicros: "3",
    };
    const hash = sealHash(fields);
    seals.push({ type: "seal", ...fields, sealHash: hash, signature: signSeal(hash, privateKey), canonicalVersion: 1 });
    previous = hash;
    const paths = proofsFor(leaves, members.map((_, i) => i));
    members.forEach((m, i) => proofs.push(JSON.stringify({
      type: "proof", id: m.api.id, tenantId: TENANT, seq: String(seq), index: i, size: members.length, path: paths.get(i)!.map((b) => b.toString("hex")),
    })));
  }
  const header = JSON.stringify({ type: "header", format: "audit-trail export", version: 1, exportedAt: "2026-03-10T00:00:00.000Z", filter: {}, proof: "inline", completeness, note: "" });
  const lines = [
    header, ...[...entries].reverse().map((e) => jsonLineOf(e.api)), ...seals.map((s) => JSON.stringify(s)), ...proofs,
    JSON.stringify({ type: "end", entries: entries.length, proved: proofs.length, unsealed: ["6"], seals: seals.length }),
  ];
  return { lines, entries };
}

const dir = mkdtempSync(path.join(tmpdir(), "export-verify-"));
let files = 0;
function write(text: string, ext = "jsonl"): string {
  const file = path.join(dir, `f${files++}.${ext}`);
  writeFileSync(file, text);
  return file;
}
const verifyLines = (lines: string[], keys = publicKeys) => verifyExport({ file: write(lines.join("\n") + "\n"), publicKeys: keys });

describe("verifyExport on a handmade export", () => {
  test("verifies: every sealed entry proved, the newer one unsealed", async () => {
    const { lines } = handmade();
    const result = await verifyLines(lines);
    expect(result.findings).toEqual([]);
    expect(result).toMatchObject({ ok: true, entries: 6, proved: 5, unsealed: ["6"], seals: 2, completeness: "complete", signaturesChecked: true });
    expect(formatExportVerification(result)).toMatch(/^OK: complete export, 6 entries, 5 proved by 2 seals, 1 not sealed yet; signatures checked/);
    // without keys: the same, signatures not checked
    const unsigned = await verifyExport({ file: write(lines.join("\n")) });
    expect(unsigned).toMatchObject({ ok: true, signaturesChecked: false });
  });

  test("a changed number (1.50 written as 1.5) is a finding on that line only", async () => {
    const { lines } = handmade();
    const at = lines.findIndex((l) => l.includes("1.50"));
    lines[at] = lines[at]!.replace("1.50", "1.5");
    const result = await verifyLines(lines);
    expect(result.findings).toEqual([{ file: "export", line: at + 1, id: "1", problem: "the entry was changed: its hash is not in seal 1's Merkle tree" }]);
    expect(formatExportVerification(result)).toContain(`export line ${at + 1} (entry 1): the entry was changed`);
  });

  test("a removed entry, a changed seal, a broken chain, a bad signature, a foreign key", async () => {
    {
      const { lines } = handmade();
      const at = lines.findIndex((l) => l.startsWith(`{"id":"4"`));
      lines.splice(at, 1);
      const problems = (await verifyLines(lines)).findings.map((f) => f.problem);
      expect(problems).toContain("seal 2 covers 2 entries, 1 is in this complete export");
      expect(problems).toContain("a proof of entry 4, which is not in the file: its entry line was removed");
    }
    {
      const { lines } = handmade("filtered");
      const at = lines.findIndex((l) => l.startsWith(`{"type":"seal","tenantId":"${TENANT}","seq":"2"`));
      lines[at] = lines[at]!.replace(/"merkleRoot":"[0-9a-f]{64}"/, `"merkleRoot":"${"0".repeat(64)}"`);
      const result = await verifyLines(lines);
      // the seal's finding, not one per entry of it
      expect(result.findings).toEqual([{ file: "export", line: at + 1, problem: "seal 2 does not match its hash: the seal line was changed" }]);
      expect(result.proved).toBe(3);
    }
    {
      const { lines } = handmade();
      const at = lines.findIndex((l) => l.includes(`"seq":"2","fromXid"`));
      const seal = JSON.parse(lines[at]!) as Record<string, string | null>;
      // a re-made seal 2 whose hash and signature are right, but that does not chain to seal 1
      seal.previousHash = "f".repeat(64);
      const { type: _t, sealHash: _h, signature: _s, canonicalVersion: _v, ...fields } = seal;
      seal.sealHash = sealHash(fields as unknown as SealFields);
      seal.signature = signSeal(seal.sealHash, privateKey);
      lines[at] = JSON.stringify({ ...seal, canonicalVersion: 1 });
      expect((await verifyLines(lines)).findings.map((f) => f.problem)).toEqual(["seal 2 does not chain to seal 1: its previousHash is not seal 1's hash"]);
      // signed by another key
      seal.signature = signSeal(seal.sealHash, generateKeyPairSync("ed25519").privateKey);
      lines[at] = JSON.stringify({ ...seal, canonicalVersion: 1 });
      expect((await verifyLines(lines)).findings.map((f) => f.problem)).toContain("bad signature on seal 2");
    }
    {
      const { lines } = handmade();
      const other = generateKeyPairSync("ed25519").publicKey;
      const result = await verifyLines(lines, new Map([[keyIdOf(other), other]]));
      expect(result.findings.map((f) => f.problem)).toEqual([
        `bad signature on seal 1: its key ${KEY_ID} is not among the trusted public keys`,
        `bad signature on seal 2: its key ${KEY_ID} is not among the trusted public keys`,
      ]);
    }
  });

  test("an entry without proof, an unsealed entry inside a sealed range, a cut file, a changed jsonb string", async () => {
    {
      const { lines } = handmade();
      const at = lines.findIndex((l) => l.includes(`"type":"proof","id":"3"`));
      lines.splice(at, 1);
      const result = await verifyLines(lines);
      expect(result.findings.map((f) => [f.id, f.problem])).toEqual([
        ["3", "no proof for this entry, though seal 1 covers its transaction: the seal does not hold it (added after sealing?)"],
        [undefined, "the end line counts 5 proofs, the file holds 4"],
      ]);
    }
    {
      const { lines } = handmade();
      lines[lines.length - 1] = lines.at(-1)!.replace(`"unsealed":["6"]`, `"unsealed":["6","5"]`);
      expect((await verifyLines(lines)).findings.map((f) => f.problem)).toContain("entry 5 is listed as unsealed, but seal 2 covers its transaction");
    }
    {
      const { lines } = handmade();
      const result = await verifyLines(lines.slice(0, -3));
      expect(result.ok).toBe(false);
      expect(result.findings.map((f) => f.problem)).toContain("the proof has no end line: the file was cut short");
    }
    {
      const { lines } = handmade();
      const at = lines.findIndex((l) => l.startsWith(`{"id":"5"`));
      lines[at] = lines[at]!.replace(`"x\\ny"`, `"x\\u000ay"`);
      expect((await verifyLines(lines)).findings).toEqual([{ file: "export", line: at + 1, id: "5", problem: "the entry was changed: its hash is not in seal 2's Merkle tree" }]);
    }
  });

  test("a header that calls a filtered export complete is a finding", async () => {
    const { lines } = handmade();
    lines[0] = lines[0]!.replace(`"filter":{}`, `"filter":{"action":"update"}`);
    expect((await verifyLines(lines)).findings).toEqual([
      { file: "export", line: 1, problem: `the header calls the export complete, but it names a filter ({"action":"update"})` },
    ]);
  });

  test("a file that is not an export with its proof: a finding, no verification", async () => {
    const { lines } = handmade();
    const result = await verifyLines(lines.slice(1));
    expect(result.ok).toBe(false);
    expect(result.findings).toEqual([{ file: "export", line: 1, problem: "this is not an audit-trail export with its proof: the first line is not its header" }]);
    await expect(verifyExport({ file: write("id,occurredAt\r\n", "csv") })).rejects.toThrow(/proof sidecar/);
  });
});
