/**
 * The App's logs as an operator's collector reads them: `npm start`'s entry run as a separate
 * process with NODE_ENV=production (and no LOG_FORMAT), on PostgreSQL, against the GitHub double.
 * A /bisect comment goes from webhook to dispatch; then stdout is read line by line: JSON lines,
 * each line about a job naming the job and its repository, each line about the delivery naming
 * the delivery, and no secret anywhere (private key, webhook secret, installation tokens, the
 * database password).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pgClient, type SqlClient } from "../../app/src/store/sql-client.js";
import { appEnv, appKeys, APP_ID, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET } from "../support/app-harness.js";
import { makeAppRepo, type AppRepo } from "../support/app-repo.js";
import { removeDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import { stopTestPostgres, testPostgres } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FULL = `${OWNER}/${REPO}`;
/** The test server trusts local connections, so any password gets in; the App must never print it. */
const DB_PASSWORD = "db-password-never-logged-7f3a";

let double: GitHubDouble;
let repo: AppRepo;
let admin: SqlClient;
let child: ChildProcess | undefined;
let stdout = "";
let stderr = "";
const deliveryId = randomUUID();
let jobId: number;

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${stdout}\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every stdout line that is a JSON object (a log record). */
function records(): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error(`not a log record: ${line}`);
      return Object.fromEntries(Object.entries(parsed));
    });
}

beforeAll(async () => {
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
  repo = await makeAppRepo();
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(FULL, "maintainer", "write");
  const url = new URL(await (await testPostgres()).createDatabase("logs"));
  url.password = DB_PASSWORD;
  admin = pgClient(url.toString());
  const env = appEnv(double, { DATABASE_URL: url.toString(), WORKER_POLL_MS: "100", NODE_ENV: "production", LOG_LEVEL: "debug" });
  delete env.LOG_FORMAT;
  child = spawn(process.execPath, ["--import", "tsx", "app/src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await until(() => /listening on http:\/\/[^\s"]+/.test(stdout + stderr), "the App to listen");
  const appUrl = /listening on (http:\/\/[^\s"]+)/.exec(stdout + stderr)![1]!;

  const commentId = 3_200_000_001;
  const body = "/bisect v1.0..main -- npm test";
  double.addComment(FULL, 42, { body, user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber: 42,
    login: "maintainer",
    commentId,
    body,
  });
  expect((await deliver(`${appUrl}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload, id: deliveryId })).status).toBe(200);
  await until(async () => (await admin.query("select count(*)::int as n from public.bisect_jobs where state = 'dispatched'")).rows[0]!.n === 1, "the dispatch");
  jobId = (await admin.query<{ id: number }>("select id::int as id from public.bisect_jobs")).rows[0]!.id;
  await until(() => records().some((r) => r.msg === "dispatched"), "the dispatch's log line");
  const exited = new Promise((resolve) => child!.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
  child = undefined;
}, 90_000);

afterAll(async () => {
  child?.kill("SIGKILL");
  await admin?.close();
  await double?.close();
  if (repo) await removeDir(repo.dir);
  await stopTestPostgres();
});

it("logs JSON lines in production: the App's own, Probot's, the worker's", () => {
  const logged = records();
  expect(logged.length).toBeGreaterThanOrEqual(4);
  // No pino-pretty line (`INFO (probot): …`) among them.
  expect(stdout).not.toMatch(/^\s*(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b/m);
  for (const r of logged) {
    expect(r).toHaveProperty("level");
    expect(r).toHaveProperty("time");
    expect(typeof r.msg).toBe("string");
  }
  expect(logged.map((r) => r.msg)).toEqual(expect.arrayContaining(["issue_comment handled", "job created", "task done", "dispatched"]));
});

it("every line about the job names the job and its repository; the webhook's lines name the delivery", () => {
  const logged = records();
  const aboutJob = logged.filter((r) => r.job !== undefined || (typeof r.msg === "string" && /\bjob\b/.test(r.msg)));
  expect(aboutJob.length).toBeGreaterThanOrEqual(2);
  for (const r of aboutJob) expect(r, JSON.stringify(r)).toMatchObject({ job: jobId, repository: FULL });

  const handled = logged.filter((r) => r.msg === "issue_comment handled");
  expect(handled).toEqual([expect.objectContaining({ delivery: deliveryId, repository: FULL })]);
  // The command's task came from that delivery: its lines carry it, and so do the job's.
  const created = logged.filter((r) => r.msg === "job created");
  expect(created).toEqual([expect.objectContaining({ delivery: deliveryId, job: jobId, repository: FULL })]);
  expect(typeof created[0]!.task).toBe("number");
  expect(logged.filter((r) => r.msg === "dispatched")).toEqual([expect.objectContaining({ delivery: deliveryId, job: jobId, repository: FULL })]);
  // A line that names the delivery anywhere names it as `delivery` (Probot's own debug line
  // "Webhook received", which prints the whole event, names it as its `event.id`).
  const naming = logged.filter((r) => JSON.stringify(r).includes(deliveryId));
  expect(naming.length).toBeGreaterThanOrEqual(8);
  for (const r of naming) expect(r).toMatchObject(r.msg === "Webhook received" ? { event: { id: deliveryId } } : { delivery: deliveryId });
  // Nothing else on stdout names it: every line about the delivery is a log record.
  expect(stdout.split("\n").filter((l) => l.includes(deliveryId) && !l.startsWith("{"))).toEqual([]);
  // Probot's request lines for the job (reaction, dispatch, status comment) carry it too.
  const requests = logged.filter((r) => typeof r.msg === "string" && r.msg.startsWith("GitHub request: ") && r.msg.includes("/repos/"));
  expect(requests.length).toBeGreaterThanOrEqual(5);
  for (const r of requests) expect(r, String(r.msg)).toMatchObject({ repository: FULL, delivery: deliveryId });
  expect(requests.filter((r) => r.job === jobId).length).toBeGreaterThanOrEqual(3);
});

it("no line holds the private key, the webhook secret, an installation token or the database password", () => {
  const output = stdout + stderr;
  const keyBody = appKeys()
    .privateKey.split("\n")
    .filter((l) => l !== "" && !l.startsWith("-----"));
  for (const chunk of keyBody) expect(output).not.toContain(chunk);
  expect(output).not.toContain("PRIVATE KEY");
  expect(output).not.toContain(WEBHOOK_SECRET);
  expect(output).not.toMatch(/ghs_[A-Za-z0-9]{8,}/);
  expect(output).not.toContain(DB_PASSWORD);
});
