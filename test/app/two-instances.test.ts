/**
 * Two App instances as operators run them (`npm start`'s entry, separate processes) sharing a
 * real PostgreSQL database, and GitHub redelivering one webhook 50 times at once across both:
 * exactly one job, one dispatch, one status comment. Then SIGTERM: the instance stops within 10 s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import { appEnv, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, appKeys, APP_ID } from "../support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import { stopTestPostgres, testPostgres } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FULL = `${OWNER}/${REPO}`;

interface Instance {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Starts `app/src/main.ts` (what `npm start` runs) and waits for its "listening" line. */
function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", "tsx", "app/src/main.ts"], { cwd: ROOT, env: { PATH: process.env.PATH!, ...env }, stdio: ["ignore", "pipe", "pipe"] });
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
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
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

beforeAll(async () => {
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  repo = await makeAppRepo();
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");
  const databaseUrl = await (await testPostgres()).createDatabase("two_instances");
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
  const payload = issueCommentPayload({ owner: OWNER, repo: REPO, repositoryId: REPOSITORY_ID, installationId: INSTALLATION_ID, issueNumber: 42, login: "maintainer", commentId, body: "/bisect v1.0..main -- npm test" });
  const id = randomUUID();
  const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => deliver(`${instances[i % 2]!.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload, id })));
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
