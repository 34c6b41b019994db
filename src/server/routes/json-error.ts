// The error body of the page's routes: `error` for a quick read (the page's
// export shows it), `errors` shaped like the GraphQL API's.
import type { Response } from "express";

export function sendJsonError(res: Response, status: number, message: string, code: string): void {
  res.status(status).set("Cache-Control", "no-store").json({ error: message, errors: [{ message, extensions: { code } }] });
}
