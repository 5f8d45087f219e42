/**
 * PostgreSQL restarted under load (reliability test 17). The App runs as in production (worker
 * loop and webhook recovery loop started, small intervals) on a PostgreSQL server of its own —
 * the run's shared server must not go down under other test files — and `/bisect` comments
 * arrive through the GitHub double at a steady rate while the server is stopped and started
 * again. Webhooks answered during the outage must be 5xx (never a 2xx for a comment that was not
 * stored); the App must not crash, its worker must resume, and once the recovery loop has had
 * GitHub redeliver the failed deliveries, every comment must have made exactly one command and
 * one job, dispatched once.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../app/src/server.js";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import { APP_ID, appEnv, appKeys, FastRetryOctokit, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET } from "../support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble, type HookDeliveryRecord } from "../support/github-double/index.js";
import { startPostgres, type OwnPostgresServer } from "../support/postgres.js";
import { issueCommentPayload } from "../support/webhooks.js";

const FULL = `${OWNER}/${REPO}`;
/** Comments in all, one every STEP_MS; the server goes down after DOWN_AFTER of them and comes back OUTAGE later. */
const TOTAL = 24;
const STEP_MS = 120;
const DOWN_AFTER = 6;
const OUTAGE = 12;

let postgres: OwnPostgresServer;
let double: GitHubDouble;
let repo: AppRepo;
let server: RunningServer;
let db: SqlClient;

beforeAll(async () => {
  postgres = await startPostgres({ maxConnections: 50 });
  const url = await postgres.createDatabase("restart");
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  repo = await makeAppRepo();
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");
  // Leases of work cut short by the outage end within seconds; each job writes three times (👀, its comment, its dispatch).
  const env = appEnv(double, {
    DATABASE_URL: url,
    WORKER_POLL_MS: "100",
    LEASE_SECONDS: "3",
    REDELIVERY_INTERVAL_SECONDS: "1",
    MAX_CONCURRENT_JOBS: "256",
    GITHUB_WRITES_PER_MINUTE: "1000",
  });
  server = await startServer(env, { Octokit: FastRetryOctokit });
  db = pgClient(url, { max: 2 });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
  await double?.close();
  await postgres?.stop();
  if (repo) await removeDir(repo.dir);
});

let nextComment = 7_200_000_000;

/** A `/bisect` comment on an issue of its own, through the double as GitHub sends it. */
function sendComment(issueNumber: number): Promise<{ commentId: number; delivery: HookDeliveryRecord }> {
  const commentId = ++nextComment;
  const body = "/bisect v1.0..main -- npm test";
  double.addComment(FULL, issueNumber, { body, user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber,
    login: "maintainer",
    commentId,
    body,
  });
  const url = `${server.url}/api/github/webhooks`;
  return double.deliverWebhook(url, WEBHOOK_SECRET, { event: "issue_comment", payload, guid: randomUUID() }).then((delivery) => ({ commentId, delivery }));
}

/** Per comment: its command tasks and its jobs, and which jobs are dispatched. */
async function progress(commentIds: number[]) {
  const { rows } = await db.query<{ comment_id: string; commands: number; jobs: number; dispatched: number }>(
    `select c.id as comment_id,
       (select count(*)::int from public.bisect_tasks t where t.kind = 'command' and t.comment_id = c.id) as commands,
       (select count(*)::int from public.bisect_jobs j where j.comment_id = c.id) as jobs,
       (select count(*)::int from public.bisect_jobs j where j.comment_id = c.id and j.run_id is not null) as dispatched
     from unnest($1::bigint[]) as c(id)`,
    [commentIds.map(String)],
  );
  return rows;
}

it("survives a PostgreSQL restart under load: 5xx during the outage, then every comment makes one command and one job", async () => {
  const sends: Promise<{ commentId: number; delivery: HookDeliveryRecord }>[] = [];
  let down = { from: 0, to: 0 };
  for (let i = 0; i < TOTAL; i++) {
    if (i === DOWN_AFTER) {
      await postgres.down();
      down = { from: Date.now(), to: Number.POSITIVE_INFINITY };
    }
    if (i === DOWN_AFTER + OUTAGE) {
      down.to = Date.now();
      await postgres.up();
    }
    sends.push(sendComment(3000 + i));
    await sleep(STEP_MS);
  }
  const sent = await Promise.all(sends);

  // Answered while the server was down: 5xx, every one; none claimed success.
  const duringOutage = sent.filter(({ delivery: d }) => d.deliveredAt >= down.from && d.deliveredAt + d.durationMs <= down.to);
  expect(duringOutage.length).toBeGreaterThanOrEqual(OUTAGE / 2);
  for (const { delivery } of duringOutage) expect(delivery.statusCode, delivery.responseBody).toBeGreaterThanOrEqual(500);

  // The recovery loop has the failed ones redelivered; the worker turns every command into a job and dispatches it.
  const ids = sent.map((s) => s.commentId);
  for (let i = 0; i < 300; i++) {
    const rows = await progress(ids);
    if (rows.every((r) => r.commands >= 1 && r.jobs >= 1 && r.dispatched >= 1)) break;
    await sleep(100);
  }
  await double.webhooks.idle();
  await server.app.worker!.idle();

  const rows = await progress(ids);
  expect(rows.map((r) => [r.commands, r.jobs, r.dispatched])).toEqual(ids.map(() => [1, 1, 1]));
  // Dispatched once each: nothing doubled.
  const dispatchedJobs = double.dispatches.filter((d) => d.status < 300).map((d) => d.inputs.job_id);
  expect(new Set(dispatchedJobs).size).toBe(TOTAL);
  expect(dispatchedJobs).toHaveLength(TOTAL);

  // Only failed deliveries were redelivered, and each failed guid has exactly one success.
  for (const { delivery } of sent) {
    const attempts = double.webhooks.deliveries.filter((d) => d.guid === delivery.guid);
    const ok = attempts.filter((d) => d.statusCode >= 200 && d.statusCode < 300);
    expect(ok, delivery.guid).toHaveLength(1);
    if (delivery.statusCode === 200) expect(attempts).toHaveLength(1);
  }
  expect(sent.filter((s) => s.delivery.statusCode >= 500).length).toBeGreaterThanOrEqual(duringOutage.length);

  // The process lived through it: the worker loop ticks again and the App reports healthy.
  expect(server.app.worker!.alive).toBe(true);
  expect(server.app.worker!.counters.errors).toBeGreaterThan(0);
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
  expect(double.violations).toEqual([]);
});
