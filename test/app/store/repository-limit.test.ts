/**
 * MAX_CONCURRENT_JOBS under contention: many workers claiming at once through the Store on a real
 * PostgreSQL never put more than the limit of one repository's jobs in flight, and the waiting
 * jobs all get their turn. (Claims of the same repository take turns through a per-repository
 * transaction lock.)
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { sqlTransport } from "../../../app/src/store/sql-transport.js";
import { Store } from "../../../app/src/store/store.js";
import { newJob } from "../../support/jobs.js";
import { openTestDatabase, stopTestPostgres, type TestDatabase } from "../../support/postgres.js";

let db: TestDatabase;
let store: Store;
beforeAll(async () => {
  db = await openTestDatabase("postgres", { poolSize: 24 });
  store = new Store(sqlTransport(db.client));
});
afterAll(async () => {
  await db?.close();
  await stopTestPostgres();
});

const MAX_ACTIVE = 2;
const sha = (n: number) => n.toString(16).padStart(40, "0");

it("keeps at most MAX_CONCURRENT_JOBS per repository in flight while 16 workers claim together", async () => {
  const { client } = db;
  for (let i = 0; i < 60; i++) {
    const repo = i % 3; // three repositories, twenty jobs each
    await store.call(
      "createJob",
      newJob({
        deliveryId: `delivery-${i}`,
        repository: `org/repo-${repo}`,
        repositoryId: repo + 1,
        installationId: null,
        issueNumber: 1,
        commentId: i + 1,
        goodShas: [sha(1)],
        badSha: sha(2),
      }),
    );
  }

  let worst = 0;
  const worker = async (name: string) => {
    for (let idle = 0; idle < 50;) {
      const claimed = await store.call("claimJobs", { worker: name, limit: 2, leaseSeconds: 60, maxActive: MAX_ACTIVE });
      if (claimed.length === 0) {
        idle++;
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      for (const job of claimed) {
        const { rows: active } = await client.query<{ n: number }>(
          "select count(*)::int as n from public.bisect_jobs where repository_id = $1 and state in ('dispatching', 'dispatched', 'running')",
          [job.repository_id],
        );
        worst = Math.max(worst, active[0]!.n);
        await new Promise((r) => setTimeout(r, 2)); // the work a dispatch takes
        const done = await store.call("recordResult", {
          jobId: job.id,
          token: job.token,
          verdict: "culprit",
          reason: null,
          culpritSha: null,
          confidence: 1,
          tested: 1,
          rounds: 1,
          error: null,
          probes: [],
        });
        expect(done).toBe(true);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => worker(`w${i}`)));

  expect(worst).toBeGreaterThan(0);
  expect(worst).toBeLessThanOrEqual(MAX_ACTIVE);
  const { rows } = await client.query<{ state: string; n: number }>("select state, count(*)::int as n from public.bisect_jobs group by state");
  expect(rows).toEqual([{ state: "succeeded", n: 60 }]);
});
