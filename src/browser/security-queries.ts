// The Security view's GraphQL operations: the alerts (a page, one with its
// entries, the open ones for the sidebar's badge), acknowledging and
// resolving them, and the detector settings.
import type { AuditEntry } from "../shared/entry.ts";
import { graphql } from "./api.ts";

/** An entry of an alert, as the details panel lists it: the entry without its values and context. */
export type AlertEntry = Omit<AuditEntry, "tenantId" | "oldValues" | "newValues" | "context" | "transactionId">;

export interface SecurityAlert {
  id: string;
  accountId: string | null;
  detector: string;
  severity: string;
  status: string;
  summary: string;
  actorType: string | null;
  actorId: string | null;
  actorEmail: string | null;
  actorName: string | null;
  firstAt: string;
  lastAt: string;
  /** A bigint, as a string. */
  entryCount: string;
  details: Record<string, unknown> | null;
  detectedAt: string;
  updatedAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
  resolutionNote: string | null;
}

/** An alert with the first of its entries (those the admin may see), newest first. */
export interface AlertWithEntries extends SecurityAlert {
  entries: { nodes: AlertEntry[]; pageInfo: { hasNextPage: boolean } };
}

export interface AlertPage {
  alerts: SecurityAlert[];
  totalCount: number;
  hasNextPage: boolean;
  endCursor: string | null;
}

const ALERT_FIELDS = `
  id accountId detector severity status summary actorType actorId actorEmail actorName
  firstAt lastAt entryCount details detectedAt updatedAt acknowledgedAt acknowledgedBy resolvedAt resolvedBy resolutionNote`;

const ENTRY_FIELDS = `
  id occurredAt accountId actorType actorId actorEmail actorName action resourceType entityId entityLabel event description`;

export const ALERT_PAGE_SIZE = 50;
/** Entries shown in an alert's details panel; "Open in Audit Logs" shows them all. */
export const ALERT_ENTRIES_SHOWN = 20;
/** The badge counts open alerts up to this many ("100+" beyond). */
export const OPEN_ALERTS_CAP = 100;

export async function fetchAlerts(token: string, filter: Record<string, unknown>, after: string | null, signal?: AbortSignal): Promise<AlertPage> {
  const data = await graphql<{ securityAlerts: { totalCount: number; nodes: SecurityAlert[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
    `query SecurityAlertPage($filter: SecurityAlertFilter, $first: Int!, $after: Cursor) {
      securityAlerts(filter: $filter, first: $first, after: $after, orderBy: [DETECTED_AT_DESC]) {
        totalCount
        nodes { ${ALERT_FIELDS} }
        pageInfo { hasNextPage endCursor }
      }
    }`,
    { filter, first: ALERT_PAGE_SIZE, after }, token, signal,
  );
  const c = data.securityAlerts;
  return { alerts: c.nodes, totalCount: c.totalCount, hasNextPage: c.pageInfo.hasNextPage, endCursor: c.pageInfo.endCursor };
}

/** One alert with its newest entries; null when there is none the admin may see. */
export async function fetchAlert(token: string, id: string, signal?: AbortSignal): Promise<AlertWithEntries | null> {
  const data = await graphql<{ securityAlerts: { nodes: AlertWithEntries[] } }>(
    `query SecurityAlert($id: BigInt!, $entries: Int!) {
      securityAlerts(first: 1, filter: { id: { equalTo: $id } }) {
        nodes {
          ${ALERT_FIELDS}
          entries(first: $entries) { nodes { ${ENTRY_FIELDS} } pageInfo { hasNextPage } }
        }
      }
    }`,
    { id, entries: ALERT_ENTRIES_SHOWN }, token, signal,
  );
  return data.securityAlerts.nodes[0] ?? null;
}

/** How many alerts are open: exact up to the cap, `capped` beyond it. Asks for ids only, never a count of the log. */
export async function fetchOpenAlertCount(token: string, signal?: AbortSignal): Promise<{ count: number; capped: boolean }> {
  const data = await graphql<{ securityAlerts: { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean } } }>(
    `query OpenSecurityAlerts($first: Int!) {
      securityAlerts(first: $first, filter: { status: { equalTo: "open" } }) { nodes { id } pageInfo { hasNextPage } }
    }`,
    { first: OPEN_ALERTS_CAP }, token, signal,
  );
  return { count: data.securityAlerts.nodes.length, capped: data.securityAlerts.pageInfo.hasNextPage };
}

export async function acknowledgeAlert(token: string, id: string): Promise<SecurityAlert> {
  const data = await graphql<{ acknowledgeSecurityAlert: { securityAlert: SecurityAlert } }>(
    `mutation AcknowledgeSecurityAlert($id: BigInt!) {
      acknowledgeSecurityAlert(input: { id: $id }) { securityAlert { ${ALERT_FIELDS} } }
    }`,
    { id }, token,
  );
  return data.acknowledgeSecurityAlert.securityAlert;
}

export async function resolveAlert(token: string, id: string, note: string | null): Promise<SecurityAlert> {
  const data = await graphql<{ resolveSecurityAlert: { securityAlert: SecurityAlert } }>(
    `mutation ResolveSecurityAlert($id: BigInt!, $note: String) {
      resolveSecurityAlert(input: { id: $id, note: $note }) { securityAlert { ${ALERT_FIELDS} } }
    }`,
    { id, note }, token,
  );
  return data.resolveSecurityAlert.securityAlert;
}

export async function fetchDetectorSettings(token: string, signal?: AbortSignal): Promise<unknown> {
  const data = await graphql<{ detectorSettings: unknown }>(`query DetectorSettings { detectorSettings }`, {}, token, signal);
  return data.detectorSettings;
}

/** Merges a patch into the tenant's settings; returns the whole, validated document. */
export async function updateDetectorSettings(token: string, patch: Record<string, unknown>): Promise<unknown> {
  const data = await graphql<{ updateDetectorSettings: { detectorSettings: unknown } }>(
    `mutation UpdateDetectorSettings($patch: JSON!) { updateDetectorSettings(input: { patch: $patch }) { detectorSettings } }`,
    { patch }, token,
  );
  return data.updateDetectorSettings.detectorSettings;
}
