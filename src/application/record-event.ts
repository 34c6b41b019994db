// For applications writing through `pg`: record what no trigger sees (a
// sign-in, a reveal of a secret, a download) as an entry of the audit log,
// through audit.record_event. The event must be in the catalogue
// (migrations/tracking.sql) with kind 'application'; the actor is the
// transaction's audit context (withAuditContext), as for the triggers.
import type pg from "pg";

export interface RecordEventInput {
  /** A catalogued application event, e.g. "user.signed_in". */
  event: string;
  tenantId: string;
  /** The account the event belongs to; absent or null: a tenant-level entry. */
  accountId?: string | null;
  /** The entity the event is about (e.g. the user who signed in). */
  entityId: string;
  /** A JSON object (at most 8 kB), merged over the request context; secret keys are stored as "[redacted]". */
  context?: Record<string, unknown>;
  /** The entity's human name (e.g. the user's email), kept as the entry's label. */
  label?: string | null;
}

/** SQLSTATEs audit.record_event raises, and what they mean here. */
const INVALID_INPUT = "22023";
/** A tenant or account id that is not a uuid, caught by the parameter's cast. */
const INVALID_TEXT = "22P02";
const NOT_ALLOWED = "42501";

/** audit.record_event refused the call; the message is PostgreSQL's. */
export class RecordEventError extends Error {
  override name = "RecordEventError";
  /** The SQLSTATE: 22023 or 22P02 (bad input), 42501 (not allowed). */
  readonly sqlState: string;
  readonly hint: string | undefined;
  constructor(message: string, sqlState: string, hint: string | undefined, cause: unknown) {
    super(message, { cause });
    this.sqlState = sqlState;
    this.hint = hint;
  }
}

/** Bad input: unknown event, missing or unknown tenant, an account of another tenant, no entity id, a bad context, an id that is not a uuid. */
export class RecordEventInputError extends RecordEventError {
  override name = "RecordEventInputError";
}

/**
 * Not allowed: a trigger or access event (only the capture and the API write
 * those), or a caller other than app_user (permission denied).
 */
export class RecordEventPermissionError extends RecordEventError {
  override name = "RecordEventPermissionError";
}

function translate(err: unknown): unknown {
  const pgErr = err as Partial<pg.DatabaseError> | null;
  const code = typeof pgErr?.code === "string" ? pgErr.code : undefined;
  if (!(err instanceof Error) || (code !== INVALID_INPUT && code !== INVALID_TEXT && code !== NOT_ALLOWED)) return err;
  const Kind = code === NOT_ALLOWED ? RecordEventPermissionError : RecordEventInputError;
  return new Kind(err.message, code, pgErr?.hint, err);
}

/**
 * Records an application event and returns the entry's id. It is written in
 * `client`'s transaction: a rollback removes it with the rest. An event that
 * must outlive a failure (a failed sign-in) goes in a transaction of its own
 * (withAuditContext(pool, …, (c) => recordEvent(c, …)) after the failed one).
 * A pool runs it as one statement, committed at once, without audit context.
 */
export async function recordEvent(client: pg.ClientBase | pg.Pool, input: RecordEventInput): Promise<string> {
  try {
    const { rows } = await client.query<{ id: string }>(
      "select audit.record_event($1, $2::uuid, $3::uuid, $4, $5::jsonb, $6)::text as id",
      [input.event, input.tenantId, input.accountId ?? null, input.entityId, JSON.stringify(input.context ?? {}), input.label ?? null],
    );
    return rows[0]!.id;
  } catch (err) {
    throw translate(err);
  }
}
