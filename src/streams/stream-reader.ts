// A stream's next batch of the log, read the way the API reads it: in a
// read-only transaction as the tenant's admin role (audit_tenant_admin) with
// the stream's tenant in the claims, so row-level security confines the read
// to that tenant whatever the stream's configuration says. The filter and
// the order are the database's (audit.log_stream_entries): entries after the
// position (transaction_id, id), below a bound no higher than the xmin
// horizon, in (transaction_id, id) order.
import type pg from "pg";
import { ENTRY_SELECT_LIST } from "../server/routes/export-file.ts";
import { withScopedTransaction } from "../server/scoped-query.ts";
import type { StreamEntry } from "./stream-types.ts";

/** A stream's position: every entry before (xid, id) was delivered; id null: none of transaction xid. */
export interface StreamPosition {
  xid: bigint;
  id: bigint | null;
}

export interface StreamFilter {
  resourceTypes: string[] | null;
  actions: string[] | null;
  accountIds: string[] | null;
}

export interface BatchRequest {
  tenantId: string;
  streamId: string;
  after: StreamPosition;
  /** Read below this transaction id (at most the horizon). */
  before: bigint;
  filter: StreamFilter;
  limit: number;
  statementTimeoutMs: number;
}

export async function readStreamBatch(pool: pg.Pool, request: BatchRequest): Promise<StreamEntry[]> {
  // The stream reads as an admin of its tenant; it is named in the claims
  // (sub: the stream's id) so that anything it could record says who it was.
  const claims = {
    userId: request.streamId,
    tenantId: request.tenantId,
    role: "tenant_admin" as const,
    accountId: null,
    email: `log-stream:${request.streamId}`,
    expiresAt: new Date(8.64e15),
  };
  return withScopedTransaction(
    pool,
    claims,
    async (client) =>
      (
        await client.query<StreamEntry>(
          `select ${ENTRY_SELECT_LIST}
             from audit.log_stream_entries($1::uuid, $2::bigint, $3::bigint, $4::bigint, $5::text[], $6::text[], $7::uuid[], $8::integer) l`,
          [
            request.tenantId,
            request.after.xid.toString(),
            request.after.id === null ? null : request.after.id.toString(),
            request.before.toString(),
            request.filter.resourceTypes,
            request.filter.actions,
            request.filter.accountIds,
            request.limit,
          ],
        )
      ).rows,
    { statementTimeoutMs: request.statementTimeoutMs },
  );
}
