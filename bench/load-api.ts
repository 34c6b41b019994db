// The API server of the benches that time it over HTTP (load.ts, http.ts,
// rollups.ts; started by api-process.ts), in a process of its own: a load
// generator's or a client's event loop must not share a thread with the
// server it times, and in production the admins' browsers are elsewhere too.
// The same server as `npm start` (startServer with the page's routes, the
// export among them) with its production defaults (statement timeout, pool
// size), over the data set named by LOAD_API_AUTH_URL, verifying HS256
// tokens signed with LOAD_API_JWT_SECRET. Prints one JSON line {"url": …}
// when it listens; SIGTERM or the end of its stdin closes it.
import { createLogger } from "../src/log.ts";
import { webRoutes } from "../src/server/routes/web-routes.ts";

const authUrl = process.env.LOAD_API_AUTH_URL;
const key = process.env.LOAD_API_JWT_SECRET;
if (!authUrl || !key) {
  process.stderr.write("load-api: LOAD_API_AUTH_URL and LOAD_API_JWT_SECRET are required\n");
  process.exit(2);
}
// Grafast's production mode, as `npm start` sets it before PostGraphile loads.
process.env.GRAPHILE_ENV ??= "production";
const { startServer } = await import("../src/server/app.ts").catch((err: unknown) => {
  process.stderr.write(`load-api: the API server could not be loaded (${err instanceof Error ? err.message.split("\n")[0] : String(err)})\n`);
  process.exit(1);
});
const api = await startServer({
  authUrl,
  jwt: { algorithm: "HS256", key },
  port: 0,
  // Logs to stderr, which the bench passes through: warnings and errors only.
  logger: createLogger("warn", true),
  routes: webRoutes({}),
});
process.stdout.write(`${JSON.stringify({ url: api.url })}\n`);
let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  void api.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", close);
// The bench holds our stdin open: its end means the bench is gone (even
// killed), and a server left behind would hold the port and connections.
process.stdin.once("end", close);
process.stdin.resume();
