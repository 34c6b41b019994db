// The server's periodic verification: every tenant's seals checked (with the
// trusted public keys) every VERIFY_INTERVAL_MS, the result stored in
// audit.verifications for the page and the API, findings logged as errors.
import type { KeyObject } from "node:crypto";
import pg from "pg";
import { startBackgroundLoop, type BackgroundLoop } from "../db/background-loop.ts";
import type { Logger } from "../log.ts";
import { BENIGN_STATUSES, hasFindings, recordVerification, verifyLog, type VerifyResult } from "./verifier.ts";

export interface VerificationLoopOptions {
  connectionString: string;
  publicKeys: Map<string, KeyObject>;
  intervalMs: number;
  unsealedAfterMs: number;
  logger: Logger;
  /** The first run waits for this (the first sealing run, so that a fresh database verifies sealed). */
  after?: Promise<unknown>;
}

export type VerificationLoop = BackgroundLoop<VerifyResult>;

export function startVerification(options: VerificationLoopOptions): VerificationLoop {
  const log = options.logger.child({ component: "verification" });
  const run = async (): Promise<VerifyResult | null> => {
    const client = new pg.Client({ connectionString: options.connectionString, application_name: "audit-trail-verify" });
    await client.connect();
    try {
      const verifyOptions = { publicKeys: options.publicKeys, unsealedAfterMs: options.unsealedAfterMs, connectionString: options.connectionString };
      const result = await verifyLog(client, verifyOptions);
      await recordVerification(client, result, "server", {});
      if (hasFindings(result)) {
        for (const r of result.rounds.filter((x) => !BENIGN_STATUSES.includes(x.status))) {
          log.error({ tenantId: r.tenantId, seal: r.seq, status: r.status, entryIds: r.entryIds.slice(0, 100), detail: r.detail }, "the audit log does not match its seals");
        }
      } else {
        log.info({ tenants: result.tenants.length, seals: result.tenants.reduce((n, t) => n + t.seals, 0), ms: result.ms }, "seals verified: no tampering found");
      }
      return result;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return startBackgroundLoop({ intervalMs: options.intervalMs, log, failure: "verification failed", run, after: options.after });
}
