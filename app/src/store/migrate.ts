import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlClient } from "./sql-client.js";
import { errorMessage } from "../../../action/src/error-message.js";

/** supabase/migrations: the only source of the schema. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../supabase/migrations/", import.meta.url));

/** Any 64-bit key, the same in every instance: who holds it applies the migrations. */
const MIGRATION_LOCK = 7142025;

const MIGRATION_FILE = /^(\d{14})_([\w-]+)\.sql$/;

/**
 * The migration history, exactly as the Supabase CLI keeps it (`supabase db push` and `supabase
 * migration list` read and write this table; pkg/migration/history.go in supabase/cli): one
 * history, whichever of the two applied a migration, so neither applies one twice.
 */
const HISTORY_DDL = [
  "create schema if not exists supabase_migrations",
  "create table if not exists supabase_migrations.schema_migrations (version text not null primary key)",
  "alter table supabase_migrations.schema_migrations add column if not exists statements text[]",
  "alter table supabase_migrations.schema_migrations add column if not exists name text",
  // Not for the API roles: the schema is not exposed, and nobody but the owner reads it.
  "revoke all on schema supabase_migrations from public",
].join(";\n");

/**
 * Before the history was Supabase's, the runner kept `public.schema_migrations (version)`: a
 * database migrated then has its versions moved over, and the old table dropped.
 */
const ADOPT_OLD_HISTORY = `do $$ begin
  if pg_catalog.to_regclass('public.schema_migrations') is not null then
    insert into supabase_migrations.schema_migrations (version)
      select version from public.schema_migrations on conflict do nothing;
    drop table public.schema_migrations;
  end if;
end $$`;

interface MigrationFile {
  version: string;
  name: string;
  file: string;
}

async function migrationFiles(dir: string): Promise<MigrationFile[]> {
  return (await readdir(dir)).flatMap((file) => {
    const match = MIGRATION_FILE.exec(file);
    return match ? [{ version: match[1]!, name: match[2]!, file }] : [];
  });
}

/** The versions the history holds; none when there is no history yet. One plain query: fine through a transaction pooler. */
async function appliedVersions(client: SqlClient): Promise<Set<string>> {
  const { rows } = await client.query<{ version: string }>("select version from supabase_migrations.schema_migrations").catch((error: unknown) => {
    // The table is missing (42P01) or its schema (3F000): nothing applied yet.
    if (/does not exist/.test(errorMessage(error))) return { rows: [] };
    throw error;
  });
  return new Set(rows.map((r) => r.version));
}

/**
 * The migrations in `dir` that the database has not applied, in order (file names). Reads only,
 * in one statement: an instance on a transaction pooler, which must not migrate, uses it to
 * know whether the schema is current.
 */
export async function pendingMigrations(client: SqlClient, dir = MIGRATIONS_DIR): Promise<string[]> {
  const done = await appliedVersions(client);
  return (await migrationFiles(dir))
    .sort((a, b) => a.file.localeCompare(b.file))
    .filter((m) => !done.has(m.version))
    .map((m) => m.file);
}

/**
 * Applies the migrations not yet applied, in file-name order, each in its own transaction, and
 * records each in `supabase_migrations.schema_migrations` as `supabase db push` does (version,
 * name, statements). A session advisory lock makes instances that start together wait for the
 * first one, so every migration runs exactly once: `client` must hold a session (a direct
 * connection or Supabase's session pooler, never the transaction pooler on port 6543).
 * Returns the versions it applied.
 */
export async function migrate(client: SqlClient, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await migrationFiles(dir)).sort((a, b) => a.file.localeCompare(b.file));
  const applied: string[] = [];
  await client.withSession(async (session) => {
    await session.exec(`select pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await session.exec(`${HISTORY_DDL};\n${ADOPT_OLD_HISTORY}`);
      const done = await appliedVersions(session);
      for (const { version, name, file } of files) {
        if (done.has(version)) continue;
        const sql = await readFile(join(dir, file), "utf8");
        try {
          await session.exec(`begin;\n${sql}\n;`);
          // The CLI stores the file's statements; one statement holding the whole file reads the same.
          await session.query("insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)", [version, name, [sql]]);
          await session.exec("commit");
        } catch (error) {
          await session.exec("rollback").catch(() => undefined);
          throw new Error(`Migration ${file} failed: ${errorMessage(error)}`, { cause: error });
        }
        applied.push(version);
      }
    } finally {
      await session.exec(`select pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  });
  return applied;
}
