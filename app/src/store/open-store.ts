import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { MIGRATIONS_DIR, migrate, pendingMigrations } from "./migrate.js";
import { pgClient, pgliteClient, type SqlClient } from "./sql-client.js";
import { sqlTransport } from "./sql-transport.js";
import { Store } from "./store.js";
import { errorMessage } from "../../../action/src/error-message.js";

/** Which database the app uses, from its environment. */
export type StoreConfig =
  | {
      kind: "postgres";
      databaseUrl: string;
      /** Where migrations run (a session: direct or Supabase's session pooler); the runtime URL when unset. */
      migrationUrl: string | undefined;
      /** Connections per instance. */
      poolMax: number;
    }
  | { kind: "supabase"; url: string; secretKey: string }
  | { kind: "pglite"; dataDir: string };

/** An empty variable (`DATABASE_URL=` in a .env file) counts as unset. */
const optional = z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), z.string().trim().optional());

const envSchema = z.object({
  DATABASE_URL: optional,
  MIGRATION_DATABASE_URL: optional,
  DATABASE_POOL_MAX: optional,
  SUPABASE_URL: optional,
  SUPABASE_SECRET_KEY: optional,
  DATA_DIR: optional,
  MIGRATIONS_DIR: optional,
  NODE_ENV: optional,
});

const DEFAULT_POOL_MAX = 10;
const poolMaxSchema = z.coerce.number().int().min(1).max(1000);

/**
 * Supabase's transaction pooler (Supavisor, port 6543) or a PgBouncer in transaction mode: each
 * statement may run on another server connection, so a session lock (the migrations') means
 * nothing there. The runtime needs none; migrations need a session.
 */
export function isTransactionPooler(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.port === "6543" || parsed.searchParams.get("pgbouncer") === "true";
  } catch {
    return false;
  }
}

const DEFAULT_DATA_DIR = ".data/";

/** A connection string without its password, fit for an error message. */
function redact(url: string): string {
  return url.replace(/\/\/.*@/, "//***@").replace(/(password=)[^&\s]*/gi, "$1***");
}

function checkDatabaseUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `DATABASE_URL '${redact(value)}' is not a URL. Set it to postgres://user:password@host:5432/database (percent-encode special characters in the password), or unset it to use the embedded database in DATA_DIR.`;
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    return `DATABASE_URL '${redact(value)}' is not a PostgreSQL URL: it starts with '${url.protocol}//'. Expected postgres://user:password@host:5432/database.${url.protocol.startsWith("http") ? " A Supabase project URL goes in SUPABASE_URL, with SUPABASE_SECRET_KEY." : ""}`;
  }
  if (!url.hostname && !url.searchParams.get("host")) {
    return `DATABASE_URL '${redact(value)}' names no host. Expected postgres://user:password@host:5432/database.`;
  }
  return undefined;
}

function checkSupabaseUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `SUPABASE_URL '${value}' is not a URL. Set it to the project URL, e.g. https://abcdefghijklmnop.supabase.co (Project Settings → Data API).`;
  }
  if (url.protocol === "postgres:" || url.protocol === "postgresql:") {
    return `SUPABASE_URL '${redact(value)}' is a database connection string. Put it in DATABASE_URL instead, or set SUPABASE_URL to the project URL, e.g. https://abcdefghijklmnop.supabase.co.`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return `SUPABASE_URL '${value}' is not an http(s) URL. Set it to the project URL, e.g. https://abcdefghijklmnop.supabase.co.`;
  }
  if (/\/(rest|auth)\/v1/.test(url.pathname)) {
    return `SUPABASE_URL '${value}' points into an API path. Set it to the project URL alone: ${url.origin}.`;
  }
  return undefined;
}

/**
 * Reads the store configuration: `DATABASE_URL` (PostgreSQL) first; else `SUPABASE_URL` with
 * `SUPABASE_SECRET_KEY`; else the embedded PGlite database in `DATA_DIR` (default `.data/`).
 * Throws one error that names every wrong variable and how to fix it.
 *
 * @example
 * storeConfig({ DATABASE_URL: "postgres://bot@db:5432/bisect" }); // { kind: "postgres", … }
 */
export function storeConfig(env: Record<string, string | undefined>): StoreConfig {
  const vars = envSchema.parse(env);
  const problems: string[] = [];
  let config: StoreConfig;
  if (vars.DATABASE_URL !== undefined) {
    const problem = checkDatabaseUrl(vars.DATABASE_URL);
    if (problem) problems.push(problem);
    if (vars.MIGRATION_DATABASE_URL !== undefined) {
      const bad = checkDatabaseUrl(vars.MIGRATION_DATABASE_URL);
      if (bad) problems.push(bad.replaceAll("DATABASE_URL", "MIGRATION_DATABASE_URL"));
      else if (isTransactionPooler(vars.MIGRATION_DATABASE_URL)) problems.push(transactionPoolerProblem("MIGRATION_DATABASE_URL", vars.MIGRATION_DATABASE_URL));
    }
    const poolMax = poolMaxSchema.safeParse(vars.DATABASE_POOL_MAX ?? DEFAULT_POOL_MAX);
    if (!poolMax.success)
      problems.push(
        `DATABASE_POOL_MAX '${vars.DATABASE_POOL_MAX ?? ""}' is not a number of connections from 1 to 1000. Unset it for ${DEFAULT_POOL_MAX}, or give each instance's share of the server's connections.`,
      );
    config = { kind: "postgres", databaseUrl: vars.DATABASE_URL, migrationUrl: vars.MIGRATION_DATABASE_URL, poolMax: poolMax.data ?? DEFAULT_POOL_MAX };
  } else if (vars.SUPABASE_URL !== undefined || vars.SUPABASE_SECRET_KEY !== undefined) {
    if (vars.SUPABASE_URL === undefined) {
      problems.push(
        "SUPABASE_SECRET_KEY is set but SUPABASE_URL is not. Set SUPABASE_URL to the project URL (https://<project-ref>.supabase.co), or unset SUPABASE_SECRET_KEY to use the embedded database in DATA_DIR.",
      );
    } else {
      const problem = checkSupabaseUrl(vars.SUPABASE_URL);
      if (problem) problems.push(problem);
    }
    if (vars.SUPABASE_SECRET_KEY === undefined) {
      problems.push(
        "SUPABASE_URL is set but SUPABASE_SECRET_KEY is not. Set SUPABASE_SECRET_KEY to the project's secret key (sb_secret_…, Project Settings → API Keys), or unset SUPABASE_URL to use the embedded database in DATA_DIR.",
      );
    }
    config = { kind: "supabase", url: vars.SUPABASE_URL ?? "", secretKey: vars.SUPABASE_SECRET_KEY ?? "" };
  } else {
    if (vars.NODE_ENV === "production")
      problems.push(
        "NODE_ENV is production, but neither DATABASE_URL nor SUPABASE_URL is set. The embedded database (PGlite in DATA_DIR) is for one process on one machine: instances started beside it would each keep their own jobs, and a restarted container loses them. Set DATABASE_URL to PostgreSQL (or SUPABASE_URL and SUPABASE_SECRET_KEY), or unset NODE_ENV to try the App alone.",
      );
    config = { kind: "pglite", dataDir: vars.DATA_DIR ?? DEFAULT_DATA_DIR };
  }
  if (problems.length > 0) throw new Error(`Invalid database configuration:\n- ${problems.join("\n- ")}`);
  return config;
}

/** Checks the connection first, so an unreachable server is reported as such, not as a failed migration. */
async function connect(client: SqlClient, where: string): Promise<void> {
  try {
    await client.query("select 1");
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new Error(`Cannot reach the database at ${where}: ${errorMessage(error)}`, { cause: error });
  }
}

function transactionPoolerProblem(variable: string, url: string): string {
  return `${variable} '${redact(url)}' is a transaction pooler (port 6543, or pgbouncer=true): migrations take a session lock, which does not hold there. Use the direct connection or Supabase's session pooler (port 5432) for migrations.`;
}

/** Closes `client` when `fn` fails. */
async function orClose<T>(client: SqlClient, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Makes the schema current before the runtime uses it: nothing is done when no migration is
 * pending (one read, fine through a transaction pooler). Otherwise the migrations run through
 * `MIGRATION_DATABASE_URL` when given, or the runtime connection unless that is a transaction
 * pooler, where the App refuses to start and says to run `migrate` first.
 */
async function ensureMigrated(runtime: SqlClient, config: Extract<StoreConfig, { kind: "postgres" }>, dir: string): Promise<void> {
  const pending = await pendingMigrations(runtime, dir);
  if (pending.length === 0) return;
  if (config.migrationUrl !== undefined) {
    await migrateThrough(config.migrationUrl, "MIGRATION_DATABASE_URL", dir);
    return;
  }
  if (isTransactionPooler(config.databaseUrl)) {
    throw new Error(
      `The database at DATABASE_URL '${redact(config.databaseUrl)}' lacks ${pending.length} migration(s) (${pending.join(", ")}), and DATABASE_URL is a transaction pooler, where migrations cannot run. Run the image with the argument 'migrate' (or 'supabase db push') first, or set MIGRATION_DATABASE_URL to a direct or session connection.`,
    );
  }
  await migrate(runtime, dir);
}

/** Applies the migrations through a connection of their own to `url` (named `variable` in errors), then closes it. */
async function migrateThrough(url: string, variable: string, dir: string): Promise<string[]> {
  const session = pgClient(url, { max: 1 });
  await connect(session, `${variable} '${redact(url)}'`);
  const applied = await orClose(session, () => migrate(session, dir));
  await session.close();
  return applied;
}

/** A connection string's host, port and database, for a log line. */
function describeUrl(url: string): string {
  return redact(url).replace(/\?.*$/, "");
}

/**
 * Opens the store the environment asks for (see {@link storeConfig}). PostgreSQL and PGlite are
 * migrated before this returns; a Supabase project gets its migrations from `supabase db push`.
 * The PGlite files live in `<DATA_DIR>/pglite`, which is created if missing; only one process
 * may open them at a time.
 *
 * @example
 * const store = await openStore(process.env);
 * process.once("SIGTERM", () => void store.close());
 */
export async function openStore(env: Record<string, string | undefined> = process.env): Promise<Store> {
  const config = storeConfig(env);
  const dir = envSchema.parse(env).MIGRATIONS_DIR ?? MIGRATIONS_DIR;
  switch (config.kind) {
    case "postgres": {
      // Behind Supabase's transaction pooler (or PgBouncer) statements are not prepared.
      const client = pgClient(config.databaseUrl, { max: config.poolMax, prepare: !isTransactionPooler(config.databaseUrl) });
      await connect(client, `DATABASE_URL '${redact(config.databaseUrl)}'`);
      await orClose(client, () => ensureMigrated(client, config, dir));
      return new Store(sqlTransport(client), `PostgreSQL at ${describeUrl(config.databaseUrl)} (${config.poolMax} connections at most)`);
    }
    case "supabase": {
      // Loaded only when configured: supabase-js is large, and the other stores never need it.
      const { postgrestTransport } = await import("./postgrest-transport.js");
      return new Store(postgrestTransport(config.url, config.secretKey), `Supabase at ${config.url} (through its Data API)`);
    }
    case "pglite": {
      const dataDir = join(resolve(config.dataDir), "pglite");
      try {
        await mkdir(dataDir, { recursive: true });
      } catch (error) {
        throw new Error(
          `Cannot create the database directory ${dataDir} (DATA_DIR '${config.dataDir}'): ${errorMessage(error)}. Set DATA_DIR to a writable directory.`,
          { cause: error },
        );
      }
      const client = await pgliteClient(dataDir);
      await orClose(client, () => migrate(client, dir));
      return new Store(sqlTransport(client), `the embedded PGlite database in ${dataDir} (one process only)`);
    }
  }
}

/**
 * `migrate` (the image's argument): applies the pending migrations through
 * `MIGRATION_DATABASE_URL`, else `DATABASE_URL`, and closes. A Supabase project without either
 * gets its migrations from `supabase db push`; both keep one history.
 */
export async function migrateDatabase(env: Record<string, string | undefined> = process.env): Promise<{ where: string; applied: string[] }> {
  const vars = envSchema.parse(env);
  const url = vars.MIGRATION_DATABASE_URL ?? vars.DATABASE_URL;
  const variable = vars.MIGRATION_DATABASE_URL !== undefined ? "MIGRATION_DATABASE_URL" : "DATABASE_URL";
  if (url === undefined) {
    throw new Error(
      "Nothing to migrate: set MIGRATION_DATABASE_URL (or DATABASE_URL) to the database, postgres://user:password@host:5432/database. For a Supabase project, give its direct connection or session pooler (port 5432), or run 'supabase db push'.",
    );
  }
  const problem = checkDatabaseUrl(url);
  if (problem) throw new Error(problem.replaceAll("DATABASE_URL", variable));
  if (isTransactionPooler(url)) throw new Error(transactionPoolerProblem(variable, url));
  return { where: describeUrl(url), applied: await migrateThrough(url, variable, vars.MIGRATIONS_DIR ?? MIGRATIONS_DIR) };
}
