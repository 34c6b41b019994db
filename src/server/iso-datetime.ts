// The instants the API accepts from clients (filter and condition bounds,
// cursors, the export's from/to): ISO 8601 / RFC 3339 calendar dates and
// times, checked field by field. PostgreSQL would take more ("yesterday",
// "March 1") and fail with a database error on less ("2026-02-30"); refusing
// both here gives the client a clear message instead of a server fault, and
// keeps the meaning independent of the server's clock and time zone.

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** Example shown in error messages. */
export const ISO_DATETIME_EXAMPLE = "2026-03-01T00:00:00Z";

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * True for `YYYY-MM-DD`, optionally followed by `THH:MM[:SS[.fraction]]` and
 * an offset (`Z`, `+05:30`, `-0800`, `+01`); without an offset the instant
 * is UTC (the API's sessions run in UTC). Every field must exist on the
 * calendar: no 2026-02-30, no 24:00, no year 0.
 */
export function isIsoDateTime(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const m = ISO_DATETIME.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second, , offsetHours, offsetMinutes] = m.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  return (
    year! >= 1 && month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth(year!, month!) &&
    hour! <= 23 && minute! <= 59 && second! <= 59 && offsetHours! <= 15 && offsetMinutes! <= 59
  );
}
