/**
 * §6 test 9 (docs: research/reliability-security.md): SIGTERM to an App instance (`npm start`'s
 * entry, a real process, real PostgreSQL) while commands, replies and jobs are in flight, each
 * stuck in a GitHub call that does not answer. Readiness fails at once, webhooks are still stored
 * while it drains; the instance gives
 * everything back (no lease left, no attempt counted) and exits; a second instance then does all
 * of it, each thing once: one job or one reply per comment, each reply posted once, each job
 * dispatched once — also the job whose dispatch GitHub had already accepted when the first
 * instance stopped waiting for the answer.
 *
 * The GitHub calls are held open by a gate between the App and the GitHub double: a request it
 * holds either never reaches the double, or reaches it and its answer never comes back.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { appEnv, appKeys, APP_ID, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET } from "../support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { startGate, type Gate } from "../support/app-instances.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import { openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

interface Instance {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `app/src/main.ts` (what `npm start` runs) and waits for its "listening" line. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", "tsx", "app/src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1]!, output: () => output, exited });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`the App exited with ${code}:\n${output}`)));
  });
}

async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const DISPATCH = /^\/api\/v3\/repos\/[^/]+\/[^/]+\/actions\/workflows\/[^/]+\/dispatches$/;
const PERMISSION = /^\/api\/v3\/repos\/[^/]+\/[^/]+\/collaborators\/[^/]+\/permission$/;
const NEW_COMMENT = /^\/api\/v3\/repos\/[^/]+\/[^/]+\/issues\/\d+\/comments$/;

/**
 * One thread per comment, each in its own repository and installation: Octokit paces writes per
 * installation (one a second, comments one per 3 s), and one installation would make the second
 * instance's work wait on that pacing rather than on anything under test.
 */
interface Thread {
  repo: string;
  repositoryId: number;
  installationId: number;
  issueNumber: number;
  commentId: number;
}
const thread = (n: number): Thread => ({
  repo: `${REPO}-${n}`,
  repositoryId: REPOSITORY_ID + n,
  installationId: INSTALLATION_ID + n,
  issueNumber: 40 + n,
  commentId: 3_200_000_000 + n,
});
const JOBS = [1, 2, 3].map(thread);
const COMMANDS = [4, 5, 6].map(thread);
const REPLIES = [7, 8, 9].map(thread);
/** A comment that arrives while the first instance drains: stored, and answered by the second. */
const LATE: Thread = { ...REPLIES[0]!, issueNumber: REPLIES[0]!.issueNumber + 100, commentId: 3_200_000_099 };
const appComments = (t: Thread) => double.comments(`${OWNER}/${t.repo}`, t.issueNumber).filter((c) => c.user.endsWith("[bot]"));

let double: GitHubDouble;
let repo: AppRepo;
let db: TestDatabase;
let gate: Gate;
const instances: Instance[] = [];
/** Whether the gate holds commands in their first GitHub call (the collaborator permission). */
let holdCommands = false;
/** Whether the gate holds anything at all (the second instance gets GitHub as it is). */
let gateOpen = false;
let dispatchesSeen = 0;

beforeAll(async () => {
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  repo = await makeAppRepo();
  for (const t of [...JOBS, ...COMMANDS, ...REPLIES]) {
    double.addRepository({ owner: OWNER, name: t.repo, id: t.repositoryId, path: repo.dir, defaultBranch: "main", installationId: t.installationId });
    double.setPermission(`${OWNER}/${t.repo}`, "maintainer", "write");
  }
  db = await openTestDatabase("postgres");
  gate = await startGate(double.url, (method, path) => {
    if (gateOpen) return null;
    // The first dispatch reaches GitHub and its answer is lost; the others never get there.
    if (method === "POST" && DISPATCH.test(path)) return { hold: "dispatch", answered: dispatchesSeen++ === 0 };
    if (method === "GET" && PERMISSION.test(path) && holdCommands) return { hold: "command", answered: false };
    // Only replies post new comments here: the jobs never get past their dispatch.
    if (method === "POST" && NEW_COMMENT.test(path)) return { hold: "reply", answered: false };
    return null;
  });
}, 60_000);

afterAll(async () => {
  for (const i of instances) i.child.kill("SIGKILL");
  await gate?.close();
  await db?.close();
  await double?.close();
  if (repo) await removeDir(repo.dir);
  await stopTestPostgres();
});

function comment(instance: Instance, t: Thread, body: string) {
  double.addComment(`${OWNER}/${t.repo}`, t.issueNumber, { body, user: "maintainer", id: t.commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: t.repo,
    repositoryId: t.repositoryId,
    installationId: t.installationId,
    issueNumber: t.issueNumber,
    login: "maintainer",
    commentId: t.commentId,
    body,
  });
  return deliver(`${instance.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload });
}

async function count(sql: string): Promise<number> {
  return (await db.client.query<{ n: number }>(sql)).rows[0]!.n;
}

it("SIGTERM with commands, replies and jobs in flight: readiness fails at once, all is released uncounted, and another instance does each thing once", async () => {
  const env = appEnv(double, { DATABASE_URL: db.url!, GHE_HOST: gate.host, WORKER_POLL_MS: "50", WORKER_CONCURRENCY: "20", MAX_CONCURRENT_JOBS: "10" });
  const first = await startInstance(env);
  instances.push(first);

  // Jobs first (their commands pass), each stuck in its dispatch; then commands stuck in their
  // permission check, and replies stuck in posting.
  for (const t of JOBS) expect((await comment(first, t, "/bisect v1.0..main -- npm test")).status).toBe(200);
  await until("three dispatches are held", () => gate.held("dispatch") === JOBS.length);
  holdCommands = true;
  for (const t of COMMANDS) expect((await comment(first, t, "/bisect v1.0..main -- npm test")).status).toBe(200);
  for (const t of REPLIES) expect((await comment(first, t, "/bisect help")).status).toBe(200);
  await until("commands and replies are held", () => gate.held("command") === COMMANDS.length && gate.held("reply") === REPLIES.length);
  expect(await count("select count(*)::int as n from public.bisect_tasks where locked_by is not null")).toBe(COMMANDS.length + REPLIES.length);
  expect(await count("select count(*)::int as n from public.bisect_jobs where locked_by is not null and state = 'dispatching'")).toBe(JOBS.length);
  expect(double.runs).toHaveLength(1);
  expect((await fetch(`${first.url}/health`)).status).toBe(200);

  first.child.kill("SIGTERM");
  await until("the instance says it is stopping", () => first.output().includes("SIGTERM: stopping"));
  // Readiness fails while it drains (the held calls keep it draining), but GitHub's deliveries are
  // still taken and stored: GitHub does not redeliver on its own, so a 503 here would lose them.
  expect((await fetch(`${first.url}/health`)).status).toBe(503);
  expect((await comment(first, LATE, "/bisect help")).status).toBe(200);
  expect(await first.exited).toBe(0);

  // Nothing is leased, nothing counted: the instance's tries are given back.
  expect(await count("select count(*)::int as n from public.bisect_jobs where locked_by is not null or lease_expires_at is not null")).toBe(0);
  expect(await count("select count(*)::int as n from public.bisect_tasks where locked_by is not null or lease_expires_at is not null")).toBe(0);
  const { rows: tasks } = await db.client.query<{ kind: string; state: string; attempts: number; n: number }>(
    "select kind, state, attempts, count(*)::int as n from public.bisect_tasks group by 1, 2, 3 order by 1, 2, 3",
  );
  expect(tasks).toEqual([
    // The jobs' commands and the replies' commands were done before the stop.
    { kind: "command", state: "done", attempts: 1, n: JOBS.length + REPLIES.length },
    { kind: "command", state: "pending", attempts: 0, n: COMMANDS.length + 1 },
    { kind: "reply", state: "pending", attempts: 0, n: REPLIES.length },
  ]);
  const { rows: jobs } = await db.client.query<{ state: string; attempts: number; n: number }>(
    "select state, attempts, count(*)::int as n from public.bisect_jobs group by 1, 2",
  );
  expect(jobs).toEqual([{ state: "queued", attempts: 0, n: JOBS.length }]);

  // A second instance, GitHub answering: everything gets done, once.
  gateOpen = true;
  // Its log goes into the failure message, should it not finish.
  const second = await startInstance({ ...env, LOG_LEVEL: "info" });
  instances.push(second);
  const all = JOBS.length + COMMANDS.length;
  await until("every job is dispatched and every task done", async () => {
    const open = await count("select count(*)::int as n from public.bisect_tasks where state <> 'done'");
    const dispatched = await count("select count(*)::int as n from public.bisect_jobs where state = 'dispatched'");
    return open === 0 && dispatched === all;
  }).catch(async (error: Error) => {
    const state = await db.client.query(
      "select 'task' as t, id, kind as k, state, attempts, error, outcome from public.bisect_tasks union all select 'job', id, '', state, attempts, error, run_id::text from public.bisect_jobs",
    );
    throw new Error(`${error.message}: ${JSON.stringify(state.rows)}\n${second.output().slice(-5000)}`);
  });

  const { rows: perComment } = await db.client.query<{ comment_id: string; jobs: number; replies: number }>(
    `select t.comment_id::text, (select count(*)::int from public.bisect_jobs j where j.comment_id = t.comment_id) as jobs,
            count(*) filter (where t.kind = 'reply')::int as replies
     from public.bisect_tasks t group by t.comment_id order by t.comment_id`,
  );
  expect(perComment).toEqual([
    ...[...JOBS, ...COMMANDS].map((t) => ({ comment_id: String(t.commentId), jobs: 1, replies: 0 })),
    ...[...REPLIES, LATE].map((t) => ({ comment_id: String(t.commentId), jobs: 0, replies: 1 })),
  ]);
  // Each thread has one word from the App: the job's status comment, or the reply.
  for (const t of [...JOBS, ...COMMANDS, ...REPLIES, LATE]) expect(appComments(t), t.repo).toHaveLength(1);
  for (const t of [...REPLIES, LATE]) expect(appComments(t)[0]?.body).toContain("/bisect");

  // Each job dispatched once, the held one adopted rather than dispatched again.
  const { rows: jobIds } = await db.client.query<{ id: string; run_id: string; attempts: number }>(
    "select id::text, run_id::text, attempts from public.bisect_jobs",
  );
  for (const job of jobIds) {
    expect(
      double.dispatches.filter((d) => d.inputs.job_id === job.id && d.status < 300),
      `job ${job.id}`,
    ).toHaveLength(1);
    expect(double.runs.filter((r) => r.inputs.job_id === job.id).map((r) => String(r.id))).toEqual([job.run_id]);
    expect(job.attempts).toBe(1);
  }
  const calls = double.callCounts();
  expect(calls["POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"]).toBe(all);
  expect(calls["GET /repos/{owner}/{repo}/collaborators/{username}/permission"]).toBe(all);
  expect(calls["POST /repos/{owner}/{repo}/issues/{issue_number}/comments"]).toBe(all + REPLIES.length + 1);
  // Every task's counted attempts: the first instance's were given back.
  expect(await count("select count(*)::int as n from public.bisect_tasks where attempts <> 1")).toBe(0);
  expect(double.violations).toEqual([]);
}, 60_000);
