// Runs the crash-without-loss scenario (support/crash-harness.ts) in a
// process of its own and prints its figures as one JSON line.
//   node test/reliability/crash-run.ts [--clients N] [--crashes N] [--seconds N] [--seed N] [--unsafe-async-commit]
// `npm run soak` runs the long form; test/reliability/crash.test.ts the short one.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createLogger } from "../../src/log.ts";
import { runCrashScenario } from "./support/crash-harness.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "4" },
    crashes: { type: "string", default: "2" },
    seconds: { type: "string", default: "12" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    // only to show that the checks catch lost commits (crash.test.ts)
    "unsafe-async-commit": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(`Usage: node test/reliability/crash-run.ts [options]
  --clients N      concurrent writing clients (default 4)
  --crashes N      hard kills of the server at random moments (default 2)
  --seconds N      seconds of load (default 12)
  --seed N         seed of the workload and the crash moments (default: from the clock)
Prints the figures as one JSON line; exits 0 when every check passed, 1 otherwise.
`);
  process.exit(0);
}
const int = (name: keyof typeof values, min: number) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`crash-run: --${name} must be an integer of at least ${min}, got "${values[name]}"\n`);
    process.exit(2);
  }
  return n;
};
const options = { clients: int("clients", 1), crashes: int("crashes", 1), seconds: int("seconds", 3), seed: int("seed", 0) };
// Logs go to stderr: stdout carries only the result line.
const logger = createLogger(process.env.LOG_LEVEL ?? "info", true);
const dataDir = await mkdtemp(path.join(tmpdir(), "audit-trail-crash-"));
try {
  const result = await runCrashScenario({ ...options, asyncCommit: values["unsafe-async-commit"], dataDir, logger });
  process.stdout.write(JSON.stringify({ options, ...result }) + "\n");
  // The killed clusters' handles cannot be stopped: end the process here.
  process.exit(result.ok ? 0 : 1);
} catch (err) {
  // the data folder is kept for a look at what went wrong
  logger.fatal({ err, dataDir }, "crash scenario failed");
  process.exit(1);
}
