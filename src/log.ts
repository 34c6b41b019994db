// Structured JSON logs (pino). LOG_LEVEL picks the threshold.
import { destination, pino, type Logger } from "pino";

export type { Logger };

/** `toStderr` for programs whose stdout is their result (the crash run's JSON line). */
export function createLogger(level: string = process.env.LOG_LEVEL ?? "info", toStderr = false): Logger {
  const options = { level, base: { service: "audit-trail" } };
  return toStderr ? pino(options, destination({ dest: 2, sync: true })) : pino(options);
}
