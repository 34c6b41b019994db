// GET /demo/tokens: the embedded demo's one-click sign-ins for the page. A
// server that was given no demo tokens answers 404.
import type { Express } from "express";
import type { DemoToken } from "../../shared/demo-token.ts";
import { sendJsonError } from "./json-error.ts";

export function mountDemoTokens(app: Express, tokens: readonly DemoToken[] | null): void {
  app.get("/demo/tokens", (_req, res) => {
    if (!tokens) {
      sendJsonError(res, 404, "Not found: demo sign-in exists only in the embedded demo", "NOT_FOUND");
      return;
    }
    res.set("Cache-Control", "no-store").json({ tokens });
  });
}
