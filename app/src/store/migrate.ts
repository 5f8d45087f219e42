import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlClient } from "./sql-client.js";
import { errorMessage } from "../../../action/src/error-message.js";

/** supabase/migrations: the only source of the schema. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../supabase/migrations/", import.meta.url));

/** Any 64-bit key, the same in every instance: who holds it applies the migrations. */
const MIGRATION_LOCK = 7142025;

/**
 * Applies the migrations not yet applied, in file-name order, each in its own transaction, and
 * records them in public.schema_migrations. A session advisory lock makes instances that start
 * together wait for the first one, so every migration runs exactly once.
 * Returns the versions it applied.
 */
export async function migrate(client: SqlClient, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{14}_[\w-]+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await client.withSession(async (session) => {
    await session.exec(`select pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await session.exec(
        "create table if not exists public.schema_migrations (version text primary key, applied_at timestamptz not null default now());" +
          "alter table public.schema_migrations enable row level security;" +
          "revoke all on table public.schema_migrations from public;",
      );
      const done = new Set((await session.query<{ version: string }>("select version from public.schema_migrations")).rows.map((r) => r.version));
      for (const file of files) {
        const version = file.slice(0, 14);
        if (done.has(version)) continue;
        const sql = await readFile(join(dir, file), "utf8");
        try {
          await session.exec(`begin;\n${sql}\n;insert into public.schema_migrations (version) values ('${version}');\ncommit;`);
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
