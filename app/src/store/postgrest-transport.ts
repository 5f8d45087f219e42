import { createClient, type SupabaseClientOptions } from "@supabase/supabase-js";
import type { Transport } from "./store.js";

type WebSocketConstructor = NonNullable<NonNullable<SupabaseClientOptions<"public">["realtime"]>["transport"]>;

/**
 * supabase-js 2.109 builds a Realtime client inside createClient, and on Node 20 (no global
 * WebSocket) that throws unless a WebSocket class is given. The store never opens a channel, so
 * it gives one that refuses to be used rather than adding the `ws` package.
 */
// eslint-disable-next-line @typescript-eslint/consistent-type-assertions -- a class that can never be made has no WebSocket instance to type
const NO_REALTIME = class {
  constructor() {
    throw new Error("The Supabase store does not use Realtime: no WebSocket transport is configured.");
  }
} as unknown as WebSocketConstructor;

/** supabase-js puts a failed fetch's stack in `details`; an error message needs only its causes. */
function withoutStack(details: string): string {
  return details
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^\s+at /.test(line))
    .join(" ");
}

/**
 * The Store's transport over a Supabase project: each call is one `.rpc()` (PostgREST's
 * `POST /rest/v1/rpc/<fn>` with named arguments). The secret key bypasses row level security and
 * must stay on the server; it never appears in an error this throws. The migrations reach the
 * project through `supabase db push`.
 *
 * @example
 * const store = new Store(postgrestTransport(process.env.SUPABASE_URL, process.env.SUPABASE_SECRET_KEY));
 */
export function postgrestTransport(url: string, secretKey: string): Transport {
  const origin = new URL(url).origin;
  // A server holds no user session: nothing to persist, refresh or read from a URL.
  const client = createClient(url, secretKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: NO_REALTIME },
  });
  return {
    async call(name, args) {
      // PostgREST answers an array of rows for set-returning and table functions, a bare JSON
      // value for the others: what the Store's declarations read either way.
      const response = await client.rpc(name, Object.fromEntries(args.map((a) => [a.name, a.value])));
      const { error, status } = response;
      // What it answered is unknown until the Store's declaration parses it.
      const data: unknown = response.data;
      if (!error) return data;
      // PostgREST's error body (code, message, details, hint), the gateway's, or supabase-js's
      // own for a failed fetch: none carries the request's headers, so the key never shows.
      if (status === 0) {
        throw new Error(`Supabase rpc ${name} could not reach ${origin}: ${withoutStack(error.details) || error.message}. Check SUPABASE_URL.`, {
          cause: error,
        });
      }
      const code = error.code ? ` [${error.code}]` : "";
      const details = error.details ? ` (${withoutStack(error.details)})` : "";
      const hint = error.hint ? ` Hint: ${error.hint}` : "";
      const keyHint = status === 401 ? " Check SUPABASE_SECRET_KEY: it must be the project's secret key (sb_secret_…) or its legacy service_role key." : "";
      throw new Error(`Supabase rpc ${name} failed with HTTP ${status}${code}: ${error.message}${details}.${hint}${keyHint}`, { cause: error });
    },
    // supabase-js holds no connection between calls (HTTP); only Realtime channels would need closing.
    close: async () => {
      await client.removeAllChannels();
    },
  };
}
