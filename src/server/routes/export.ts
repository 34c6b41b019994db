// GET /export: every entry matching the page's filters, as CSV or JSON Lines,
// streamed while it is read. The SQL runs as the caller's scope role and
// verified claims (withScopedTransaction), so row-level security decides what
// is exported, exactly as for the GraphQL API. Keyset pagination in short
// transactions: each batch is one index range scan, no transaction stays open
// for the whole download, and the response is written as batches arrive,
// waiting for the client to keep up. Each export is in the audit log's access
// log (unless ACCESS_LOG=off): its start is committed before anything is sent,
// its end (completed, cancelled or failed, with the entries sent) when it ends.
//
// A JSON Lines export carries its tamper evidence inline: a header line
// first, then the entries, then the covering seals, each entry's Merkle
// inclusion proof and an end line (export-proof.ts, which also serves the
// CSV's proof sidecar at GET /export/proof).
import { randomUUID } from "node:crypto";
import type { Express, Request, Response } from "express";
import type { ExportFormat } from "../../shared/export-format.ts";
import type { AccessLog } from "../access-log.ts";
import type { RouteContext } from "../app.ts";
import type { AuditClaims } from "../auth.ts";
import { withScopedTransaction } from "../scoped-query.ts";
import { CONTENT_TYPES, csvHeader, csvLine, exportBatchQuery, exportFilename, jsonLine, type ExportCursor, type ExportRow } from "./export-file.ts";
import {
  completenessOf, drainOrClose, ExportedEntries, headerLine, mountExportProof, proofTrailer, readExportRequest, snapshotHorizon,
} from "./export-proof.ts";
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
  mountExportProof(app, context, batchSize);
}

async function streamExport(req: Request, res: Response, context: RouteContext, batchSize: number): Promise<void> {
  const request = readExportRequest(req, res, "export");
  if (!request) return;
  const { claims, params, format, filters } = request;

  const log = context.logger.child({ component: "export" });
  const started = Date.now();
  let closed = false;
  res.on("close", () => {
    closed = true;
  });
  const options = { statementTimeoutMs: context.statementTimeoutMs };
  const readBatch = (after: ExportCursor | null) => {
    const query = exportBatchQuery(filters, after, batchSize);
    return withScopedTransaction(context.pool, claims, async (client) => (await client.query<ExportRow>(query.text, query.values)).rows, options);
  };

  // The first batch is read before anything is sent, so that a failing query
  // still gets a proper error status instead of a truncated file. (With the
  // xmin horizon of its snapshot: the proof uses only seals made below it.)
  const first = await withScopedTransaction(context.pool, claims, async (client) => {
    const sealedBefore = await snapshotHorizon(client);
    const query = exportBatchQuery(filters, null, batchSize);
    return { sealedBefore, rows: (await client.query<ExportRow>(query.text, query.values)).rows };
  }, options);
  let batch = first.rows;
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
  const exportedAt = new Date();
  res.status(200).set({
    "Content-Type": CONTENT_TYPES[format],
    "Content-Disposition": `attachment; filename="${exportFilename(format, exportedAt)}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  const jsonl = format === "jsonl";
  const line = jsonl ? jsonLine : csvLine;
  // (JSON Lines: the entries' ids and transaction ids, for the proof after them)
  const entries = jsonl ? new ExportedEntries() : null;
  let rows = 0;
  let pending = jsonl
    ? headerLine({ proof: "inline", filter: request.filter, completeness: completenessOf(request), exportedAt })
    : csvHeader();
  let status: ExportStatus = "failed";
  try {
    for (;;) {
      for (const row of batch) {
        pending += line(row);
        entries?.add(row.id, row.transactionId);
      }
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
    if (entries && !closed) {
      const source = { pool: context.pool, claims, statementTimeoutMs: context.statementTimeoutMs, sealedBefore: first.sealedBefore };
      for await (const chunk of proofTrailer(source, entries)) {
        if (!res.write(chunk) && !closed) await drainOrClose(res);
        if (closed) break;
      }
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
