/**
 * Test support: the Store on each of its transports, over a fresh migrated database — SQL on
 * PGlite, SQL on the real PostgreSQL server, and PostgREST (supabase-js against the PostgREST
 * double, test/support/postgrest-double.ts) on that same server. Tests that must hold for every
 * transport run `describe.each(TRANSPORTS)`.
 */
import type { SqlClient } from "../../app/src/store/sql-client.js";
import { postgrestTransport } from "../../app/src/store/postgrest-transport.js";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store } from "../../app/src/store/store.js";
import { openTestDatabase } from "./postgres.js";
import { startPostgrestDouble, type PostgrestDouble } from "./postgrest-double.js";

export const TRANSPORTS = ["pglite", "postgres", "postgrest"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** Supabase's secret key, as the App is given it. */
export const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
/** Supabase's publishable key: runs as anon, which every function refuses. */
export const PUBLISHABLE_KEY = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";

export interface TestStore {
  transport: TransportName;
  store: Store;
  /** The database itself, as its owner: for back-dating leases, reading tables, emptying them. */
  admin: SqlClient;
  /** The PostgREST double, for the postgrest transport. */
  double: PostgrestDouble | undefined;
  /** Ends every lease now, as if its worker had died. */
  expireLeases(): Promise<void>;
  /** Empties every table. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The whole row as JSON text: equal before and after means the call changed nothing. */
export async function snapshot(admin: SqlClient, table: "bisect_jobs" | "bisect_tasks", id: number): Promise<string> {
  const { rows } = await admin.query<{ row: string }>(`select to_jsonb(t)::text as row from public.${table} t where id = $1`, [id]);
  if (rows.length !== 1) throw new Error(`public.${table} has no row ${id}`);
  return rows[0]!.row;
}

/** One integer a query answers (`select count(*) …`), as a number. */
export async function count(admin: SqlClient, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(`select (${sql})::int as n`, params);
  return rows[0]!.n;
}

/** A Store on `transport` over a fresh migrated database. */
export async function openTestStore(transport: TransportName, options: { poolSize?: number } = {}): Promise<TestStore> {
  const db = await openTestDatabase(transport === "pglite" ? "pglite" : "postgres", options);
  let double: PostgrestDouble | undefined;
  let store: Store;
  if (transport === "postgrest") {
    double = await startPostgrestDouble({
      databaseUrl: db.url!,
      secretKey: SECRET_KEY,
      publishableKey: PUBLISHABLE_KEY,
      ...(options.poolSize ? { poolSize: options.poolSize } : {}),
    });
    store = new Store(postgrestTransport(double.url, SECRET_KEY));
  } else {
    store = new Store(sqlTransport(db.client));
  }
  return {
    transport,
    store,
    admin: db.client,
    double,
    expireLeases: async () => {
      for (const table of ["bisect_jobs", "bisect_tasks"]) {
        await db.client.exec(`update public.${table} set lease_expires_at = now() - interval '1 minute' where lease_expires_at is not null`);
      }
    },
    reset: () =>
      db.client.exec(
        "truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_job_graphs, public.bisect_auto_triggers, public.bisect_flake_rates, public.bisect_claim_audit, public.bisect_tasks restart identity",
      ),
    close: async () => {
      // The SQL transports close the database with the store; PostgREST's holds no connection.
      await store.close();
      await double?.close();
      if (transport === "postgrest") await db.close();
    },
  };
}
