/**
 * What `supabase db push` does to a database, statement for statement, for tests: the Supabase CLI
 * itself cannot be installed here (its npm package downloads a Go binary from GitHub at install).
 * The statements are the CLI's own (supabase/cli pkg/migration/history.go: CREATE_VERSION_SCHEMA,
 * CREATE_VERSION_TABLE, ADD_STATEMENTS_COLUMN, ADD_NAME_COLUMN, INSERT_MIGRATION_VERSION; and
 * file.go: a file's statements and its history row in one implicit transaction).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SqlClient } from "../../app/src/store/sql-client.js";

const HISTORY = [
  "SET lock_timeout = '4s'",
  "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
  "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
  "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
  "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
];

/** `supabase migration list`'s remote column: the versions the history holds. */
export async function remoteVersions(client: SqlClient): Promise<string[]> {
  const { rows } = await client.query<{ version: string }>("SELECT version FROM supabase_migrations.schema_migrations ORDER BY version");
  return rows.map((r) => r.version);
}

/**
 * `supabase db push --db-url …` with the migration files in `dir`, up to `upTo` (a version,
 * inclusive) when given: applies each file the history lacks and records it. Returns the versions
 * it applied. Like the CLI, refuses when the history holds a version no local file has.
 */
export async function supabaseDbPush(client: SqlClient, dir: string, upTo?: string): Promise<string[]> {
  await client.exec(HISTORY.join(";\n"));
  const remote = new Set(await remoteVersions(client));
  const files = (await readdir(dir))
    .flatMap((f) => {
      const m = /^([0-9]+)_(.*)\.sql$/.exec(f);
      return m ? [{ file: f, version: m[1]!, name: m[2]! }] : [];
    })
    .sort((a, b) => a.version.localeCompare(b.version));
  const local = new Set(files.map((f) => f.version));
  const unknown = [...remote].filter((v) => !local.has(v));
  if (unknown.length > 0) throw new Error(`Remote migration versions not found in local migrations directory: ${unknown.join(", ")}`);
  const applied: string[] = [];
  for (const { file, version, name } of files) {
    if (remote.has(version) || (upTo !== undefined && version > upTo)) continue;
    const sql = await readFile(join(dir, file), "utf8");
    await client.withSession(async (session) => {
      await session.exec(`begin;\n${sql}\n;`);
      await session.query("INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES($1, $2, $3)", [version, name, [sql]]);
      await session.exec("commit");
    });
    applied.push(version);
  }
  return applied;
}
