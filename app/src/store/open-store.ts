import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { migrate } from "./migrate.js";
import { pgClient, pgliteClient, type SqlClient } from "./sql-client.js";
import { sqlTransport } from "./sql-transport.js";
import { Store } from "./store.js";
import { errorMessage } from "../../../action/src/error-message.js";

/** Which database the app uses, from its environment. */
export type StoreConfig =
  { kind: "postgres"; databaseUrl: string } | { kind: "supabase"; url: string; secretKey: string } | { kind: "pglite"; dataDir: string };

/** An empty variable (`DATABASE_URL=` in a .env file) counts as unset. */
const optional = z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), z.string().trim().optional());

const envSchema = z.object({
  DATABASE_URL: optional,
  SUPABASE_URL: optional,
  SUPABASE_SECRET_KEY: optional,
  DATA_DIR: optional,
});

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
    config = { kind: "postgres", databaseUrl: vars.DATABASE_URL };
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

async function migrated(client: SqlClient): Promise<Store> {
  try {
    await migrate(client);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
  return new Store(sqlTransport(client));
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
  switch (config.kind) {
    case "postgres": {
      const client = pgClient(config.databaseUrl);
      await connect(client, `DATABASE_URL '${redact(config.databaseUrl)}'`);
      return migrated(client);
    }
    case "supabase": {
      // Loaded only when configured: supabase-js is large, and the other stores never need it.
      const { postgrestTransport } = await import("./postgrest-transport.js");
      return new Store(postgrestTransport(config.url, config.secretKey));
    }
    case "pglite": {
      const dir = join(resolve(config.dataDir), "pglite");
      try {
        await mkdir(dir, { recursive: true });
      } catch (error) {
        throw new Error(
          `Cannot create the database directory ${dir} (DATA_DIR '${config.dataDir}'): ${errorMessage(error)}. Set DATA_DIR to a writable directory.`,
          {
            cause: error,
          },
        );
      }
      return migrated(await pgliteClient(dir));
    }
  }
}
