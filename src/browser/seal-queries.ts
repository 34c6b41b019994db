// The tamper evidence the page shows: the admin's tenant's seal status
// (sealStatus: the newest seal and the last verification).
import { graphql } from "./api.ts";

export interface SealStatus {
  /** Every entry committed before this instant is sealed; null until the sealer has run. */
  sealedUpTo: string | null;
  /** BigInts, as strings. */
  sealCount: string | null;
  newestSeq: string | null;
  /** What the tenant keeps outside the database: it anchors the seal chain. */
  newestSealHash: string | null;
  newestSealedAt: string | null;
  lastVerifiedAt: string | null;
  lastVerifiedBy: string | null;
  /** Findings per status other than ok ({"modified": 2}); {} when nothing was found; null before any verification. */
  lastVerificationFindings: Record<string, unknown> | null;
  lastVerificationSignaturesChecked: boolean | null;
}

export async function fetchSealStatus(token: string, signal?: AbortSignal): Promise<SealStatus | null> {
  const data = await graphql<{ sealStatus: SealStatus | null }>(
    `query SealStatus {
      sealStatus {
        sealedUpTo sealCount newestSeq newestSealHash newestSealedAt
        lastVerifiedAt lastVerifiedBy lastVerificationFindings lastVerificationSignaturesChecked
      }
    }`,
    {}, token, signal,
  );
  return data.sealStatus;
}
