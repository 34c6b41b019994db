// `node src/cli/start.ts` in a child process, as a user runs it: its JSON log
// lines collected as they come, the ready line awaited.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";

export interface LogLine {
  level: number;
  msg: string;
  url?: string;
  cluster?: string;
  clusterDir?: string;
  binaries?: string;
  moved?: number;
  err?: unknown;
}

export interface StartedProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** The log lines so far (other output, such as the demo tokens, is left out). */
  lines: LogLine[];
  /** The ready line, or null when the process exits first. */
  ready: Promise<LogLine | null>;
  exited: Promise<number | null>;
  stderr(): string;
}

export function startProcess(cwd: string, env: NodeJS.ProcessEnv): StartedProcess {
  const child = spawn(process.execPath, ["src/cli/start.ts"], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: LogLine[] = [];
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<LogLine | null>((resolve) => {
    let buffer = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const parsed = JSON.parse(line) as LogLine;
        lines.push(parsed);
        if (parsed.msg.startsWith("ready:")) resolve(parsed);
      }
    });
    void exited.then(() => resolve(null));
  });
  return { child, lines, ready, exited, stderr: () => stderr };
}
