// Export: the server streams every matching entry (same token, same RLS);
// the page reads the stream to show progress, then hands the file to the
// browser's download. Nothing is paged through GraphQL here.
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

function filenameFrom(response: Response, format: ExportFormat): string {
  const disposition = response.headers.get("content-disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match?.[1] ?? `audit-log.${format}`;
}

export async function runExport(
  format: ExportFormat, query: URLSearchParams, token: string,
  onProgress: (p: ExportProgress) => void, signal: AbortSignal,
): Promise<ExportResult> {
  const params = new URLSearchParams(query);
  params.set("format", format);
  let response: Response;
  try {
    response = await fetch(`/export?${params}`, { headers: { authorization: `Bearer ${token}` }, signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ApiError("network", "The export could not reach the server.");
  }
  if (!response.ok || !response.body) {
    let message = `The export failed (${response.status}).`;
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
  const reader = response.body.getReader();
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let bytes = 0;
  let newlines = 0;
  let inQuotes = false;
  let lastReport = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiError("network", "The export was interrupted before it finished.");
    }
    if (chunk.done) break;
    parts.push(chunk.value);
    bytes += chunk.value.byteLength;
    // Line ends inside a quoted CSV cell are part of the cell, not a new row
    // ("" inside a cell toggles twice, so it needs no special case).
    for (const byte of chunk.value) {
      if (byte === 34 && format === "csv") inQuotes = !inQuotes;
      else if (byte === 10 && !inQuotes) newlines++;
    }
    const now = performance.now();
    if (now - lastReport > 100) {
      lastReport = now;
      onProgress({ rows: rowsOf(format, newlines), bytes });
    }
  }
  const rows = rowsOf(format, newlines);
  onProgress({ rows, bytes });
  const filename = filenameFrom(response, format);
  const blob = new Blob(parts, { type: format === "csv" ? "text/csv" : "application/x-ndjson" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { rows, bytes, filename };
}

/** Rows so far: one entry per line; the CSV header line is not an entry. */
function rowsOf(format: ExportFormat, newlines: number): number {
  return format === "csv" ? Math.max(0, newlines - 1) : newlines;
}
