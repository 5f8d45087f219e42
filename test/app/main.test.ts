/**
 * Two App instances as operators run them (`npm start`'s entry, separate processes) sharing a
 * real PostgreSQL database, and GitHub redelivering one webhook 50 times at once across both:
 * exactly one job, one dispatch, one status comment. Then SIGTERM: the instance stops within 10 s.
 * Then SIGKILL of an instance holding a job: another finishes it, without a second run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import { appEnv, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, appKeys, APP_ID } from "../support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { makeRegressionRepo } from "../support/regression-repo.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import { stopTestPostgres, testPostgres } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";
import { resultZip } from "../support/zip.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FULL = `${OWNER}/${REPO}`;

interface Instance {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts `app/src/main.ts` (what `npm start` runs) and waits for its "listening" line. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", "tsx", "app/src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the App did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, output: () => output });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the App exited with ${code}:\n${output}`));
    });
  });
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

let double: GitHubDouble;
let repo: AppRepo;
let admin: SqlClient;
let instances: Instance[] = [];
let databaseUrl: string;

beforeAll(async () => {
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  repo = await makeAppRepo();
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");
  databaseUrl = await (await testPostgres()).createDatabase("two_instances");
  admin = pgClient(databaseUrl);
  // Both start at once: the migrations run exactly once (an advisory lock).
  instances = await Promise.all([1, 2].map(() => startInstance(appEnv(double, { DATABASE_URL: databaseUrl, WORKER_POLL_MS: "100" }))));
}, 60_000);

afterAll(async () => {
  for (const i of instances) i.child.kill("SIGKILL");
  await admin?.close();
  await double?.close();
  if (repo) await removeDir(repo.dir);
  await stopTestPostgres();
});

it("50 concurrent redeliveries of one webhook across 2 instances make 1 job, 1 dispatch, 1 status comment", async () => {
  const commentId = 3_100_000_001;
  double.addComment(FULL, 42, { body: "/bisect v1.0..main -- npm test", user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber: 42,
    login: "maintainer",
    commentId,
    body: "/bisect v1.0..main -- npm test",
  });
  const id = randomUUID();
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) => deliver(`${instances[i % 2]!.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload, id })),
  );
  expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));

  await until(async () => (await admin.query("select count(*)::int as n from public.bisect_jobs where state = 'dispatched'")).rows[0]!.n === 1);
  // Both loops keep polling for a while: nothing more may happen.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect((await admin.query<{ n: number }>("select count(*)::int as n from public.bisect_jobs")).rows[0]!.n).toBe(1);
  expect(double.dispatches.filter((d) => d.status < 300)).toHaveLength(1);
  expect(double.runs).toHaveLength(1);
  expect(double.comments(FULL, 42).filter((c) => c.user.endsWith("[bot]"))).toHaveLength(1);
  expect(double.reactions(FULL, commentId)).toEqual(["eyes"]);
  // Only one instance worked on it; the other only answered its webhooks.
  expect((await admin.query<{ n: number }>("select count(distinct worker)::int as n from public.bisect_claim_audit")).rows[0]!.n).toBe(1);
  expect(double.violations).toEqual([]);
}, 60_000);

it("SIGTERM: /health turns 503, leases are released, the process exits within 10 s", async () => {
  const [first] = instances;
  expect((await fetch(`${first!.url}/health`)).status).toBe(200);
  const exited = new Promise<number | null>((resolve) => first!.child.once("exit", (code) => resolve(code)));
  const started = Date.now();
  first!.child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect((await admin.query<{ n: number }>("select count(*)::int as n from public.bisect_jobs where locked_by is not null")).rows[0]!.n).toBe(0);
  instances = instances.slice(1);
}, 30_000);

it("an instance killed with SIGKILL while it holds a job: another instance finishes it, with no second run", async () => {
  for (const i of instances) i.child.kill("SIGKILL");
  instances = [];
  const url = databaseUrl;
  // The doomed instance leases jobs for 3 s; its status comment fails once, so it is still
  // holding the job (waiting to retry) when it is killed, right after its dispatch.
  const doomed = await startInstance(appEnv(double, { DATABASE_URL: url, WORKER_POLL_MS: "100", LEASE_SECONDS: "3" }));
  double.failNext("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", 500, 1);
  const commentId = 3_100_000_002;
  double.addComment(FULL, 43, { body: "/bisect v1.0..main -- npm test", user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber: 43,
    login: "maintainer",
    commentId,
    body: "/bisect v1.0..main -- npm test",
  });
  expect((await deliver(`${doomed.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload })).status).toBe(200);
  const runsBefore = double.runs.length;
  await until(() => double.runs.length > runsBefore, 20_000);
  doomed.child.kill("SIGKILL");
  const { rows } = await admin.query<{ id: number; locked_by: string | null; run_id: string | null }>(
    "select id, locked_by, run_id from public.bisect_jobs where issue_number = 43",
  );
  expect(rows[0]!.locked_by).not.toBeNull();
  expect(rows[0]!.run_id).toBeNull();

  const survivor = await startInstance(appEnv(double, { DATABASE_URL: url, WORKER_POLL_MS: "100", RUN_CHECK_SECONDS: "1" }));
  instances = [survivor];
  const jobId = Number(rows[0]!.id);
  await until(
    async () => (await admin.query<{ state: string }>(`select state from public.bisect_jobs where id = ${jobId}`)).rows[0]!.state === "dispatched",
    20_000,
  );
  const runs = double.runs.filter((r) => r.inputs.job_id === String(jobId));
  expect(runs).toHaveLength(1);

  const probes = [{ sha: repo.sha.c7, verdict: "bad", exitCode: 1, durationMs: 900, round: 1 }];
  const document = {
    schema: 1,
    jobId: String(jobId),
    verdict: "culprit",
    culprit: { sha: repo.sha.c7, confidence: 1 },
    candidates: [repo.sha.c7],
    range: { good: [repo.sha["v1.0"]], bad: repo.sha.main, size: 15 },
    probes,
    tested: 1,
    rounds: 1,
  };
  double.completeRun(runs[0]!.id, { conclusion: "success", artifact: { zip: resultZip(String(jobId), document) } });
  // No webhook: the survivor's reconciler finds the run completed.
  await until(
    async () => (await admin.query<{ state: string }>(`select state from public.bisect_jobs where id = ${jobId}`)).rows[0]!.state === "succeeded",
    20_000,
  );
  expect(double.runs.filter((r) => r.inputs.job_id === String(jobId))).toHaveLength(1);
  const appComments = () => double.comments(FULL, 43).filter((c) => c.user.endsWith("[bot]"));
  // The result is recorded first, then the comment edited.
  await until(() => appComments()[0]?.body.includes("is the first bad commit") ?? false);
  expect(appComments()).toHaveLength(1);
  expect(double.violations).toEqual([]);
}, 90_000);

it("end to end with real runs: the instance the run reports to is killed mid-job; the other one ends the job, one run", async () => {
  for (const i of instances) i.child.kill("SIGKILL");
  const [a, b] = await Promise.all([
    // Short leases: a dead instance's job is taken over after 5 s rather than 60.
    startInstance(appEnv(double, { DATABASE_URL: databaseUrl, WORKER_POLL_MS: "100", RUN_CHECK_SECONDS: "1", LEASE_SECONDS: "5" })),
    startInstance(appEnv(double, { DATABASE_URL: databaseUrl, WORKER_POLL_MS: "100", RUN_CHECK_SECONDS: "1", LEASE_SECONDS: "5" })),
  ]);
  instances = [a, b];
  const regression = await makeRegressionRepo({ mainline: 120 });
  try {
    double.addRepository({ owner: OWNER, name: "calc", id: 9101, path: regression.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
    double.setPermission(`${OWNER}/calc`, "maintainer", "write");
    // The Action's test sleeps a little, so the run is still going when instance A dies.
    double.runner.options = { webhookUrl: `${a.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET };
    const body = "/bisect v1.0..main -- sleep 0.3; sh test.sh";
    const commentId = 3_100_000_003;
    double.addComment(`${OWNER}/calc`, 1, { body, user: "maintainer", id: commentId });
    const payload = issueCommentPayload({
      owner: OWNER,
      repo: "calc",
      repositoryId: 9101,
      installationId: INSTALLATION_ID,
      issueNumber: 1,
      login: "maintainer",
      commentId,
      body,
    });
    expect((await deliver(`${a.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload })).status).toBe(200);
    await until(() => double.runner.executing.length > 0, 20_000);
    a.child.kill("SIGKILL");
    await double.runner.idle();
    const job = async () =>
      (
        await admin.query<{ id: number; state: string; culprit_sha: string | null; attempts: number }>(
          "select id, state, culprit_sha, attempts from public.bisect_jobs where repository_id = 9101",
        )
      ).rows[0]!;
    await until(async () => (await job()).state === "succeeded", 45_000).catch(async (error) => {
      throw new Error(
        `${(error as Error).message}: ${JSON.stringify(await job())}; runs ${JSON.stringify(double.runs.map((r) => [r.id, r.status, r.conclusion]))}`,
      );
    });
    const ended = await job();
    expect(ended).toMatchObject({ culprit_sha: regression.culprit.sha, attempts: 1 });
    expect(double.runs.filter((r) => r.inputs.job_id === String(ended.id))).toHaveLength(1);
    await until(() => (double.comments(`${OWNER}/calc`, 1).find((c) => c.user.endsWith("[bot]"))?.body ?? "").includes("is the first bad commit"));
    expect(double.violations).toEqual([]);
  } finally {
    double.runner.options = null;
    await removeDir(regression.dir);
  }
}, 90_000);
