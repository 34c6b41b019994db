// What the audit log's own access log records (ACCESS_LOG), on its own so
// that the configuration can check it without loading the server.

export const ACCESS_LOG_MODES = ["exports", "all", "off"] as const;

/** exports: exports of the log (the default); all: exports and reads; off: nothing. */
export type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];

export function isAccessLogMode(value: string): value is AccessLogMode {
  return (ACCESS_LOG_MODES as readonly string[]).includes(value);
}
