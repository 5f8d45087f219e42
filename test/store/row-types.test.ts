/**
 * The row type is written once, in TypeScript (jobRowSchema); the table is written once, in the
 * migrations. This test reads the table migrate() builds (PGlite) and checks that the two agree
 * on every column: its name, whether it may be null, its kind of value, and the states and
 * verdicts the check constraints allow. A column added on one side only fails here.
 */
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlClient } from "../../app/src/store/sql-client.js";
import { SqlStore } from "../../app/src/store/sql-store.js";
import { jobRowSchema } from "../../app/src/store/store.js";
import { openTestDatabase } from "../support/postgres.js";

interface Column extends Record<string, unknown> {
  column_name: string;
  is_nullable: "YES" | "NO";
  data_type: string;
  udt_name: string;
}

const fields: Record<string, z.ZodType> = jobRowSchema.shape;

/** Values of each column type as pg (bigint as text) and PGlite (bigint as number) hand them over, and what the row type must make of them. */
const samples: Record<string, { given: unknown[]; expected: (value: unknown) => void }> = {
  bigint: { given: ["21474836470", 21474836470, 21474836470n], expected: (v) => expect(v).toBe(21474836470) },
  integer: { given: [42], expected: (v) => expect(v).toBe(42) },
  "double precision": { given: [0.97], expected: (v) => expect(v).toBe(0.97) },
  text: { given: ["text"], expected: (v) => expect(v).toBe("text") },
  "timestamp with time zone": { given: [new Date("2026-11-28T09:00:00Z")], expected: (v) => expect(v).toEqual(new Date("2026-11-28T09:00:00Z")) },
  "ARRAY:_text": { given: [["v1.4", "v1.5"]], expected: (v) => expect(v).toEqual(["v1.4", "v1.5"]) },
  jsonb: { given: [{ flaky: true, confidence: 0.99 }], expected: (v) => expect(v).toEqual({ flaky: true, confidence: 0.99 }) },
};

/** Text columns whose values a check constraint lists: the row type must list the same. */
const enumColumns = ["state", "verdict"];

let client: SqlClient;
let columns: Column[];
beforeAll(async () => {
  client = (await openTestDatabase("pglite")).client;
  columns = (
    await client.query<Column>(
      "select column_name, is_nullable, data_type, udt_name from information_schema.columns " +
        "where table_schema = 'public' and table_name = 'bisect_jobs' order by ordinal_position",
    )
  ).rows;
});
afterAll(() => client.close());

describe("jobRowSchema and public.bisect_jobs", () => {
  it("have the same columns", () => {
    expect(columns.length).toBeGreaterThan(0);
    expect(Object.keys(fields).sort()).toEqual(columns.map((c) => c.column_name).sort());
  });

  it("agree on which columns may be null", () => {
    // Null must come back as null: z.coerce turns it into 0 or 1970-01-01, which is not "nullable".
    const nullable = (name: string) => {
      const parsed = fields[name]?.safeParse(null);
      return parsed?.success === true && parsed.data === null;
    };
    expect(Object.fromEntries(columns.map((c) => [c.column_name, nullable(c.column_name)]))).toEqual(
      Object.fromEntries(columns.map((c) => [c.column_name, c.is_nullable === "YES"])),
    );
  });

  it("read each column's values as the driver hands them over", () => {
    for (const column of columns.filter((c) => !enumColumns.includes(c.column_name))) {
      const kind = column.data_type === "ARRAY" ? `ARRAY:${column.udt_name}` : column.data_type;
      const sample = samples[kind];
      expect(sample, `no sample for column ${column.column_name} of type ${kind}: add one`).toBeDefined();
      for (const value of sample!.given) {
        const parsed = fields[column.column_name]!.safeParse(value);
        expect(parsed.success, `${column.column_name} (${kind}) refuses ${String(value)}`).toBe(true);
        sample!.expected(parsed.data);
      }
    }
  });

  it("allow the same states and verdicts", async () => {
    const { rows } = await client.query<{ definition: string }>(
      "select pg_get_constraintdef(oid) as definition from pg_constraint where conrelid = 'public.bisect_jobs'::regclass and contype = 'c'",
    );
    for (const name of enumColumns) {
      const definition = rows.map((r) => r.definition).find((d) => new RegExp(`\\(${name} = ANY`).test(d));
      expect(definition, `no check constraint lists the values of ${name}`).toBeDefined();
      const allowed = [...definition!.matchAll(/'([^']*)'::text/g)].map((m) => m[1]);
      const field = fields[name] as z.ZodNullable<z.ZodEnum> | z.ZodEnum;
      const options = (field instanceof z.ZodNullable ? (field.unwrap() as z.ZodEnum) : field).options;
      expect([...options].sort(), name).toEqual(allowed.sort());
    }
  });

  it("parse a row read back, fresh and finished, with no column left over", async () => {
    const store = new SqlStore(client);
    const strict = z.strictObject(jobRowSchema.shape);
    const { jobId } = await store.createJob({
      deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      repository: "octo-org/widgets",
      repositoryId: 5_000_000_001,
      installationId: null,
      issueNumber: 7,
      commentId: 3_000_000_001,
      requester: "octocat",
      goodRefs: ["v1.4"],
      badRef: "main",
      goodShas: ["a".repeat(40)],
      badSha: "f".repeat(40),
      command: "npm test",
      options: {},
      maxAttempts: 3,
    });
    const read = async () => (await client.query("select * from public.bisect_jobs where id = $1", [jobId])).rows[0];
    expect(strict.parse(await read())).toMatchObject({ id: jobId, state: "queued", verdict: null, installation_id: null });

    const [claimed] = await store.claimJobs("worker-a", 1, 30, 4);
    await store.recordDispatch(jobId, claimed!.token, 21_474_836_470, "https://github.com/octo-org/widgets/actions/runs/21474836470", 0);
    const [again] = await store.claimJobs("worker-a", 1, 30, 4);
    await store.recordResult(jobId, again!.token, { verdict: "culprit", culpritSha: "c".repeat(40), confidence: 0.995, tested: 5, rounds: 4, error: null, probes: [] });
    expect(strict.parse(await read())).toMatchObject({ state: "succeeded", verdict: "culprit", run_id: 21_474_836_470, confidence: 0.995 });
  });
});
