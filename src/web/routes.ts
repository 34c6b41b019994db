// The Audit Logs page's routes on the API server: the built page at `/`, the
// streaming export at GET /export, and, in the embedded demo only, the demo
// sign-in tokens at GET /demo/tokens. Mounted through startServer's `routes`
// option, so the export gets the same token verification and database scope
// as GraphQL.
import { existsSync } from "node:fs";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express, type Request, type Response } from "express";
import type { RouteContext } from "../server/app.ts";
import { claimsOf } from "../server/authenticate.ts";
import { withScopedTransaction } from "../server/scoped-query.ts";
import type { AuditEntry } from "./entry.ts";
import {
  CONTENT_TYPES, EXPORT_FORMATS, csvHeader, csvLine, exportBatchQuery, exportFilename, jsonLine,
  type ExportCursor, type ExportFormat,
} from "./export.ts";
import { FilterError, parseResolvedParams } from "./filters.ts";

/** A one-click sign-in of the embedded demo (the shape src/demo/tokens.ts signs). */
export interface DemoToken {
  label: string;
  token: string;
  claims?: Record<string, string>;
  description?: string;
}

/** What GET /demo/tokens answers: a short title per token, for buttons. */
export interface DemoSignIn {
  label: string;
  description: string;
  token: string;
}

const ROLE_TITLES: Record<string, string> = { tenant_admin: "Tenant admin", account_admin: "Account admin" };

export function demoSignIns(tokens: readonly DemoToken[]): DemoSignIn[] {
  return tokens.map((t) => {
    const title = ROLE_TITLES[t.claims?.role ?? ""] ?? t.label;
    return { label: title, description: t.description ?? (title === t.label ? "" : t.label), token: t.token };
  });
}

export interface WebRoutesOptions {
  /** Folder of the built page (default: dist/web of this checkout). */
  distDir?: string;
  /**
   * The demo's sign-in tokens. Give them only when the server runs the
   * embedded demo: anyone who can load the page can then sign in with them.
   */
  demoTokens?: readonly DemoToken[] | null;
  /** Entries per export query (default 1000). */
  exportBatchSize?: number;
}

export const DEFAULT_DIST_DIR = fileURLToPath(new URL("../../dist/web/", import.meta.url));

/**
 * The page's own resources only: no inline scripts, no other origins. Styles
 * set from script (element.style) are allowed by CSP; style attributes in
 * markup are not, and the page has none.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

function sendJsonError(res: Response, status: number, message: string, code: string): void {
  res.status(status).set("Cache-Control", "no-store").json({ error: message, errors: [{ message, extensions: { code } }] });
}

export function webRoutes(options: WebRoutesOptions = {}): (app: Express, context: RouteContext) => void {
  const distDir = options.distDir ?? DEFAULT_DIST_DIR;
  const batchSize = options.exportBatchSize ?? 1000;
  const demoTokens = options.demoTokens && options.demoTokens.length > 0 ? demoSignIns(options.demoTokens) : null;

  return (app, context) => {
    const log = context.logger.child({ component: "web" });

    app.get("/demo/tokens", (_req, res) => {
      if (!demoTokens) {
        sendJsonError(res, 404, "Not found: demo sign-in exists only in the embedded demo", "NOT_FOUND");
        return;
      }
      res.set("Cache-Control", "no-store").json({ tokens: demoTokens });
    });

    app.get("/export", context.requireAdmin, (req, res) => {
      void streamExport(req, res, context, batchSize).catch((err: unknown) => {
        log.error({ err }, "export failed");
        if (!res.headersSent) sendJsonError(res, 500, "The export failed; try again or narrow the filters.", "INTERNAL_SERVER_ERROR");
        else res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });

    const indexFile = path.join(distDir, "index.html");
    const sendIndex = (_req: Request, res: Response) => {
      if (!existsSync(indexFile)) {
        res.status(503).type("text/plain").send("The Audit Logs page is not built: run `npm run build` (npm start and npm test do it first).\n");
        return;
      }
      res.set({ "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache", "X-Frame-Options": "DENY" });
      res.sendFile(indexFile);
    };
    app.get(["/", "/index.html"], sendIndex);
    // Vite names assets by content hash: they never change under a name.
    app.use("/assets", express.static(path.join(distDir, "assets"), { immutable: true, maxAge: "1y", fallthrough: true, index: false }));
  };
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
    sendJsonError(res, 400, `format must be csv or jsonl, got "${format}"`, "BAD_REQUEST");
    return;
  }
  let filters;
  try {
    filters = parseResolvedParams(params);
  } catch (err) {
    if (err instanceof FilterError) {
      sendJsonError(res, 400, `Bad export request: ${err.message}`, "BAD_REQUEST");
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
