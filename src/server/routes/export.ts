// GET /export: every entry matching the page's filters, as CSV or JSON Lines,
// streamed while it is read. The SQL runs as the caller's scope role and
// verified claims (withScopedTransaction), so row-level security decides what
// is exported, exactly as for the GraphQL API. Keyset pagination in short
// transactions: each batch is one index range scan, no transaction stays open
// for the whole download, and the response is written as batches arrive,
// waiting for the client to keep up.
import { once } from "node:events";
import type { Express, Request, Response } from "express";
import type { AuditEntry } from "../../shared/entry.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../../shared/export-format.ts";
import type { RouteContext } from "../app.ts";
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
  res.status(200).set({
    "Content-Type": CONTENT_TYPES[format],
    "Content-Disposition": `attachment; filename="${exportFilename(format, new Date())}"`,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  const line = format === "csv" ? csvLine : jsonLine;
  let rows = 0;
  let pending = format === "csv" ? csvHeader() : "";
  for (;;) {
    for (const row of batch) pending += line(row);
    rows += batch.length;
    // One write per batch; wait while the client is slower than the database.
    if (pending && !res.write(pending) && !closed) await Promise.race([once(res, "drain"), once(res, "close")]);
    pending = "";
    const last = batch.at(-1);
    if (closed || batch.length < batchSize || !last) break;
    batch = await readBatch({ occurredAt: last.occurredAt, id: last.id });
  }
  if (closed) {
    log.info({ format, rows, ms: Date.now() - started, tenantId: claims.tenantId }, "export stopped: the client went away");
    return;
  }
  res.end();
  log.info({ format, rows, ms: Date.now() - started, tenantId: claims.tenantId, role: claims.role }, "export finished");
}
