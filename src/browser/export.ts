// Export: the server streams every matching entry (same token, same RLS);
// the page reads the stream to show progress, then hands the file to the
// browser's download. Nothing is paged through GraphQL here. A JSON Lines
// export carries its proof (seals and Merkle paths) after the entries; the
// CSV's proof is a sidecar file (GET /export/proof with the same filters),
// which `npm run verify -- --export FILE.csv --proof FILE.proof.jsonl` checks.
import type { ExportFormat } from "../shared/export-format.ts";
import { ApiError } from "./api.ts";

export interface ExportProgress {
  rows: number;
  bytes: number;
}

export interface ExportResult {
  rows: number;
  bytes: number;
  filename: string;
}

export interface ProofResult {
  /** Entries the proof is for (the end line's count). */
  entries: number;
  /** Of them, entries with an inclusion proof. */
  proved: number;
  /** Of them, entries not sealed yet. */
  unsealed: number;
  bytes: number;
  filename: string;
}

function filenameFrom(response: Response, fallback: string): string {
  const disposition = response.headers.get("content-disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match?.[1] ?? fallback;
}

/** GET `path` with the token; the failures as ApiError (the server's message when it sent one). */
async function fetchDownload(path: string, params: URLSearchParams, token: string, signal: AbortSignal, what: string): Promise<Response & { body: ReadableStream<Uint8Array<ArrayBuffer>> }> {
  let response: Response;
  try {
    response = await fetch(`${path}?${params}`, { headers: { authorization: `Bearer ${token}` }, signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ApiError("network", `The ${what} could not reach the server.`);
  }
  if (!response.ok || !response.body) {
    let message = `The ${what} failed (${response.status}).`;
    let code: string | null = null;
    try {
      const body = (await response.json()) as { error?: string; errors?: { message?: string; extensions?: { code?: string } }[] };
      const reason = body.error ?? body.errors?.[0]?.message;
      if (reason) message = reason;
      code = body.errors?.[0]?.extensions?.code ?? null;
    } catch { /* not JSON */ }
    const kind = response.status === 401 ? "unauthenticated" : response.status === 403 ? "forbidden" : response.status >= 500 ? "server" : "request";
    throw new ApiError(kind, message, response.status, code);
  }
  return response as Response & { body: ReadableStream<Uint8Array<ArrayBuffer>> };
}

/** Reads the whole body, calling `onChunk` with each piece. */
async function readAll(body: ReadableStream<Uint8Array<ArrayBuffer>>, signal: AbortSignal, what: string, onChunk: (chunk: Uint8Array) => void): Promise<Uint8Array<ArrayBuffer>[]> {
  const reader = body.getReader();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiError("network", `The ${what} was interrupted before it finished.`);
    }
    if (chunk.done) return parts;
    parts.push(chunk.value);
    onChunk(chunk.value);
  }
}

/** Hands the bytes to the browser's download. */
function save(parts: Uint8Array<ArrayBuffer>[], type: string, filename: string): void {
  const blob = new Blob(parts, { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function runExport(
  format: ExportFormat, query: URLSearchParams, token: string,
  onProgress: (p: ExportProgress) => void, signal: AbortSignal,
): Promise<ExportResult> {
  const params = new URLSearchParams(query);
  params.set("format", format);
  const response = await fetchDownload("/export", params, token, signal, "export");
  const counter = entryCounter(format);
  let bytes = 0;
  let lastReport = 0;
  const parts = await readAll(response.body, signal, "export", (chunk) => {
    bytes += chunk.byteLength;
    counter.push(chunk);
    const now = performance.now();
    if (now - lastReport > 100) {
      lastReport = now;
      onProgress({ rows: counter.rows, bytes });
    }
  });
  const rows = counter.rows;
  onProgress({ rows, bytes });
  const filename = filenameFrom(response, `audit-log.${format}`);
  save(parts, format === "csv" ? "text/csv" : "application/x-ndjson", filename);
  return { rows, bytes, filename };
}

/**
 * Counts the entries of an export as its bytes arrive. CSV: records but the
 * header (line ends inside a quoted cell are part of the cell; "" inside a
 * cell toggles twice, so it needs no special case). JSON Lines: lines but
 * the header and the proof after the entries, which all start with
 * {"type": (an entry line starts with {"id":).
 */
function entryCounter(format: ExportFormat): { push(chunk: Uint8Array): void; readonly rows: number } {
  let newlines = 0;
  let inQuotes = false;
  let column = 0;
  let typed = false;
  let entries = 0;
  return {
    push(chunk) {
      for (const byte of chunk) {
        if (format === "csv") {
          if (byte === 34) inQuotes = !inQuotes;
          else if (byte === 10 && !inQuotes) newlines++;
          continue;
        }
        if (byte === 10) {
          if (column > 0 && !typed) entries++;
          column = 0;
          typed = false;
          continue;
        }
        if (column === 2 && byte === 116 /* t */) typed = true;
        column++;
      }
    },
    get rows() {
      return format === "csv" ? Math.max(0, newlines - 1) : entries;
    },
  };
}

/**
 * The proof sidecar of the CSV export with these filters (GET /export/proof):
 * the covering seals and each entry's Merkle inclusion path.
 */
export async function runProof(query: URLSearchParams, token: string, signal: AbortSignal): Promise<ProofResult> {
  const params = new URLSearchParams(query);
  params.set("format", "csv");
  const response = await fetchDownload("/export/proof", params, token, signal, "proof download");
  let bytes = 0;
  const parts = await readAll(response.body, signal, "proof download", (chunk) => {
    bytes += chunk.byteLength;
  });
  // the end line: what the proof covers
  let end: { entries?: number; proved?: number; unsealed?: unknown[] } = {};
  try {
    end = JSON.parse(lastLine(parts)) as typeof end;
  } catch { /* no end line: counts unknown */ }
  const filename = filenameFrom(response, "audit-log.proof.jsonl");
  save(parts, "application/x-ndjson", filename);
  return { entries: end.entries ?? 0, proved: end.proved ?? 0, unsealed: end.unsealed?.length ?? 0, bytes, filename };
}

/** The last non-empty line of a text given in pieces: found in the bytes from the end, decoded once. */
function lastLine(parts: Uint8Array<ArrayBuffer>[]): string {
  const tail: Uint8Array[] = [];
  let seen = false;
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    let end = part.byteLength;
    for (let k = part.byteLength - 1; k >= 0; k--) {
      const byte = part[k]!;
      if (!seen) {
        if (byte === 10 || byte === 13 || byte === 32) end = k;
        else seen = true;
      } else if (byte === 10) {
        tail.unshift(part.subarray(k + 1, end));
        return decode(tail);
      }
    }
    tail.unshift(part.subarray(0, end));
  }
  return decode(tail);
}

function decode(pieces: Uint8Array[]): string {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(out);
}
