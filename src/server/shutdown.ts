// Graceful shutdown: on SIGINT or SIGTERM, run the clean-up steps in order
// (stop accepting requests, release PostGraphile, end pools, stop the
// embedded PostgreSQL), then exit. A second signal, or steps that take too
// long, end the process at once.
import type { Server } from "node:http";
import type { Logger } from "../log.ts";

export interface ShutdownStep {
  name: string;
  run(): Promise<void> | void;
}

/** Runs the steps in order; a failing step is logged and the next still runs. */
export async function runShutdownSteps(steps: readonly ShutdownStep[], logger: Logger): Promise<boolean> {
  let clean = true;
  for (const step of steps) {
    try {
      await step.run();
      logger.debug({ step: step.name }, "shutdown step done");
    } catch (err) {
      clean = false;
      logger.error({ err, step: step.name }, "shutdown step failed");
    }
  }
  return clean;
}

export interface SignalOptions {
  logger: Logger;
  /** Longest a graceful shutdown may take before the process exits anyway. */
  timeoutMs?: number;
}

/** Installs SIGINT/SIGTERM handlers that run `steps()` once, then exit. */
export function exitGracefullyOnSignals(steps: () => readonly ShutdownStep[], options: SignalOptions): void {
  const { logger, timeoutMs = 15_000 } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      logger.error({ timeoutMs }, "shutdown took too long: exiting");
      process.exit(1);
    }, timeoutMs);
    force.unref();
    void runShutdownSteps(steps(), logger).then((clean) => {
      clearTimeout(force);
      logger.info(clean ? "stopped" : "stopped with errors");
      process.exit(clean ? 0 : 1);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

/**
 * Stops accepting connections and waits for requests in flight; idle
 * keep-alive connections are closed at once, busy ones after `graceMs`.
 */
export function closeHttpServer(server: Server, graceMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close((err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
