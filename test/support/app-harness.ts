/**
 * Test support: the App as it runs — `startServer` with Probot's own environment, reaching the
 * GitHub double through GHE_HOST/GHE_PROTOCOL, on a real store — plus a repository in the double
 * and helpers to comment and let the worker loop finish its work.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { ProbotOctokit } from "probot";
import { startServer, type RunningServer } from "../../app/src/server.js";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store, type JobRow } from "../../app/src/store/store.js";
import { runTask } from "../../app/src/worker/run-task.js";
import { makeAppRepo, type AppRepo, type AppRepoOptions } from "./app-repo.js";
import { removeDir } from "./dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "./github-double/index.js";
import { openTestDatabase, type Backend, type TestDatabase } from "./postgres.js";
import { deliver, issueCommentPayload, type CommentEventOptions } from "./webhooks.js";

export const APP_ID = 424242;
export const WEBHOOK_SECRET = "bisect-webhook-secret-for-tests";
export const OWNER = "octo-org";
export const REPO = "widgets";
export const REPOSITORY_ID = 5_000_000_101;
export const INSTALLATION_ID = 7_000_000_55;

/** One RSA key per test process: generating it takes a moment. */
let keys: { privateKey: string; publicKey: string } | undefined;
export function appKeys(): { privateKey: string; publicKey: string } {
  keys ??= generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return keys;
}

export interface HarnessOptions {
  backend?: Backend;
  repo?: AppRepoOptions;
  /** Extra App environment (MAX_CONCURRENT_JOBS, …). */
  env?: Record<string, string>;
  ghes?: boolean;
  /** "probot": Probot's own Octokit, throttling and retry waits as in production (default "fast"). */
  octokit?: "fast" | "probot";
}

export interface Harness {
  double: GitHubDouble;
  repo: AppRepo;
  db: TestDatabase;
  store: Store;
  server: RunningServer;
  /** The environment the App was started with (for starting more instances). */
  env: Record<string, string>;
  /** Posts a signed issue_comment delivery; answers its HTTP status. */
  comment(body: string, options?: Partial<CommentEventOptions> & { deliveryId?: string }): Promise<{ status: number; body: string; id: string }>;
  /** Runs the worker loop until it finds nothing more to do. */
  settle(): Promise<void>;
  /** Turns received commands into jobs or replies, and does nothing else (no posting, no dispatch, no announcing). */
  accept(): Promise<void>;
  /** Comments of the App on an issue (newest version of each). */
  appComments(issueNumber?: number): { id: number; body: string }[];
  close(): Promise<void>;
}

let commentIds = 3_000_000_000;

/** The App's environment for a double: Probot's variables, as an operator would set them. */
export function appEnv(double: GitHubDouble, extra: Record<string, string> = {}): Record<string, string> {
  return {
    APP_ID: String(APP_ID),
    PRIVATE_KEY: appKeys().privateKey,
    WEBHOOK_SECRET,
    GHE_HOST: double.env.GHE_HOST,
    GHE_PROTOCOL: double.env.GHE_PROTOCOL,
    HOST: "127.0.0.1",
    PORT: "0",
    // Many instances run at once here: none listens for Prometheus unless a test asks.
    METRICS_PORT: "0",
    // A test file writes far more a minute than one installation would (80 would hold a write
    // for up to a minute, past a test's timeout); the budget has tests of its own.
    GITHUB_WRITES_PER_MINUTE: "1000",
    LOG_LEVEL: "fatal",
    ...extra,
  };
}

/**
 * Probot's Octokit with the retry plugin's waits cut to milliseconds and the throttling plugin's
 * one-write-per-second spacing off, so tests run fast; retries and auth are Probot's own.
 */
export const FastRetryOctokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({
  ...options,
  retry: { ...(options.retry as object), retryAfterBaseValue: 5 },
  throttle: { ...(options.throttle as object), enabled: false },
}));

/** Runs the App's worker loop by hand until a pass claims nothing and asks GitHub nothing. */
export async function settleWorker(double: GitHubDouble, server: RunningServer): Promise<void> {
  const worker = server.app.worker!;
  for (let i = 0; i < 50; i++) {
    const before = [double.requests.length, worker.counters.claims];
    await worker.tick();
    await worker.idle();
    if (double.requests.length === before[0] && worker.counters.claims === before[1]) return;
  }
  throw new Error("the worker loop did not settle in 50 passes");
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot", ghes: options.ghes ?? false });
  const repo = await makeAppRepo(options.repo);
  double.addRepository({ owner: OWNER, name: REPO, id: REPOSITORY_ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  double.setPermission(`${OWNER}/${REPO}`, "maintainer", "write");
  const db = await openTestDatabase(options.backend ?? "pglite");
  const store = new Store(sqlTransport(db.client));
  const env = appEnv(double, options.env);
  const server = await startServer(env, { store, startWorker: false, ...(options.octokit === "probot" ? {} : { Octokit: FastRetryOctokit }) });
  return {
    double,
    repo,
    db,
    store,
    server,
    env,
    comment: (body, o = {}) => {
      const payload = issueCommentPayload({
        owner: OWNER,
        repo: REPO,
        repositoryId: REPOSITORY_ID,
        installationId: INSTALLATION_ID,
        issueNumber: 42,
        login: "maintainer",
        commentId: o.commentId ?? ++commentIds,
        body,
        ...o,
      }) as { comment: { id: number }; issue: { number: number } };
      // The comment exists on GitHub before its webhook arrives.
      const fullName = `${o.owner ?? OWNER}/${o.repo ?? REPO}`;
      if (!double.comments(fullName).some((c) => c.id === payload.comment.id)) {
        double.addComment(fullName, payload.issue.number, { body, user: o.login ?? "maintainer", id: payload.comment.id });
      }
      return deliver(`${server.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", id: o.deliveryId ?? randomUUID(), payload });
    },
    settle: () => settleWorker(double, server),
    accept: async () => {
      const deps = {
        store,
        settings: server.settings,
        workerId: server.workerId,
        octokitFor: (id: number) => server.app.probot!.auth(id),
        log: server.app.probot!.log,
      };
      for (const task of await store.call("claimTasks", { worker: server.workerId, limit: 100, leaseSeconds: 60 })) {
        if (task.kind === "command") await runTask(task, deps);
        else await store.call("releaseLease", { token: task.token });
      }
    },
    appComments: (issueNumber = 42) => double.comments(`${OWNER}/${REPO}`, issueNumber).filter((c) => c.user.endsWith("[bot]")),
    close: async () => {
      await server.close();
      await db.close();
      await double.close();
      await removeDir(repo.dir);
    },
  };
}

const ENDED = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

/**
 * Drives the worker loop until the latest job of the thread ends (the runner idle, what it sent
 * settled), and answers it. `hurryRetries`: a job queued for another attempt is made due at once
 * (the App backs off 30 s first).
 */
export async function runToEnd(
  h: Harness,
  thread: { repositoryId: number; issueNumber: number },
  options: { timeoutMs: number; hurryRetries?: boolean },
): Promise<JobRow> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    await h.settle();
    const job = await h.store.call("latestJob", thread);
    if (job && ENDED.has(job.state)) {
      await h.double.runner.idle();
      await h.settle();
      return (await h.store.call("getJob", { jobId: job.id }))!;
    }
    if (options.hurryRetries && job?.state === "queued" && job.attempts > 0)
      await h.db.client.query("update public.bisect_jobs set next_check_at = now() where id = $1", [job.id]);
    if (Date.now() > deadline) throw new Error(`the job of ${JSON.stringify(thread)} did not end: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
