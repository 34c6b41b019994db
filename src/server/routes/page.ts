// The built Audit Logs page (npm run build: src/browser into dist/web): its
// index.html at `/` and at the paths of its other views (the Security view,
// so that a reload or a shared link of it works), under a strict
// Content-Security-Policy, and its assets.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express, type Request, type Response } from "express";

export const DEFAULT_DIST_DIR = fileURLToPath(new URL("../../../dist/web/", import.meta.url));

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

/** The URLs the page answers: Audit Logs at `/`, Security at /security (src/browser/security-state.ts), Log streams (src/browser/log-streams.ts). */
export const PAGE_PATHS = ["/", "/index.html", "/security", "/security/settings", "/log-streams"];

export function mountPage(app: Express, distDir: string): void {
  const indexFile = path.join(distDir, "index.html");
  const sendIndex = (_req: Request, res: Response) => {
    if (!existsSync(indexFile)) {
      res.status(503).type("text/plain").send("The Audit Logs page is not built: run `npm run build` (npm start and npm test do it first).\n");
      return;
    }
    res.set({ "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache", "X-Frame-Options": "DENY" });
    res.sendFile(indexFile);
  };
  app.get(PAGE_PATHS, sendIndex);
  // Vite names assets by content hash: they never change under a name.
  app.use("/assets", express.static(path.join(distDir, "assets"), { immutable: true, maxAge: "1y", fallthrough: true, index: false }));
}
