// The canonical form of entries and seals (src/sealing/canonical.ts): a byte
// contract shared with the SQL side, so the vectors here are written out by
// hand from the spec (hashes from Python's hashlib), not taken from the code.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  canonicalEntryBytes,
  canonicalSealBytes,
  ENTRY_FIELDS,
  isoToMicros,
  leafHash,
  SEAL_TAG,
  sealHash,
  type CanonicalEntry,
  type SealFields,
} from "../../src/sealing/canonical.ts";

const nullEntry = (): CanonicalEntry => Object.fromEntries(ENTRY_FIELDS.map((k) => [k, null])) as unknown as CanonicalEntry;
const entry = (fields: Partial<CanonicalEntry>): CanonicalEntry => ({ ...nullEntry(), ...fields });

describe("canonical entry", () => {
  it("lists the 17 fields in canonical order", () => {
    expect(ENTRY_FIELDS).toEqual([
      "id", "occurredAtMicros", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName", "action",
      "resourceType", "entityId", "event", "oldValues", "newValues", "context", "transactionId", "entityLabel",
    ]);
  });

  it("matches a vector written by hand", () => {
    const e = entry({ id: "1", occurredAtMicros: "0", action: "é", entityLabel: "" });
    const expected =
      "010000000131" + // id "1"
      "010000000130" + // occurredAtMicros "0"
      "00".repeat(6) + // tenantId .. actorName: NULL
      "0100000002c3a9" + // action "é": 2 UTF-8 bytes
      "00".repeat(7) + // resourceType .. transactionId: NULL
      "0100000000"; // entityLabel ""
    expect(canonicalEntryBytes(e).toString("hex")).toBe(expected);
    expect(leafHash(e).toString("hex")).toBe("1da5494e738dda92bed7c55084865db14a713a930e37a1ddea071369e32e4c56");
  });

  it("tells NULL from the empty string", () => {
    const asNull = entry({ id: "1", entityLabel: null });
    const asEmpty = entry({ id: "1", entityLabel: "" });
    expect(canonicalEntryBytes(asNull).subarray(-1).toString("hex")).toBe("00");
    expect(canonicalEntryBytes(asEmpty).subarray(-5).toString("hex")).toBe("0100000000");
    expect(leafHash(asNull).equals(leafHash(asEmpty))).toBe(false);
  });

  it("prefixes text with its length in UTF-8 bytes, not characters", () => {
    const bytes = canonicalEntryBytes(entry({ id: "Zoë €😀" })); // 4 + 1 + 3 + 4 = 12 bytes, 6 code points
    expect(bytes.subarray(0, 5).toString("hex")).toBe("010000000c");
    expect(bytes.subarray(5, 17).toString("utf8")).toBe("Zoë €😀");
    expect(bytes.length).toBe(17 + 16);
  });

  it("keeps field boundaries: moving text between fields changes the hash", () => {
    expect(leafHash(entry({ actorId: "ab", actorEmail: "c" })).equals(leafHash(entry({ actorId: "a", actorEmail: "bc" })))).toBe(false);
  });

  it("takes jsonb text verbatim", () => {
    const a = leafHash(entry({ newValues: '{"a": 1, "b": 2}' }));
    expect(a.equals(leafHash(entry({ newValues: '{"a":1,"b":2}' })))).toBe(false);
  });

  it("is the leaf hash sha256(0x00 || bytes)", () => {
    const e = entry({ id: "42", tenantId: "0b6c1a64-3f55-4c5c-9a0e-4b1d2f7f6a10", oldValues: '{"x": "y"}' });
    const expected = createHash("sha256").update(Buffer.concat([Buffer.of(0), canonicalEntryBytes(e)])).digest();
    expect(leafHash(e).equals(expected)).toBe(true);
    expect(leafHash(e).length).toBe(32);
  });

  it("refuses values that are not text or NULL, and malformed Unicode", () => {
    expect(() => canonicalEntryBytes(entry({ id: 1 as unknown as string }))).toThrow(/id must be a string or null/);
    expect(() => canonicalEntryBytes(entry({ actorName: "a\uD800b" }))).toThrow(/actorName is not well-formed Unicode/);
  });
});

describe("isoToMicros", () => {
  it("converts exactly, to the microsecond", () => {
    expect(isoToMicros("1970-01-01T00:00:00Z")).toBe("0");
    expect(isoToMicros("1969-12-31T23:59:59.999999Z")).toBe("-1");
    // 2026-11-30 is day 20,787 after 1970-01-01; 20787 * 86400 + 10 * 3600 = 1,796,032,800 s
    expect(isoToMicros("2026-11-30T10:00:00.5Z")).toBe("1796032800500000");
    expect(isoToMicros("2026-11-30T10:00:00.500000+00:00")).toBe("1796032800500000");
    expect(isoToMicros("2024-02-29T12:34:56.123456Z")).toBe("1709210096123456");
    expect(isoToMicros("2024-02-29T12:34:56.000001Z")).toBe("1709210096000001");
  });

  it("covers years 0001 to 9999 (Date.UTC would put year 1 in 1901)", () => {
    expect(isoToMicros("0001-01-01T00:00:00Z")).toBe("-62135596800000000");
    expect(isoToMicros("9999-12-31T23:59:59.999999Z")).toBe("253402300799999999");
  });

  it("agrees with Date to the millisecond", () => {
    for (const iso of ["2000-02-29T23:59:59.999Z", "1900-03-01T00:00:00Z", "1601-01-01T00:00:00.001Z", "2100-12-31T12:00:00Z"]) {
      expect(isoToMicros(iso)).toBe(String(BigInt(Date.parse(iso)) * 1000n));
    }
  });

  it("rejects anything else", () => {
    for (const bad of [
      "2026-11-30 10:00",
      "2026-11-30 10:00:00Z",
      "2026-11-30T10:00Z",
      "2026-11-30T10:00:00",
      "2026-11-30T10:00:00.Z",
      "2026-11-30T10:00:00.1234567Z",
      "2026-11-30T10:00:00+01:00",
      "2026-11-30T10:00:00-00:00",
      "2026-02-29T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-11-30T24:00:00Z",
      "2026-11-30T23:59:60Z",
      "0000-01-01T00:00:00Z",
      "garbage",
      "",
    ]) {
      expect(() => isoToMicros(bad), bad).toThrow(Error);
    }
    expect(() => isoToMicros("2026-11-30 10:00")).toThrow(/not an ISO 8601 UTC timestamp/);
    expect(() => isoToMicros("2026-02-30T00:00:00Z")).toThrow(/not a valid UTC date and time/);
  });
});

describe("canonical seal", () => {
  const seal: SealFields = {
    tenantId: "11111111-1111-1111-1111-111111111111",
    seq: "1",
    fromXid: "100",
    toXid: "200",
    sealedThroughXid: "200",
    entryCount: "0",
    firstId: null,
    lastId: null,
    occurredFromMicros: null,
    occurredToMicros: null,
    merkleRoot: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    previousHash: null,
    supersedes: null,
    reason: null,
    keyId: "0123456789abcdef",
    sealedAtMicros: "1796032800500000",
  };

  it("starts with the tag, then the fields in canonical order", () => {
    const bytes = canonicalSealBytes(seal);
    const tag = Buffer.from(SEAL_TAG);
    expect(SEAL_TAG).toBe("audit-trail seal v1");
    expect(bytes.subarray(0, 5).toString("hex")).toBe("0100000013"); // 19 bytes
    expect(bytes.subarray(5, 5 + tag.length).equals(tag)).toBe(true);
    expect(bytes.subarray(24, 29).toString("hex")).toBe("0100000024"); // the tenant id, 36 bytes
    // ... seq "1", fromXid "100", toXid "200", sealedThroughXid "200", entryCount "0", four NULLs
    const afterTenant = bytes.subarray(29 + 36, 29 + 36 + 6 + 8 + 8 + 8 + 6 + 4).toString("hex");
    expect(afterTenant).toBe("010000000131" + "0100000003313030" + "0100000003323030".repeat(2) + "010000000130" + "00000000");
  });

  it("has a fixed hash", () => {
    expect(sealHash(seal)).toBe("cf006c882d1b56118645304d0d8fb81706a2287496386ad3654be491163e0793");
    expect(sealHash(seal)).toBe(createHash("sha256").update(canonicalSealBytes(seal)).digest("hex"));
  });

  it("changes with every field, NULL or not", () => {
    const base = sealHash(seal);
    expect(sealHash({ ...seal, reason: "" })).not.toBe(base);
    expect(sealHash({ ...seal, previousHash: "0".repeat(64) })).not.toBe(base);
    expect(sealHash({ ...seal, sealedAtMicros: "1796032800500001" })).not.toBe(base);
  });

  it("wants the Merkle root in lowercase hex", () => {
    expect(() => canonicalSealBytes({ ...seal, merkleRoot: seal.merkleRoot.toUpperCase() })).toThrow(/64 lowercase hex/);
  });
});
