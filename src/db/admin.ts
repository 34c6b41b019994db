// Cluster-level chores that need a superuser: creating the application
// database and giving the login roles passwords (embedded default and tests).
import { withClient } from "./connection.ts";

export async function createDatabaseIfMissing(rootUrl: string, name: string, template?: string): Promise<boolean> {
  return withClient(rootUrl, async (c) => {
    const { rowCount } = await c.query("select 1 from pg_database where datname = $1", [name]);
    if (rowCount) return false;
    const sql = `create database ${c.escapeIdentifier(name)}${template ? ` template ${c.escapeIdentifier(template)}` : ""}`;
    // A template still held by a closing pool makes CREATE DATABASE fail: retry briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(sql);
        return true;
      } catch (err) {
        if (attempt < 50 && err instanceof Error && /being accessed by other users/.test(err.message)) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        throw err;
      }
    }
  });
}

export async function dropDatabase(rootUrl: string, name: string): Promise<void> {
  await withClient(rootUrl, (c) => c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`));
}

/** Sets passwords of login roles (roles are cluster-wide). */
export async function setRolePasswords(rootUrl: string, passwords: Record<string, string>): Promise<void> {
  await withClient(rootUrl, async (c) => {
    for (const [role, password] of Object.entries(passwords)) {
      await c.query(`alter role ${c.escapeIdentifier(role)} with login password ${c.escapeLiteral(password)}`);
    }
  });
}
