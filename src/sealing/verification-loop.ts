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
      // A restart does not verify again what the server verified less than
      // half an interval ago (at 10M entries a full verification is minutes of
      // CPU); the loop's own runs, an interval apart, never fall under it.
      const { rows } = await client.query<{ recent: boolean }>(
        `select coalesce(max(v.verified_at) > now() - make_interval(secs => $1::double precision / 2000), false) as recent
           from audit.verifications v where v.verified_by = 'server'`,
        [options.intervalMs],
      );
      if (rows[0]!.recent) {
        log.debug("verified less than half of VERIFY_INTERVAL_MS ago; skipped");
        return null;
      }
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
