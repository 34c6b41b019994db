// The proof of an export: which seals cover its entries and each entry's
// Merkle inclusion path, so that the file can be checked offline, without the
// database (src/sealing/export-verify.ts). A JSON Lines export carries it
// inline (export.ts: a header line first, these lines after the last entry);
// a CSV export gets it as a sidecar file from GET /export/proof, mounted here,
// which reads the same entries (ids and transaction ids only) with the same
// parameters and writes the header and these lines.
//
// Lines (JSON objects, one a line; all numbers of the database as text):
//   {"type":"header","format":"audit-trail export","version":1,"exportedAt":ISO,"filter":{...},
//    "proof":"inline"|"sidecar"[,"for":"csv"],"completeness":"complete"|"filtered","note":"..."}
//   {"type":"seal",<SealFields of src/sealing/canonical.ts>,"sealHash":hex,"signature":base64,"canonicalVersion":1}
//   {"type":"proof","id":"…","tenantId":"…","seq":"…","index":n,"size":N,"path":["hex",…]}
//   {"type":"end","entries":n,"proved":m,"unsealed":["id",…],"seals":k}
import { once } from "node:events";
import type { Express, Request, Response } from "express";
import type pg from "pg";
import { sealFieldsSql, type SealFields } from "../../sealing/canonical.ts";
import { proofsFor } from "../../sealing/merkle.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../shared/export-format.ts";
import type { ResolvedFilters } from "../../shared/filters.ts";
import type { RouteContext } from "../app.ts";
import type { AuditClaims } from "../auth.ts";
import { claimsOf } from "../authenticate.ts";
import { withScopedTransaction } from "../scoped-query.ts";
import { CONTENT_TYPES, exportBatchQuery, proofFilename, type ExportCursor, type ExportKey } from "./export-file.ts";
import { FilterError, parseResolvedParams } from "./export-params.ts";
import { sendJsonError } from "./json-error.ts";

export const EXPORT_FILE_FORMAT = "audit-trail export";
export const EXPORT_FILE_VERSION = 1;
/** Transaction ids per call of audit.covering_seals. */
const XID_CHUNK = 10_000;
/** Leaves (entry ids and hashes) read at most per query of the seals' entry lists. */
const LEAVES_PER_READ = 262_144;
/** Characters gathered before the trailer hands a chunk to the response. */
const CHUNK_CHARS = 64 * 1024;

// --- the request ----------------------------------------------------------

export interface ExportRequest {
  claims: AuditClaims;
  params: URLSearchParams;
  format: ExportFormat;
  filters: ResolvedFilters;
  /** The filter as sent: the parameters but the format. */
  filter: Record<string, string>;
}

/**
 * Reads the claims, the format and the filters of GET /export ("export") or
 * GET /export/proof ("proof", CSV only), or answers the request with its
 * error (401 or 400) and returns null.
 */
export function readExportRequest(req: Request, res: Response, kind: "export" | "proof"): ExportRequest | null {
  const claims = claimsOf(req);
  if (!claims) {
    sendJsonError(res, 401, "Authentication required", "UNAUTHENTICATED");
    return null;
  }
  const params = new URLSearchParams(req.originalUrl.split("?")[1] ?? "");
  const format = (params.get("format") ?? "csv") as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    sendJsonError(res, 400, `Bad export request: format must be csv or jsonl, got "${format}"`, "INVALID_EXPORT_PARAMETER");
    return null;
  }
  if (kind === "proof" && format !== "csv") {
    sendJsonError(res, 400, `Bad export request: the proof sidecar is for CSV exports (a JSON Lines export carries its proof inline), got format "${format}"`,
      "INVALID_EXPORT_PARAMETER");
    return null;
  }
  let filters: ResolvedFilters;
  try {
    filters = parseResolvedParams(params);
  } catch (err) {
    if (err instanceof FilterError) {
      sendJsonError(res, 400, `Bad export request: ${err.message}`, "INVALID_EXPORT_PARAMETER");
      return null;
    }
    throw err;
  }
  const filter = Object.fromEntries([...params].filter(([name]) => name !== "format"));
  return { claims, params, format, filters, filter };
}

/**
 * "complete" only for a tenant admin's export without any filter: then every
 * seal in the proof has all its entries in the file (the verifier checks
 * that). Otherwise "filtered": each entry in the file is proved sealed and
 * unchanged, not that nothing matching was left out.
 */
export function completenessOf(request: Pick<ExportRequest, "claims" | "filter">): "complete" | "filtered" {
  return request.claims.role === "tenant_admin" && Object.keys(request.filter).length === 0 ? "complete" : "filtered";
}

const NOTES = {
  inline: {
    complete:
      "This file holds every entry of the tenant's audit log as of the export. Each entry sealed before the export began has a Merkle inclusion proof " +
      "in the seal and proof lines after the entries, and every seal listed here has all its entries in this file, so that a changed, added or removed " +
      "entry is found (the verifier counts each seal's entries); entries newer than the last sealing round are listed as unsealed.",
    filtered:
      "This file holds only the entries the filter (or the admin's scope) selects. It proves that each entry it includes is sealed and unchanged " +
      "(a Merkle inclusion proof per entry, in the seal and proof lines after the entries), not that no matching entry was left out; " +
      "entries newer than the last sealing round are listed as unsealed.",
  },
  sidecar: {
    complete:
      "The proof of a CSV export of every entry of the tenant's audit log: the seals covering its entries and a Merkle inclusion proof for each entry " +
      "sealed before the export began; every seal listed here has all its entries in the CSV, so that a changed, added or removed row is found " +
      "(the verifier counts each seal's entries). Entries newer than the last sealing round are listed as unsealed. Fetch it right after the CSV.",
    filtered:
      "The proof of a CSV export of only the entries the filter (or the admin's scope) selects: it proves that each row of the CSV is sealed and " +
      "unchanged (a Merkle inclusion proof per entry), not that no matching entry was left out. Entries newer than the last sealing round are " +
      "listed as unsealed. Fetch it right after the CSV.",
  },
} as const;

/** The first line of a JSON Lines export or of a CSV's proof sidecar. */
export function headerLine(options: {
  proof: "inline" | "sidecar";
  filter: Record<string, string>;
  completeness: "complete" | "filtered";
  exportedAt: Date;
}): string {
  return JSON.stringify({
    type: "header",
    format: EXPORT_FILE_FORMAT,
    version: EXPORT_FILE_VERSION,
    exportedAt: options.exportedAt.toISOString(),
    filter: options.filter,
    proof: options.proof,
    ...(options.proof === "sidecar" ? { for: "csv" } : {}),
    completeness: options.completeness,
    note: NOTES[options.proof][options.completeness],
  }) + "\n";
}

// --- the exported entries -------------------------------------------------

/** The ids and transaction ids of the exported entries, in file order (16 bytes each). */
export class ExportedEntries {
  #ids = new BigInt64Array(4096);
  #xids = new BigInt64Array(4096);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(id: string, transactionId: string): void {
    if (this.#count === this.#ids.length) {
      const grow = (a: BigInt64Array) => {
        const b = new BigInt64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#ids = grow(this.#ids);
      this.#xids = grow(this.#xids);
    }
    this.#ids[this.#count] = BigInt(id);
    this.#xids[this.#count] = BigInt(transactionId);
    this.#count++;
  }

  id(i: number): bigint {
    return this.#ids[i]!;
  }

  xid(i: number): bigint {
    return this.#xids[i]!;
  }

  /** The distinct transaction ids, ascending. */
  distinctXids(): BigInt64Array {
    const sorted = this.#xids.slice(0, this.#count).sort();
    let n = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i]!;
    return sorted.subarray(0, n);
  }
}

// --- the trailer ----------------------------------------------------------

/** A seal as its line shows it (the SealFields, as text), and its signature. */
interface SealRow extends SealFields {
  sealHash: string;
  signature: string;
  canonicalVersion: number;
}

// The current seals of the caller's tenant covering the given transaction ids
// (audit.covering_seals: under the scoped transaction's claims), made by a
// round whose horizon the export's first read had passed: a seal made while
// the export ran could cover entries committed after its first read, which
// the file may lack.
const COVERING_SEALS_SQL = `
  select ${sealFieldsSql("s")},
         s.seal_hash as "sealHash", s.signature, s.canonical_version::integer as "canonicalVersion"
    from audit.covering_seals($1::bigint[]) s
   where s.sealed_through_xid <= $2::bigint`;

// The entry lists of some of those seals: ids as one text, hashes as one bytea.
const SEAL_LEAVES_SQL = `
  select s.seq::text as "seq", array_to_string(s.entry_ids, ',') as "ids",
         (select string_agg(u.h, ''::bytea order by u.i) from unnest(s.entry_hashes) with ordinality u(h, i)) as "hashes"
    from audit.covering_seals($1::bigint[]) s
   where s.seq = any($2::bigint[])`;

export function sealLine(s: SealRow): string {
  return JSON.stringify({
    type: "seal",
    tenantId: s.tenantId,
    seq: s.seq,
    fromXid: s.fromXid,
    toXid: s.toXid,
    sealedThroughXid: s.sealedThroughXid,
    entryCount: s.entryCount,
    firstId: s.firstId,
    lastId: s.lastId,
    occurredFromMicros: s.occurredFromMicros,
    occurredToMicros: s.occurredToMicros,
    merkleRoot: s.merkleRoot,
    previousHash: s.previousHash,
    supersedes: s.supersedes,
    reason: s.reason,
    keyId: s.keyId,
    sealedAtMicros: s.sealedAtMicros,
    sealHash: s.sealHash,
    signature: s.signature,
    canonicalVersion: s.canonicalVersion,
  }) + "\n";
}

export interface ProofSource {
  pool: pg.Pool;
  claims: AuditClaims;
  statementTimeoutMs: number;
  /**
   * The xmin horizon at the export's first read: only seals whose round
   * sealed through it at most are used (all of their entries had committed
   * before the export read anything).
   */
  sealedBefore: string;
}

/** Index in `sorted` (ascending) of `value`, or -1. */
function search(sorted: BigInt64Array, value: bigint): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === value) return mid;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

const bySeq = (a: SealRow, b: SealRow) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0);

/**
 * The lines after the exported entries, in chunks: a seal line per covering
 * seal (by seq), a proof line per entry a seal holds (seal by seal), then the
 * end line. Memory: the entries' ids and transaction ids (given), the seals'
 * fields, and one batch of entry lists at a time.
 */
export async function* proofTrailer(source: ProofSource, entries: ExportedEntries): AsyncGenerator<string, void, undefined> {
  const options = { statementTimeoutMs: source.statementTimeoutMs };
  const xids = entries.distinctXids();
  const found = new Map<string, SealRow>();
  if (xids.length > 0) {
    await withScopedTransaction(source.pool, source.claims, async (client) => {
      for (let i = 0; i < xids.length; i += XID_CHUNK) {
        const chunk = Array.from(xids.subarray(i, i + XID_CHUNK), String);
        const { rows } = await client.query<SealRow>(COVERING_SEALS_SQL, [chunk, source.sealedBefore]);
        for (const row of rows) found.set(row.seq, row);
      }
    }, options);
  }
  const seals = [...found.values()].sort(bySeq);

  let pending = "";
  for (const seal of seals) {
    pending += sealLine(seal);
    if (pending.length >= CHUNK_CHARS) {
      yield pending;
      pending = "";
    }
  }

  // Each entry to the seal whose range holds its transaction (the current
  // seals of a tenant do not overlap), in file order.
  const ranges = seals
    .map((seal, index) => ({ index, from: BigInt(seal.fromXid), to: BigInt(seal.toXid) }))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const members: number[][] = seals.map(() => []);
  const unsealed: string[] = [];
  for (let i = 0; i < entries.count; i++) {
    const xid = entries.xid(i);
    let lo = 0;
    let hi = ranges.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid]!.from <= xid) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const range = at >= 0 ? ranges[at]! : null;
    if (range && xid < range.to) members[range.index]!.push(i);
    else unsealed.push(entries.id(i).toString());
  }

  // Proofs, seal by seal, reading the entry lists in batches.
  let proved = 0;
  for (let start = 0; start < seals.length;) {
    let end = start;
    let leaves = 0;
    while (end < seals.length && (end === start || leaves + Number(seals[end]!.entryCount) <= LEAVES_PER_READ)) {
      leaves += Number(seals[end]!.entryCount);
      end++;
    }
    const first = start;
    const batch = seals.slice(start, end);
    start = end;
    const lists = await withScopedTransaction(source.pool, source.claims, async (client) => {
      const { rows } = await client.query<{ seq: string; ids: string | null; hashes: Buffer | null }>(SEAL_LEAVES_SQL, [
        batch.map((s) => s.fromXid), batch.map((s) => s.seq),
      ]);
      return new Map(rows.map((r) => [r.seq, r]));
    }, options);
    for (const [k, seal] of batch.entries()) {
      const list = lists.get(seal.seq);
      const positions = members[first + k]!;
      if (!list || positions.length === 0) continue;
      const ids = BigInt64Array.from(list.ids ? list.ids.split(",") : [], (id) => BigInt(id));
      const hashes = list.hashes ?? Buffer.alloc(0);
      // (an entry list that does not match its hashes proves nothing: those entries stay without proof)
      if (hashes.length !== ids.length * 32) continue;
      const leafList = Array.from({ length: ids.length }, (_, k) => hashes.subarray(k * 32, k * 32 + 32));
      const wanted: [number, number][] = [];
      for (const position of positions) {
        // (an entry in the seal's range that the seal does not hold gets no proof: the verifier reports it)
        const index = search(ids, entries.id(position));
        if (index >= 0) wanted.push([position, index]);
      }
      const paths = proofsFor(leafList, wanted.map(([, index]) => index));
      for (const [position, index] of wanted) {
        pending += JSON.stringify({
          type: "proof",
          id: entries.id(position).toString(),
          tenantId: seal.tenantId,
          seq: seal.seq,
          index,
          size: ids.length,
          path: paths.get(index)!.map((node) => node.toString("hex")),
        }) + "\n";
        proved++;
        if (pending.length >= CHUNK_CHARS) {
          yield pending;
          pending = "";
        }
      }
    }
  }
  pending += JSON.stringify({ type: "end", entries: entries.count, proved, unsealed, seals: seals.length }) + "\n";
  yield pending;
}

// --- streaming ------------------------------------------------------------

/**
 * Waits until the response drains or closes. The listener of the event that
 * did not happen is removed: a long export waits thousands of times, and
 * listeners left behind would pile up on the response (and its 'error').
 */
export async function drainOrClose(res: Response): Promise<void> {
  const stop = new AbortController();
  const wait = (event: string) => once(res, event, { signal: stop.signal }).then(() => undefined, () => undefined);
  try {
    await Promise.race([wait("drain"), wait("close")]);
  } finally {
    stop.abort();
  }
}

/** The xmin horizon of the transaction's snapshot now (see ProofSource.sealedBefore). */
export async function snapshotHorizon(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ xmin: string }>("select pg_snapshot_xmin(pg_current_snapshot())::text as xmin");
  return rows[0]!.xmin;
}

// --- GET /export/proof ----------------------------------------------------

/** GET /export/proof: the proof sidecar of the CSV export with the same parameters. */
export function mountExportProof(app: Express, context: RouteContext, batchSize: number): void {
  const log = context.logger.child({ component: "web" });
  app.get("/export/proof", context.authenticateAdmin, (req, res) => {
    void streamProofSidecar(req, res, context, batchSize).catch((err: unknown) => {
      log.error({ err }, "export proof failed");
      if (!res.headersSent) sendJsonError(res, 500, "The export's proof failed; try again or narrow the filters.", "INTERNAL_SERVER_ERROR");
      else res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

async function streamProofSidecar(req: Request, res: Response, context: RouteContext, batchSize: number): Promise<void> {
  const request = readExportRequest(req, res, "proof");
  if (!request) return;
  const { claims, filters } = request;
  const log = context.logger.child({ component: "export" });
  const started = Date.now();
  let closed = false;
  res.on("close", () => {
    closed = true;
  });
  const options = { statementTimeoutMs: context.statementTimeoutMs };
  const readBatch = (after: ExportCursor | null) => {
    const query = exportBatchQuery(filters, after, batchSize, "keys");
    return withScopedTransaction(context.pool, claims, async (client) => (await client.query<ExportKey>(query.text, query.values)).rows, options);
  };
  // The first batch before anything is sent (a failing query gets its error status).
  const first = await withScopedTransaction(context.pool, claims, async (client) => {
    const sealedBefore = await snapshotHorizon(client);
    const query = exportBatchQuery(filters, null, batchSize, "keys");
    return { sealedBefore, rows: (await client.query<ExportKey>(query.text, query.values)).rows };
  }, options);
  const exportedAt = new Date();
  res.status(200).set({
    "Content-Type": CONTENT_TYPES.jsonl,
    "Content-Disposition": `attachment; filename="${proofFilename(exportedAt)}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  const write = async (text: string) => {
    if (!closed && !res.write(text) && !closed) await drainOrClose(res);
  };
  await write(headerLine({ proof: "sidecar", filter: request.filter, completeness: completenessOf(request), exportedAt }));
  const entries = new ExportedEntries();
  let batch = first.rows;
  for (;;) {
    for (const row of batch) entries.add(row.id, row.transactionId);
    const last = batch.at(-1);
    if (closed || batch.length < batchSize || !last) break;
    batch = await readBatch({ occurredAt: last.occurredAt, id: last.id });
  }
  if (!closed) {
    for await (const chunk of proofTrailer({ pool: context.pool, claims, statementTimeoutMs: context.statementTimeoutMs, sealedBefore: first.sealedBefore }, entries)) {
      await write(chunk);
      if (closed) break;
    }
  }
  if (closed) {
    log.info({ entries: entries.count, ms: Date.now() - started, tenantId: claims.tenantId }, "export proof stopped: the client went away");
    return;
  }
  res.end();
  log.info({ entries: entries.count, ms: Date.now() - started, tenantId: claims.tenantId, role: claims.role }, "export proof finished");
}
