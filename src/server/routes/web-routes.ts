// The Audit Logs page's routes on the API server: the built page at `/`, the
// streaming export at GET /export, and, in the embedded demo only, the demo
// sign-in tokens at GET /demo/tokens. Mounted through startServer's `routes`
// option, so the export gets the same token verification and database scope
// as GraphQL.
import type { Express } from "express";
import type { DemoToken } from "../../shared/demo-token.ts";
import type { RouteContext } from "../app.ts";
import { mountDemoTokens } from "./demo-tokens.ts";
import { mountExport } from "./export.ts";
import { DEFAULT_DIST_DIR, mountPage } from "./page.ts";

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

export function webRoutes(options: WebRoutesOptions = {}): (app: Express, context: RouteContext) => void {
  const demoTokens = options.demoTokens && options.demoTokens.length > 0 ? options.demoTokens : null;
  return (app, context) => {
    mountDemoTokens(app, demoTokens);
    mountExport(app, context, options.exportBatchSize ?? 1000);
    mountPage(app, options.distDir ?? DEFAULT_DIST_DIR);
  };
}
