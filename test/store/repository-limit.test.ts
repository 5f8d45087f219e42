/**
 * MAX_CONCURRENT_JOBS under contention: many workers claiming at once on a real PostgreSQL never
 * put more than the limit of one repository's jobs in flight, and the waiting jobs all get their
 * turn. (Claims of the same repository take turns through a per-repository transaction lock.)
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { openTestDatabase, type TestDatabase } from "../support/postgres.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase("postgres", { poolSize: 24 });
});
afterAll(() => db.close());

const MAX_ACTIVE = 2;
const sha = (n: number) => n.toString(16).padStart(40, "0");

it("keeps at most MAX_CONCURRENT_JOBS per repository in flight while 16 workers claim together", async () => {
  const { client } = db;
  for (let i = 0; i < 60; i++) {
    const repo = i % 3; // three repositories, twenty jobs each
    await client.query(
      "select * from public.bisect_create_job($1, $2, $3, null, 1, $4, 'mona', array['v1'], 'main', array[$5], $6, 'npm test', '{}'::jsonb, 3)",
      [`delivery-${i}`, `org/repo-${repo}`, repo + 1, i + 1, sha(1), sha(2)],
    );
  }

  let worst = 0;
  const worker = async (name: string) => {
    for (let idle = 0; idle < 50; ) {
      const { rows } = await client.query<{ id: string; lease_token: string; repository_id: string }>(
        "select id, lease_token, repository_id from public.bisect_claim_jobs($1, 2, 60, $2)",
        [name, MAX_ACTIVE],
      );
      if (rows.length === 0) {
        idle++;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      for (const job of rows) {
        const { rows: active } = await client.query<{ n: number }>(
          "select count(*)::int as n from public.bisect_jobs where repository_id = $1 and state in ('dispatching', 'dispatched', 'running')",
          [job.repository_id],
        );
        worst = Math.max(worst, active[0]!.n);
        await new Promise((r) => setTimeout(r, 2)); // the work a dispatch takes
        const done = await client.query<{ ok: boolean }>(
          "select public.bisect_record_result($1, $2, 'culprit', null, 1, 1, 1, null, '[]'::jsonb) as ok",
          [job.id, job.lease_token],
        );
        expect(done.rows[0]!.ok).toBe(true);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => worker(`w${i}`)));

  expect(worst).toBeGreaterThan(0);
  expect(worst).toBeLessThanOrEqual(MAX_ACTIVE);
  const { rows } = await client.query<{ state: string; n: number }>("select state, count(*)::int as n from public.bisect_jobs group by state");
  expect(rows).toEqual([{ state: "succeeded", n: 60 }]);
});
