import type { SqlClient } from "./sql-client.js";
import type { Transport } from "./store.js";

/**
 * The Store's transport over PostgreSQL or PGlite: each call is one statement,
 * `select * from public.<fn>(p_a => $1::type, …)` for functions answering rows and
 * `select public.<fn>(…) as value` for the others. Named arguments: a wrong name fails loudly
 * instead of shifting every argument after it. Each call's text is the same every time, so it is
 * sent as a named statement (prepared once per connection where the client keeps them).
 */
export function sqlTransport(client: SqlClient): Transport {
  return {
    async call(name, args, returns) {
      // jsonb goes as JSON text: pg would send a JS array as a PostgreSQL array.
      const params = args.map((a) => (a.pg === "jsonb" && a.value !== null ? JSON.stringify(a.value) : a.value));
      const invocation = `public.${name}(${args.map((a, i) => `${a.name} => $${i + 1}::${a.pg}`).join(", ")})`;
      // The text of a function's call never changes: named, it is parsed and planned once per connection.
      if (returns === "rows") return (await client.query(`select * from ${invocation}`, params, `${name}:rows`)).rows;
      const [row] = (await client.query<{ value: unknown }>(`select ${invocation} as value`, params, `${name}:value`)).rows;
      return row?.value;
    },
    close: () => client.close(),
    ...(client.poolStats ? { poolStats: client.poolStats } : {}),
  };
}
