// GET /export: every entry matching the page's filters, as CSV or JSON Lines,
// streamed while it is read. The SQL runs as the caller's scope role and
// verified claims (withScopedTransaction), so row-level security decides what
// is exported, exactly as for the GraphQL API. Keyset pagination in short
// transactions: each batch is one index range scan, no transaction stays open
// for the whole download, and the response is written as batches arrive,
// waiting for the client to keep up. Each export is in the audit log's access
// log (unless ACCESS_LOG=off): its start is committed before anything is sent,
// its end (completed, cancelled or failed, with the entries sent) when it ends.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { Express, Request, Response } from "express";
import type { AuditEntry } from "../../shared/entry.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../shared/export-format.ts";
import type { AccessLog } from "../access-log.ts";
import type { RouteContext } from "../app.ts";
import type { AuditClaims } from "../auth.ts";
import { claimsOf } from "../authenticate.ts";
import { withScopedTransaction } from "../scoped-query.ts";
import { CONTENT_TYPES, csvHeader, csvLine, exportBatchQuery, exportFilename, jsonLine, type ExportCursor } from "./export-file.ts";
import { FilterError, parseResolvedParams } from "./export-params.ts";
import { sendJsonError } from "./json-error.ts";

/** GET /export for authenticated admins, reading `batchSize` entries per query. */
export function mountExport(app: Express, context: RouteContext, batchSize: number): void {
  // "web": the component the page's routes have always logged under.
  const log = context.logger.child({ component: "web" });
  app.get("/export", context.authenticateAdmin, (req, res) => {
    void streamExport(req, res, context, batchSize).catch((err: unknown) => {
      log.error({ err }, "export failed");
      if (!res.headersSent) sendJsonError(res, 500, "The export failed; try again or narrow the filters.", "INTERNAL_SERVER_ERROR");
      else res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

async function streamExport(req: Request, res: Response, context: RouteContext, batchSize: number): Promise<void> {
  const claims = claimsOf(req);
  if (!claims) {
    sendJsonError(res, 401, "Authentication required", "UNAUTHENTICATED");
    return;
  }
  const params = new URLSearchParams(req.originalUrl.split("?")[1] ?? "");
  const format = (params.get("format") ?? "csv") as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    sendJsonError(res, 400, `Bad export request: format must be csv or jsonl, got "${format}"`, "INVALID_EXPORT_PARAMETER");
    return;
  }
  let filters;
  try {
    filters = parseResolvedParams(params);
  } catch (err) {
    if (err instanceof FilterError) {
      sendJsonError(res, 400, `Bad export request: ${err.message}`, "INVALID_EXPORT_PARAMETER");
      return;
    }
    throw err;
  }

  const log = context.logger.child({ component: "export" });
  const started = Date.now();
  let closed = false;
  res.on("close", () => {
    closed = true;
  });
  const readBatch = (after: ExportCursor | null) => {
    const query = exportBatchQuery(filters, after, batchSize);
    return withScopedTransaction(context.pool, claims, async (client) => (await client.query<AuditEntry>(query.text, query.values)).rows, {
      statementTimeoutMs: context.statementTimeoutMs,
    });
  };

  // The first batch is read before anything is sent, so that a failing query
  // still gets a proper error status instead of a truncated file.
  let batch = await readBatch(null);
  // Then the start goes on record: an export that cannot be recorded is not
  // sent. (Recorded after the first read, the export never holds its own start.)
  const recorder = exportRecorder(context.accessLog, claims, format, params);
  try {
    await recorder.started();
  } catch (err) {
    log.error({ err, tenantId: claims.tenantId }, "export refused: its start could not be recorded in the access log");
    sendJsonError(res, 503, "The export could not be recorded in the audit log's access log; try again shortly.", "SERVICE_UNAVAILABLE");
    return;
  }
  res.status(200).set({
    "Content-Type": CONTENT_TYPES[format],
    "Content-Disposition": `attachment; filename="${exportFilename(format, new Date())}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  const line = format === "csv" ? csvLine : jsonLine;
  let rows = 0;
  let pending = format === "csv" ? csvHeader() : "";
  let status: ExportStatus = "failed";
  try {
    for (;;) {
      for (const row of batch) pending += line(row);
      // One write per batch; wait while the client is slower than the database.
      if (pending && !closed) {
        rows += batch.length;
        if (!res.write(pending) && !closed) await drainOrClose(res);
      }
      pending = "";
      const last = batch.at(-1);
      if (closed || batch.length < batchSize || !last) break;
      batch = await readBatch({ occurredAt: last.occurredAt, id: last.id });
    }
    status = closed ? "cancelled" : "completed";
  } finally {
    // Before the response ends: a client holding the whole file finds it on record.
    await recorder.finished(status, rows);
  }
  if (closed) {
    log.info({ format, rows, ms: Date.now() - started, tenantId: claims.tenantId }, "export stopped: the client went away");
    return;
  }
  res.end();
  log.info({ format, rows, ms: Date.now() - started, tenantId: claims.tenantId, role: claims.role }, "export finished");
}

type ExportStatus = "completed" | "cancelled" | "failed";

const FORMAT_LABELS: Record<ExportFormat, string> = { csv: "CSV export", jsonl: "JSON Lines export" };

/**
 * An export's two access-log entries, under one generated id: started()
 * rejects when the start cannot be written; finished() never does (the
 * export is over either way; the access log counts and logs the failure).
 */
function exportRecorder(accessLog: AccessLog, claims: AuditClaims, format: ExportFormat, params: URLSearchParams) {
  const exportId = randomUUID();
  const label = FORMAT_LABELS[format];
  // The filter as sent (the parameters but the format), validated by now.
  const filter = Object.fromEntries([...params].filter(([name]) => name !== "format"));
  let started = false;
  return {
    async started(): Promise<void> {
      if (!accessLog.recordsExports) return;
      await accessLog.write(claims, { event: "audit_log.exported", entityId: exportId, label, context: { format, filter } });
      started = true;
    },
    async finished(status: ExportStatus, entries: number): Promise<void> {
      if (!started) return;
      await accessLog
        .write(claims, { event: "audit_log.export_finished", entityId: exportId, label, context: { format, status, entries } })
        .catch(() => undefined);
    },
  };
}

/**
 * Waits until the response drains or closes. The listener of the event that
 * did not happen is removed: a long export waits thousands of times, and
 * listeners left behind would pile up on the response (and its 'error').
 */
async function drainOrClose(res: Response): Promise<void> {
  const stop = new AbortController();
  const wait = (event: string) => once(res, event, { signal: stop.signal }).then(() => undefined, () => undefined);
  try {
    await Promise.race([wait("drain"), wait("close")]);
  } finally {
    stop.abort();
  }
}
