// The canonical byte form of audit entries and seals, and their hashes.
// The same bytes are computed in SQL, so this format is a contract: change
// it only with CANONICAL_VERSION and the SQL side together.
//
// A field is 0x00 for SQL NULL, or 0x01, the uint32 big-endian byte length
// of its UTF-8 text, then that text. The marker keeps NULL apart from "",
// and the length prefix keeps ("ab", "c") apart from ("a", "bc").
import { createHash } from "node:crypto";

export const CANONICAL_VERSION = 1;

/**
 * An audit entry as text, in canonical order. Every value is PostgreSQL's
 * text output of the column, taken verbatim (jsonb is never re-serialized:
 * another serializer could order keys or format numbers differently).
 */
export interface CanonicalEntry {
  /** Decimal. */
  id: string | null;
  /** Integer microseconds since 1970-01-01T00:00:00Z, decimal, may be negative (see isoToMicros). */
  occurredAtMicros: string | null;
  /** Lowercase uuid. */
  tenantId: string | null;
  accountId: string | null;
  actorType: string | null;
  actorId: string | null;
  actorEmail: string | null;
  actorName: string | null;
  action: string | null;
  resourceType: string | null;
  entityId: string | null;
  event: string | null;
  /** jsonb text output, verbatim. */
  oldValues: string | null;
  /** jsonb text output, verbatim. */
  newValues: string | null;
  /** jsonb text output, verbatim. */
  context: string | null;
  /** Decimal. */
  transactionId: string | null;
  entityLabel: string | null;
}

/** The entry's keys in canonical order. */
export const ENTRY_FIELDS = [
  "id",
  "occurredAtMicros",
  "tenantId",
  "accountId",
  "actorType",
  "actorId",
  "actorEmail",
  "actorName",
  "action",
  "resourceType",
  "entityId",
  "event",
  "oldValues",
  "newValues",
  "context",
  "transactionId",
  "entityLabel",
] as const satisfies readonly (keyof CanonicalEntry)[];

const NULL_FIELD = Buffer.from([0x00]);

function encodeField(value: string | null, name: string): Buffer {
  if (value === null) return NULL_FIELD;
  // A number or undefined would otherwise hash as something SQL never produces.
  if (typeof value !== "string") throw new TypeError(`canonical form: ${name} must be a string or null, got ${typeof value}`);
  // A lone surrogate would be encoded as U+FFFD, silently unlike the database's text.
  if (!value.isWellFormed()) throw new TypeError(`canonical form: ${name} is not well-formed Unicode`);
  const length = Buffer.byteLength(value, "utf8");
  const out = Buffer.allocUnsafe(5 + length);
  out[0] = 0x01;
  out.writeUInt32BE(length, 1);
  out.write(value, 5, "utf8");
  return out;
}

/** The 17 encoded fields of an entry, concatenated in canonical order. */
export function canonicalEntryBytes(e: CanonicalEntry): Buffer {
  return Buffer.concat(ENTRY_FIELDS.map((name) => encodeField(e[name], name)));
}

/** sha256(0x00 || canonical bytes): the RFC 9162 leaf hash of the entry (32 bytes). */
export function leafHash(e: CanonicalEntry): Buffer {
  return createHash("sha256").update(NULL_FIELD).update(canonicalEntryBytes(e)).digest();
}

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$/;

/** Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const daysInMonth = (year: number, month: number) =>
  month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/**
 * "2026-11-30T10:00:00.123456Z" (0 to 6 fraction digits, "Z" or "+00:00")
 * to microseconds since the epoch, as decimal text. Exact: Date keeps only
 * milliseconds. (Date.UTC is not used either: it maps years 0-99 to 1900-1999.)
 */
export function isoToMicros(iso: string): string {
  const m = typeof iso === "string" ? ISO_UTC.exec(iso) : null;
  if (!m) throw new Error(`not an ISO 8601 UTC timestamp like "2026-11-30T10:00:00.123456Z": ${JSON.stringify(iso)}`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new Error(`not a valid UTC date and time (years 0001-9999): ${JSON.stringify(iso)}`);
  }
  const seconds = BigInt(daysFromCivil(year, month, day)) * 86_400n + BigInt(hour * 3600 + minute * 60 + second);
  const fraction = BigInt((m[7] ?? "").padEnd(6, "0"));
  return (seconds * 1_000_000n + fraction).toString();
}

/** A seal: what it covers, its Merkle root, and the chain it belongs to. */
export interface SealFields {
  tenantId: string;
  seq: string;
  fromXid: string;
  toXid: string;
  sealedThroughXid: string;
  entryCount: string;
  firstId: string | null;
  lastId: string | null;
  occurredFromMicros: string | null;
  occurredToMicros: string | null;
  /** 64 lowercase hex digits. */
  merkleRoot: string;
  previousHash: string | null;
  supersedes: string | null;
  reason: string | null;
  keyId: string;
  sealedAtMicros: string;
}

/** First field of every seal: a seal's bytes can never be mistaken for other signed data. */
export const SEAL_TAG = "audit-trail seal v1";

const SEAL_FIELDS = [
  "tenantId",
  "seq",
  "fromXid",
  "toXid",
  "sealedThroughXid",
  "entryCount",
  "firstId",
  "lastId",
  "occurredFromMicros",
  "occurredToMicros",
  "merkleRoot",
  "previousHash",
  "supersedes",
  "reason",
  "keyId",
  "sealedAtMicros",
] as const satisfies readonly (keyof SealFields)[];

/** SEAL_TAG, then the seal's 16 fields, each encoded, in canonical order. */
export function canonicalSealBytes(s: SealFields): Buffer {
  // Upper-case hex would hash differently from the SQL side's lowercase.
  if (!/^[0-9a-f]{64}$/.test(s.merkleRoot)) throw new TypeError("canonical form: merkleRoot must be 64 lowercase hex digits");
  return Buffer.concat([encodeField(SEAL_TAG, "tag"), ...SEAL_FIELDS.map((name) => encodeField(s[name], name))]);
}

/** Lowercase hex sha256 of the seal's canonical bytes: what is signed and what the next seal chains to. */
export function sealHash(s: SealFields): string {
  return createHash("sha256").update(canonicalSealBytes(s)).digest("hex");
}

/** An instant's canonical text in SQL (integer microseconds since the epoch), from core casts only. */
export function microsSql(column: string): string {
  return `((extract(epoch from ${column}) * 1000000)::bigint)::text`;
}

/** A row of audit.seals (`alias`) selected as SealFields: the text each field is hashed as, named as here. */
export function sealFieldsSql(alias: string): string {
  const a = alias;
  return `${a}.tenant_id::text as "tenantId", ${a}.seq::text as "seq", ${a}.from_xid::text as "fromXid", ${a}.to_xid::text as "toXid",
         ${a}.sealed_through_xid::text as "sealedThroughXid", ${a}.entry_count::text as "entryCount",
         ${a}.first_id::text as "firstId", ${a}.last_id::text as "lastId",
         ${microsSql(`${a}.occurred_from`)} as "occurredFromMicros", ${microsSql(`${a}.occurred_to`)} as "occurredToMicros",
         ${a}.merkle_root as "merkleRoot", ${a}.previous_hash as "previousHash", ${a}.supersedes::text as "supersedes", ${a}.reason as "reason",
         ${a}.key_id as "keyId", ${microsSql(`${a}.sealed_at`)} as "sealedAtMicros"`;
}
