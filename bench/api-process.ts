// The project's API server in a process of its own (load-api.ts), for the
// benches that time requests over HTTP (load.ts, http.ts, rollups.ts): a
// client in the server's own process shares its event loop, so the client's
// work (sending, reading and parsing responses) and the server's work after
// a response (commit, releasing the connection, garbage collection) would
// wait for each other, which no real client (a browser, another service) does.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { benchDir } from "./server.ts";

/** The API server's process: its URL, its pid (for CPU figures) and how to stop it. */
export interface ApiProcess {
  url: string;
  pid: number | null;
  stop(): Promise<void>;
}

/** Starts the API over `authUrl` (as audit_authenticator), verifying HS256 tokens signed with `secret`. */
export async function startApiProcess(authUrl: string, secret: string): Promise<ApiProcess> {
  const child = spawn(process.execPath, [`${benchDir}load-api.ts`], {
    env: { ...process.env, LOAD_API_AUTH_URL: authUrl, LOAD_API_JWT_SECRET: secret },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(kill);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the API server did not listen within 120 s")), 120_000);
      createInterface({ input: child.stdout }).once("line", (line) => {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(line) as { url: string }).url);
        } catch {
          reject(new Error(`unexpected output of the API server: ${line}`));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the API server exited (${code}) before it listened`));
      });
    });
    return { url, pid: child.pid ?? null, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
