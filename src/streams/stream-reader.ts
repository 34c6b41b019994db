// A stream's next batch of the log, read the way the API reads it: in a
// read-only transaction as the tenant's admin role (audit_tenant_admin) with
// the stream's tenant in the claims, so row-level security confines the read
// to that tenant whatever the stream's configuration says. The filter and
// the order are the database's (audit.log_stream_entries): entries after the
// position (transaction_id, id), below a bound no higher than the xmin
// horizon, in (transaction_id, id) order.
import type pg from "pg";
import { entrySelectList } from "../server/routes/export-file.ts";
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

/**
 * A batch's SQL ($1 tenant, $2/$3 the position, $4 the bound, $5-$7 the
 * filter, $8 the limit). The catalogue's description is joined once per
 * batch, not looked up per entry (a third of the read at 1,000 entries:
 * bench/results-stream.md).
 */
export const STREAM_BATCH_SQL = `select ${entrySelectList("coalesce(e.description, l.event)")}
  from audit.log_stream_entries($1::uuid, $2::bigint, $3::bigint, $4::bigint, $5::text[], $6::text[], $7::uuid[], $8::integer) l
  left join audit.events e on e.event = l.event
 order by l.transaction_id, l.id`;

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
          STREAM_BATCH_SQL,
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
