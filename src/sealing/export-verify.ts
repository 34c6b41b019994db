// Offline verification of an export (`npm run verify -- --export FILE`), with
// no database: a JSON Lines export with its proof inline, or a CSV export with
// its proof sidecar (GET /export/proof). Each entry is rebuilt in its
// canonical form from the file itself (the jsonb columns from the raw text of
// the line or the cell, never parsed and serialized again), hashed, and
// checked against its seal's Merkle root with the inclusion path the proof
// gives; each seal's hash is recomputed, its signature checked with trusted
// public keys, and consecutive seals of a tenant must chain. A "complete"
// export (a tenant admin's, without filters) must also hold every entry of
// every seal it lists. The line formats: src/server/routes/export-proof.ts.
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { KeyObject } from "node:crypto";
import { createInterface } from "node:readline";
import { EXPORT_COLUMNS, TEXT_COLUMNS, restoreFormula } from "../server/routes/export-file.ts";
import type { AuditEntry } from "../shared/entry.ts";
import { isoToMicros, leafHash, sealHash, type CanonicalEntry, type SealFields } from "./canonical.ts";
import { verifySealSignature } from "./keys.ts";
import { verifyInclusion } from "./merkle.ts";

export interface ExportFinding {
  /** Which file the line is in: the export itself, or the CSV's proof sidecar. */
  file: "export" | "proof";
  /** 1-based line number in that file (for a CSV record: the line it starts on). */
  line: number;
  /** The entry concerned, when there is one. */
  id?: string;
  problem: string;
}

export interface ExportVerification {
  /** Nothing was found. */
  ok: boolean;
  /** Entries in the export. */
  entries: number;
  /** Entries whose inclusion in their seal was proved. */
  proved: number;
  /** Entries the export lists as not yet sealed (newer than the last sealing round). */
  unsealed: string[];
  findings: ExportFinding[];
  /** The header's claim: "complete" (every seal's entries are all in the file, checked) or "filtered"; null without a readable header. */
  completeness: "complete" | "filtered" | null;
  /** Seals in the proof. */
  seals: number;
  /** Whether the seals' signatures were checked (publicKeys given). */
  signaturesChecked: boolean;
}

export interface VerifyExportOptions {
  /** The export: .jsonl (proof inline) or .csv (with proofFile). */
  file: string;
  /** The CSV's proof sidecar (audit-log-….proof.jsonl). */
  proofFile?: string;
  /** Trusted public keys by key id; without them signatures are not checked. */
  publicKeys?: Map<string, KeyObject>;
}

// --- the raw-span scanner ---------------------------------------------------

export interface RawSpan {
  /** Offset of the value's first character in the text. */
  start: number;
  /** Offset after its last character. */
  end: number;
  /** The value's source text, exactly as written. */
  raw: string;
}

const isWhitespace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";

/**
 * The members of a JSON object text, each value as its exact source span (so
 * that jsonb text in a line can be hashed as written). Strict: the text must
 * be one JSON object, each value valid JSON, and no key may repeat (another
 * reader could take either). Throws SyntaxError otherwise.
 */
export function rawMembers(text: string): Map<string, RawSpan> {
  const members = new Map<string, RawSpan>();
  let i = 0;
  const skip = () => {
    while (isWhitespace(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  /** End (exclusive) of the string starting at `at` (a '"'). */
  const stringEnd = (at: number): number => {
    for (let j = at + 1; j < text.length; j++) {
      const c = text[j];
      if (c === "\\") j++;
      else if (c === '"') return j + 1;
    }
    i = at;
    return fail("unterminated string");
  };
  /** End (exclusive) of the value starting at `at`. */
  const valueEnd = (at: number): number => {
    const c = text[at];
    if (c === '"') return stringEnd(at);
    if (c === "{" || c === "[") {
      let depth = 0;
      for (let j = at; j < text.length; j++) {
        const d = text[j];
        if (d === '"') j = stringEnd(j) - 1;
        else if (d === "{" || d === "[") depth++;
        else if (d === "}" || d === "]") {
          depth--;
          if (depth === 0) return j + 1;
        }
      }
      i = at;
      return fail("unterminated value");
    }
    let j = at;
    while (j < text.length && !isWhitespace(text[j]) && text[j] !== "," && text[j] !== "}" && text[j] !== "]") j++;
    if (j === at) {
      i = at;
      fail("a value expected");
    }
    return j;
  };

  skip();
  if (text[i] !== "{") fail("an object expected");
  i++;
  skip();
  if (text[i] === "}") {
    i++;
  } else {
    for (;;) {
      if (text[i] !== '"') fail("a member name expected");
      const keyEnd = stringEnd(i);
      const key = JSON.parse(text.slice(i, keyEnd)) as string;
      i = keyEnd;
      skip();
      if (text[i] !== ":") fail('":" expected');
      i++;
      skip();
      const start = i;
      const end = valueEnd(i);
      const raw = text.slice(start, end);
      try {
        JSON.parse(raw);
      } catch {
        fail(`the value of "${key}" is not valid JSON`);
      }
      if (members.has(key)) fail(`"${key}" is given twice`);
      members.set(key, { start, end, raw });
      i = end;
      skip();
      if (text[i] === ",") {
        i++;
        skip();
        continue;
      }
      if (text[i] === "}") {
        i++;
        break;
      }
      fail('"," or "}" expected');
    }
  }
  skip();
  if (i !== text.length) fail("text after the object");
  return members;
}

// --- CSV (RFC 4180) ---------------------------------------------------------

export interface CsvCell {
  value: string;
  /** Written in quotes: an empty quoted cell is an empty string, an empty bare cell a null. */
  quoted: boolean;
}

export interface CsvRecord {
  /** The 1-based line the record starts on. */
  line: number;
  cells: CsvCell[];
  /** Set when the record breaks RFC 4180 (a stray quote, an unterminated one). */
  malformed?: string;
}

/**
 * A streaming RFC 4180 reader: quoted cells (with line breaks and "" escapes
 * inside), CRLF, LF or CR line ends. push() text as it comes, then end().
 */
export class CsvReader {
  #line = 1;
  #recordLine = 1;
  #cells: CsvCell[] = [];
  #cell = "";
  #quoted = false;
  #inQuotes = false;
  #quoteClosed = false;
  #skipLf = false;
  #malformed: string | undefined;
  #started = false;

  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    for (let k = 0; k < text.length; k++) {
      const c = text[k]!;
      if (this.#skipLf) {
        this.#skipLf = false;
        if (c === "\n") continue;
      }
      this.#started = true;
      if (this.#inQuotes) {
        if (c === '"') {
          this.#inQuotes = false;
          this.#quoteClosed = true;
        } else {
          if (c === "\n") this.#line++;
          this.#cell += c;
        }
        continue;
      }
      if (c === '"') {
        if (this.#quoteClosed) {
          // "" inside a quoted cell
          this.#cell += '"';
          this.#inQuotes = true;
          this.#quoteClosed = false;
        } else if (this.#cell === "" && !this.#quoted) {
          this.#quoted = true;
          this.#inQuotes = true;
        } else {
          this.#malformed ??= "a quote inside an unquoted cell";
          this.#cell += c;
        }
      } else if (c === ",") {
        this.#endCell();
      } else if (c === "\r" || c === "\n") {
        this.#endCell();
        const record = this.#endRecord();
        if (record) out.push(record);
        this.#line++;
        this.#recordLine = this.#line;
        if (c === "\r") this.#skipLf = true;
      } else {
        if (this.#quoteClosed) this.#malformed ??= "text after a closing quote";
        this.#cell += c;
      }
    }
    return out;
  }

  end(): CsvRecord[] {
    if (this.#inQuotes) this.#malformed ??= "a quoted cell is not closed";
    if (!this.#started) return [];
    this.#endCell();
    const record = this.#endRecord();
    return record ? [record] : [];
  }

  #endCell(): void {
    this.#cells.push({ value: this.#cell, quoted: this.#quoted });
    this.#cell = "";
    this.#quoted = false;
    this.#inQuotes = false;
    this.#quoteClosed = false;
  }

  #endRecord(): CsvRecord | null {
    const cells = this.#cells;
    const malformed = this.#malformed;
    this.#cells = [];
    this.#malformed = undefined;
    this.#started = false;
    // a blank line is no record
    if (cells.length === 1 && !cells[0]!.quoted && cells[0]!.value === "" && !malformed) return null;
    return { line: this.#recordLine, cells, ...(malformed ? { malformed } : {}) };
  }
}

/** Every record of a CSV text. */
export function parseCsv(text: string): CsvRecord[] {
  const reader = new CsvReader();
  return [...reader.push(text), ...reader.end()];
}

// --- verification -----------------------------------------------------------

type FileKind = "export" | "proof";

interface EntryState {
  line: number;
  tenantId: string | null;
  xid: bigint | null;
  leaf: Buffer | null;
  /** none: no proof line yet; ok: proved; bad: a finding was made; void: its seal is not trustworthy (the finding is the seal's). */
  proof: "none" | "ok" | "bad" | "void";
  unsealed: boolean;
}

interface SealState {
  file: FileKind;
  line: number;
  fields: SealFields;
  sealHash: string;
  hashOk: boolean;
  from: bigint;
  to: bigint;
  entryCount: number;
}

interface EndState {
  file: FileKind;
  line: number;
  entries: number;
  proved: number;
  unsealed: string[];
  seals: number;
}

const DECIMAL = /^-?\d+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const SEAL_STRINGS = ["tenantId", "seq", "fromXid", "toXid", "sealedThroughXid", "entryCount", "merkleRoot", "keyId", "sealedAtMicros"] as const;
const SEAL_NULLABLE = ["firstId", "lastId", "occurredFromMicros", "occurredToMicros", "previousHash", "supersedes", "reason"] as const;
/** The export's columns an entry's canonical form is made of (all but description). */
const ENTRY_COLUMNS = EXPORT_COLUMNS.filter((c) => c !== "description");

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

class Verification {
  readonly findings: ExportFinding[] = [];
  readonly entries = new Map<string, EntryState>();
  readonly seals = new Map<string, SealState>();
  completeness: "complete" | "filtered" | null = null;
  end: EndState | null = null;
  sealLines = 0;
  proofLines = 0;
  proofIds = new Set<string>();
  /** CSV with a sidecar: the largest entry id of the CSV (proofs of newer entries were made after it). */
  maxEntryId: bigint | null = null;
  /** CSV with a sidecar: per seal ("tenant/seq"), the entries its proof holds that are newer than the CSV. */
  readonly newer = new Map<string, number>();

  readonly sidecar: boolean;
  readonly publicKeys: Map<string, KeyObject> | undefined;

  constructor(sidecar: boolean, publicKeys: Map<string, KeyObject> | undefined) {
    this.sidecar = sidecar;
    this.publicKeys = publicKeys;
  }

  find(file: FileKind, line: number, problem: string, id?: string): void {
    this.findings.push({ file, line, ...(id !== undefined ? { id } : {}), problem });
  }

  header(file: FileKind, line: number, value: unknown): boolean {
    const h = isObject(value) ? value : null;
    if (!h || h.type !== "header" || h.format !== "audit-trail export") {
      this.find(file, line, "this is not an audit-trail export with its proof: the first line is not its header");
      return false;
    }
    if (h.version !== 1) {
      this.find(file, line, `the export is of version ${JSON.stringify(h.version)}; this verifier reads version 1`);
      return false;
    }
    const want = this.sidecar ? "sidecar" : "inline";
    if (h.proof !== want || (this.sidecar && h.for !== "csv")) {
      this.find(file, line, this.sidecar
        ? "this is not the proof sidecar of a CSV export (its header says proof " + JSON.stringify(h.proof) + ")"
        : "the export does not carry its proof inline (its header says proof " + JSON.stringify(h.proof) + "): a CSV is checked with its sidecar");
      return false;
    }
    if (h.completeness !== "complete" && h.completeness !== "filtered") {
      this.find(file, line, `the header's completeness is ${JSON.stringify(h.completeness)}, not "complete" or "filtered"`);
      return false;
    }
    this.completeness = h.completeness;
    // (the server calls an export complete only without any filter)
    if (h.completeness === "complete" && !(isObject(h.filter) && Object.keys(h.filter).length === 0)) {
      this.find(file, line, `the header calls the export complete, but it names a filter (${JSON.stringify(h.filter)})`);
    }
    return true;
  }

  /** An entry from its field values (strings or null, the API's names); jsonb columns as raw text. */
  entry(line: number, read: (column: keyof AuditEntry) => string | null): void {
    let id: string | null = null;
    try {
      id = read("id");
      if (id === null || !/^\d+$/.test(id)) throw new Error(`its id is ${JSON.stringify(id)}`);
      const occurredAt = read("occurredAt");
      const canonical: CanonicalEntry = {
        id,
        occurredAtMicros: occurredAt === null ? null : isoToMicros(occurredAt),
        tenantId: read("tenantId"),
        accountId: read("accountId"),
        actorType: read("actorType"),
        actorId: read("actorId"),
        actorEmail: read("actorEmail"),
        actorName: read("actorName"),
        action: read("action"),
        resourceType: read("resourceType"),
        entityId: read("entityId"),
        event: read("event"),
        oldValues: read("oldValues"),
        newValues: read("newValues"),
        context: read("context"),
        transactionId: read("transactionId"),
        entityLabel: read("entityLabel"),
      };
      if (canonical.transactionId === null || !DECIMAL.test(canonical.transactionId)) {
        throw new Error(`its transactionId is ${JSON.stringify(canonical.transactionId)}`);
      }
      if (this.entries.has(id)) {
        this.find("export", line, `entry ${id} is in the file twice (also on line ${this.entries.get(id)!.line})`, id);
        return;
      }
      this.entries.set(id, {
        line, tenantId: canonical.tenantId, xid: BigInt(canonical.transactionId), leaf: leafHash(canonical), proof: "none", unsealed: false,
      });
      if (this.maxEntryId === null || BigInt(id) > this.maxEntryId) this.maxEntryId = BigInt(id);
    } catch (err) {
      this.find("export", line, `the entry is malformed: ${(err as Error).message}`, id ?? undefined);
      if (id !== null && /^\d+$/.test(id) && !this.entries.has(id)) {
        this.entries.set(id, { line, tenantId: null, xid: null, leaf: null, proof: "bad", unsealed: false });
      }
    }
  }

  /** A seal, proof or end line; false for anything else. */
  trailer(file: FileKind, line: number, value: Record<string, unknown>): boolean {
    if (this.end) this.find(file, line, "a line after the end line");
    switch (value.type) {
      case "seal":
        this.seal(file, line, value);
        return true;
      case "proof":
        this.proof(file, line, value);
        return true;
      case "end":
        this.endLine(file, line, value);
        return true;
      default:
        return false;
    }
  }

  seal(file: FileKind, line: number, s: Record<string, unknown>): void {
    this.sealLines++;
    const name = typeof s.seq === "string" ? `seal ${s.seq}` : "a seal";
    const bad = [
      ...SEAL_STRINGS.filter((k) => typeof s[k] !== "string"),
      ...SEAL_NULLABLE.filter((k) => s[k] !== null && typeof s[k] !== "string"),
      ...(["sealHash", "signature"] as const).filter((k) => typeof s[k] !== "string"),
      ...(["seq", "fromXid", "toXid", "entryCount"] as const).filter((k) => typeof s[k] === "string" && !DECIMAL.test(s[k])),
    ];
    if (bad.length > 0) {
      this.find(file, line, `the line of ${name} is malformed: ${[...new Set(bad)].join(", ")}`);
      return;
    }
    if (s.canonicalVersion !== 1) {
      this.find(file, line, `${name} uses canonical version ${JSON.stringify(s.canonicalVersion)}; this verifier knows version 1`);
      return;
    }
    const fields = Object.fromEntries([...SEAL_STRINGS, ...SEAL_NULLABLE].map((k) => [k, s[k]])) as unknown as SealFields;
    const key = `${fields.tenantId}/${fields.seq}`;
    if (this.seals.has(key)) {
      this.find(file, line, `${name} is in the file twice (also on line ${this.seals.get(key)!.line})`);
      return;
    }
    let recomputed: string | null = null;
    try {
      recomputed = sealHash(fields);
    } catch {
      recomputed = null;
    }
    const claimed = s.sealHash as string;
    const hashOk = recomputed !== null && recomputed === claimed;
    if (!hashOk) this.find(file, line, `${name} does not match its hash: the seal line was changed`);
    if (this.publicKeys) {
      const key = this.publicKeys.get(fields.keyId);
      if (!key) this.find(file, line, `bad signature on ${name}: its key ${fields.keyId} is not among the trusted public keys`);
      else if (!verifySealSignature(claimed, s.signature as string, key)) this.find(file, line, `bad signature on ${name}`);
    }
    this.seals.set(key, {
      file, line, fields, sealHash: claimed, hashOk, from: BigInt(fields.fromXid), to: BigInt(fields.toXid), entryCount: Number(fields.entryCount),
    });
  }

  proof(file: FileKind, line: number, p: Record<string, unknown>): void {
    this.proofLines++;
    const wellFormed = typeof p.id === "string" && /^\d+$/.test(p.id) && typeof p.tenantId === "string" && typeof p.seq === "string"
      && Number.isSafeInteger(p.index) && Number.isSafeInteger(p.size) && Array.isArray(p.path)
      && p.path.every((node) => typeof node === "string" && HEX64.test(node));
    if (!wellFormed) {
      this.find(file, line, "the proof line is malformed", typeof p.id === "string" ? p.id : undefined);
      return;
    }
    const id = p.id as string;
    const seq = p.seq as string;
    if (this.proofIds.has(id)) {
      this.find(file, line, `a second proof line for entry ${id}`, id);
      return;
    }
    this.proofIds.add(id);
    const entry = this.entries.get(id);
    if (!entry) {
      if (!this.sidecar) this.find(file, line, `a proof of entry ${id}, which is not in the file: its entry line was removed`, id);
      else if (this.maxEntryId === null || BigInt(id) <= this.maxEntryId) {
        this.find(file, line, `the proof holds entry ${id}, which is not in the CSV: a row was removed, or the entry was written between the CSV and its proof`, id);
      } else {
        // written after the CSV was read: not a finding, but one of its seal's entries
        const key = `${p.tenantId as string}/${seq}`;
        this.newer.set(key, (this.newer.get(key) ?? 0) + 1);
      }
      return;
    }
    const seal = this.seals.get(`${p.tenantId as string}/${seq}`);
    if (!seal) {
      this.find(file, line, `the proof of entry ${id} refers to seal ${seq}, which is not in the file`, id);
      entry.proof = "bad";
      return;
    }
    if (entry.proof !== "none") return; // malformed: found already
    if (!seal.hashOk) {
      entry.proof = "void";
      return;
    }
    if (entry.tenantId !== seal.fields.tenantId) {
      this.find("export", entry.line, `entry ${id} is of tenant ${entry.tenantId}, but its proof is in seal ${seq} of tenant ${seal.fields.tenantId}`, id);
      entry.proof = "bad";
      return;
    }
    if ((p.size as number) !== seal.entryCount) {
      this.find(file, line, `the proof of entry ${id} gives seal ${seq} ${p.size as number} entries, the seal covers ${seal.entryCount}`, id);
      entry.proof = "bad";
      return;
    }
    if (entry.xid! < seal.from || entry.xid! >= seal.to) {
      this.find("export", entry.line, `entry ${id} was written in transaction ${entry.xid}, outside seal ${seq}'s transactions ${seal.from} to ${seal.to}`, id);
      entry.proof = "bad";
      return;
    }
    const path = (p.path as string[]).map((node) => Buffer.from(node, "hex"));
    if (!verifyInclusion(entry.leaf!, p.index as number, p.size as number, path, Buffer.from(seal.fields.merkleRoot, "hex"))) {
      this.find("export", entry.line, `the entry was changed: its hash is not in seal ${seq}'s Merkle tree`, id);
      entry.proof = "bad";
      return;
    }
    entry.proof = "ok";
  }

  endLine(file: FileKind, line: number, e: Record<string, unknown>): void {
    if (this.end) {
      this.find(file, line, "a second end line");
      return;
    }
    const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!count(e.entries) || !count(e.proved) || !count(e.seals) || !Array.isArray(e.unsealed) || !e.unsealed.every((id) => typeof id === "string")) {
      this.find(file, line, "the end line is malformed");
      this.end = { file, line, entries: -1, proved: -1, unsealed: [], seals: -1 };
      return;
    }
    this.end = { file, line, entries: e.entries as number, proved: e.proved as number, unsealed: e.unsealed as string[], seals: e.seals as number };
  }

  /** The seal of `tenantId` whose transactions hold `xid`, if the file has one. */
  covering(tenantId: string | null, xid: bigint | null, byTenant: Map<string, SealState[]>): SealState | null {
    if (tenantId === null || xid === null) return null;
    const list = byTenant.get(tenantId);
    if (!list) return null;
    let lo = 0;
    let hi = list.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.from <= xid) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const seal = at >= 0 ? list[at]! : null;
    return seal && xid < seal.to ? seal : null;
  }

  finish(trailerFile: FileKind, lastLine: number): ExportVerification {
    const byTenant = new Map<string, SealState[]>();
    for (const seal of this.seals.values()) {
      const list = byTenant.get(seal.fields.tenantId) ?? [];
      list.push(seal);
      byTenant.set(seal.fields.tenantId, list);
    }
    for (const list of byTenant.values()) list.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));

    // The end line: counts, and the entries not sealed yet.
    const end = this.end;
    const unsealed: string[] = [];
    if (!end) {
      this.find(trailerFile, lastLine, "the proof has no end line: the file was cut short");
    } else if (end.entries >= 0) {
      if (!this.sidecar && end.entries !== this.entries.size) {
        this.find(end.file, end.line, `the end line counts ${end.entries} entries, the file holds ${this.entries.size}: an entry line was removed or added`);
      }
      if (end.proved !== this.proofLines) this.find(end.file, end.line, `the end line counts ${end.proved} proofs, the file holds ${this.proofLines}`);
      if (end.seals !== this.sealLines) this.find(end.file, end.line, `the end line counts ${end.seals} seals, the file holds ${this.sealLines}`);
      for (const id of end.unsealed) {
        const entry = this.entries.get(id);
        if (!entry) {
          const newer = this.sidecar && this.maxEntryId !== null && /^\d+$/.test(id) && BigInt(id) > this.maxEntryId;
          if (!newer) this.find(end.file, end.line, `entry ${id} is listed as unsealed but is not in the ${this.sidecar ? "CSV" : "file"}`, id);
          continue;
        }
        const seal = this.covering(entry.tenantId, entry.xid, byTenant);
        if (seal) {
          this.find("export", entry.line, `entry ${id} is listed as unsealed, but seal ${seal.fields.seq} covers its transaction`, id);
          if (entry.proof === "none") entry.proof = "bad";
          continue;
        }
        if (!entry.unsealed) {
          entry.unsealed = true;
          unsealed.push(id);
        }
      }
    }

    // Every entry: proved, or listed as unsealed.
    let proved = 0;
    for (const [id, entry] of this.entries) {
      if (entry.proof === "ok") proved++;
      if (entry.proof !== "none" || entry.unsealed) continue;
      const seal = this.covering(entry.tenantId, entry.xid, byTenant);
      this.find("export", entry.line, seal
        ? `no proof for this entry, though seal ${seal.fields.seq} covers its transaction: the seal does not hold it (added after sealing?)`
        : "no proof for this entry, and it is not listed as unsealed", id);
    }

    // The chain: consecutive seals of a tenant.
    for (const list of byTenant.values()) {
      const bySeq = new Map(list.map((s) => [BigInt(s.fields.seq), s]));
      for (const seal of list) {
        const seq = BigInt(seal.fields.seq);
        if (seq === 1n && seal.fields.previousHash !== null) this.find(seal.file, seal.line, "seal 1 names a previous seal's hash; the first seal has none");
        const before = bySeq.get(seq - 1n);
        if (before && seal.fields.previousHash !== before.sealHash) {
          this.find(seal.file, seal.line, `seal ${seq} does not chain to seal ${seq - 1n}: its previousHash is not seal ${seq - 1n}'s hash`);
        }
      }
    }

    // A complete export: every seal's entries all in the file, and no seal left out between them.
    if (this.completeness === "complete") {
      const counts = new Map<SealState, number>();
      for (const entry of this.entries.values()) {
        const seal = this.covering(entry.tenantId, entry.xid, byTenant);
        if (seal) counts.set(seal, (counts.get(seal) ?? 0) + 1);
      }
      for (const list of byTenant.values()) {
        list.forEach((seal, k) => {
          const n = counts.get(seal) ?? 0;
          if (n + (this.newer.get(`${seal.fields.tenantId}/${seal.fields.seq}`) ?? 0) !== seal.entryCount) {
            this.find(seal.file, seal.line, `seal ${seal.fields.seq} covers ${seal.entryCount} entries, ${n} ${n === 1 ? "is" : "are"} in this complete export`);
          }
          const next = list[k + 1];
          if (next && next.from !== seal.to) {
            this.find(next.file, next.line, next.from > seal.to
              ? `transactions ${seal.to} to ${next.from} are covered by no seal in this complete export: a seal was left out`
              : `seal ${next.fields.seq} overlaps seal ${seal.fields.seq}`);
          }
        });
      }
    }

    const order = (f: ExportFinding) => (f.file === "export" ? 0 : 1);
    this.findings.sort((a, b) => order(a) - order(b) || a.line - b.line);
    return {
      ok: this.findings.length === 0,
      entries: this.entries.size,
      proved,
      unsealed,
      findings: this.findings,
      completeness: this.completeness,
      seals: this.seals.size,
      signaturesChecked: this.publicKeys !== undefined,
    };
  }
}

/** The lines of a text file, numbered from 1 (LF or CRLF; a leading BOM dropped). */
async function* numberedLines(file: string): AsyncGenerator<[number, string]> {
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    yield [n, n === 1 ? line.replace(/^\uFEFF/, "") : line];
  }
}

/** Reads the trailer lines (seal, proof, end) of a file; the header when `headerFirst`. Returns the last line number. */
async function readProofLines(v: Verification, file: string, kind: FileKind, onEntry?: (line: number, members: Map<string, RawSpan>) => void): Promise<number> {
  let last = 0;
  let headerRead = false;
  for await (const [n, text] of numberedLines(file)) {
    last = n;
    if (!headerRead) {
      headerRead = true;
      let value: unknown = null;
      try {
        value = JSON.parse(text);
      } catch {
        // not JSON: not the header
      }
      if (!v.header(kind, n, value)) return -1;
      continue;
    }
    if (text.trim() === "") continue;
    let members: Map<string, RawSpan>;
    try {
      members = rawMembers(text);
    } catch (err) {
      v.find(kind, n, `the line is not a JSON object (${(err as Error).message})`);
      continue;
    }
    const type = members.get("type");
    if (!type) {
      if (onEntry) {
        if (v.sealLines + v.proofLines > 0 || v.end) v.find(kind, n, "an entry line after the proof lines");
        onEntry(n, members);
      } else v.find(kind, n, "a line that is neither a seal, a proof nor the end");
      continue;
    }
    const value = JSON.parse(text) as Record<string, unknown>;
    if (value.type === "header") v.find(kind, n, "a second header line");
    else if (!v.trailer(kind, n, value)) v.find(kind, n, `a line of unknown type ${type.raw}`);
  }
  if (!headerRead) v.find(kind, 1, "the file is empty");
  return headerRead ? last : -1;
}

/** A JSON Lines entry line's values: strings or null; the jsonb columns as their raw text. */
function jsonlEntry(v: Verification, line: number, members: Map<string, RawSpan>): void {
  const missing = ENTRY_COLUMNS.filter((c) => !members.has(c));
  if (missing.length > 0) {
    v.find("export", line, `the entry is malformed: it lacks ${missing.join(", ")}`, jsonlId(members));
    return;
  }
  v.entry(line, (column) => {
    const raw = members.get(column)!.raw;
    if (raw === "null") return null;
    if (column === "oldValues" || column === "newValues" || column === "context") return raw;
    const value: unknown = JSON.parse(raw);
    if (typeof value !== "string") throw new Error(`${column} is not a string`);
    return value;
  });
}

function jsonlId(members: Map<string, RawSpan>): string | undefined {
  const raw = members.get("id")?.raw;
  try {
    const id: unknown = raw === undefined ? undefined : JSON.parse(raw);
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

async function readCsv(v: Verification, file: string): Promise<boolean> {
  const reader = new CsvReader();
  let columns: Map<string, number> | null = null;
  let headerSeen = false;
  let ok = true;
  const handle = (record: CsvRecord) => {
    if (!ok) return;
    if (!headerSeen) {
      headerSeen = true;
      const names = record.cells.map((c, i) => (i === 0 ? c.value.replace(/^\uFEFF/, "") : c.value));
      const missing = ENTRY_COLUMNS.filter((c) => !names.includes(c));
      if (missing.length > 0) {
        v.find("export", record.line, `this is not an audit-trail CSV export: its header lacks ${missing.join(", ")}`);
        ok = false;
        return;
      }
      columns = new Map(names.map((name, i) => [name, i]));
      return;
    }
    const idCell = record.cells[columns!.get("id")!];
    if (record.malformed || record.cells.length !== columns!.size) {
      v.find("export", record.line, `the row is malformed: ${record.malformed ?? `${record.cells.length} cells, the header has ${columns!.size}`}`, idCell?.value);
      return;
    }
    v.entry(record.line, (column) => {
      const cell = record.cells[columns!.get(column)!]!;
      if (cell.value === "" && !cell.quoted) return null;
      return TEXT_COLUMNS.has(column) ? restoreFormula(cell.value) : cell.value;
    });
  };
  for await (const chunk of createReadStream(file, { encoding: "utf8" })) for (const record of reader.push(chunk as string)) handle(record);
  for (const record of reader.end()) handle(record);
  if (!headerSeen) {
    v.find("export", 1, "the file is empty");
    return false;
  }
  return ok;
}

async function startsWithBrace(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
    const head = buffer.subarray(0, bytesRead).toString("utf8").replace(/^\uFEFF/, "").trimStart();
    return head.startsWith("{");
  } finally {
    await handle.close();
  }
}

/**
 * Checks an export offline: a .jsonl with its proof inline, or a .csv with
 * its sidecar (proofFile). Rejects only when a file cannot be read or the
 * files given do not fit (a CSV without its proof); everything wrong inside
 * them is a finding.
 */
export async function verifyExport(options: VerifyExportOptions): Promise<ExportVerification> {
  const jsonl = await startsWithBrace(options.file);
  if (jsonl && options.proofFile !== undefined) {
    throw new Error(`${options.file} is a JSON Lines export: it carries its proof inline, give no proof file`);
  }
  if (!jsonl && options.proofFile === undefined) {
    throw new Error(`${options.file} is not a JSON Lines export; a CSV export is checked with its proof sidecar (the .proof.jsonl file)`);
  }
  const v = new Verification(!jsonl, options.publicKeys);
  const failed = (): ExportVerification => ({
    ok: false, entries: v.entries.size, proved: 0, unsealed: [], findings: v.findings, completeness: v.completeness, seals: 0,
    signaturesChecked: options.publicKeys !== undefined,
  });
  if (jsonl) {
    const last = await readProofLines(v, options.file, "export", (line, members) => jsonlEntry(v, line, members));
    if (last < 0) return failed();
    return v.finish("export", last);
  }
  if (!(await readCsv(v, options.file))) return failed();
  const last = await readProofLines(v, options.proofFile!, "proof");
  if (last < 0) return failed();
  return v.finish("proof", last);
}

/** For `npm run verify -- --export`: a summary line, then one line per finding. */
export function formatExportVerification(result: ExportVerification): string {
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const scope = result.completeness === "complete" ? "complete export" : result.completeness === "filtered" ? "filtered export" : "export";
  const counts = `${plural(result.entries, "entry", "entries")}, ${result.proved} proved by ${plural(result.seals, "seal")}, ` +
    `${result.unsealed.length} not sealed yet`;
  const signatures = result.signaturesChecked ? "signatures checked" : "signatures NOT checked (no public keys)";
  const lines = [
    result.ok
      ? `OK: ${scope}, ${counts}; ${signatures}. Every entry is as sealed.`
      : `FAILED: ${plural(result.findings.length, "finding")} in this ${scope} (${counts}; ${signatures}).`,
  ];
  for (const f of result.findings) {
    lines.push(`  ${f.file === "proof" ? "proof file" : "export"} line ${f.line}${f.id !== undefined ? ` (entry ${f.id})` : ""}: ${f.problem}`);
  }
  return lines.join("\n");
}
