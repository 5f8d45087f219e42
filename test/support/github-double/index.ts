/**
 * A local GitHub for tests: an HTTP server on 127.0.0.1 that answers as GitHub Enterprise Server
 * would (point Probot/Octokit at it with `double.env`), backed by real git repositories and
 * checked against GitHub's own published REST and GraphQL descriptions. See server.ts for what
 * counts as a violation; `expect(double.violations).toEqual([])` is the usual closing assertion.
 *
 * With `runner` set (at start or later, `double.runner.options = …`), dispatched workflows really
 * run: the repository is checked out, the bundled Action bisects it, the result is uploaded as the
 * run's artifact and `workflow_run` / `workflow_job` webhooks go to the App (runner.ts).
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parsePublicKey } from "./auth.js";
import { loadGraphqlSchema } from "./graphql.js";
import { loadChecker, loadGhesBodyKeys } from "./openapi-check.js";
import { addArtifact, type ArtifactOptions } from "./artifacts.js";
import { hookDeliveryLog, type HookDeliveries, type HookDeliveryRecord, type WebhookToSend } from "./deliveries.js";
import { addCiRun, completeRun, setRunStatus, startRun, type CiRunOptions, type CompletedRun, type CompleteRunOptions, type RunConclusion } from "./runs.js";
import { BLOB_ROUTE, createBlobServer, createDoubleServer, TOKEN_ROUTE, type RecordedRequest } from "./server.js";
import { freezeRepository, isoSeconds } from "./git-data.js";
import { Runner, type Chance, type DeliveryRecord, type JobTarget, type RunnerFaults, type RunnerOptions, type WorkflowRunner } from "./runner.js";
import {
  DoubleState,
  type ArtifactRecord,
  type DispatchRecord,
  type DoubleRepository,
  type IssueRecord,
  type LabelRecord,
  type PullRequestRecord,
  type Role,
  type RunStatus,
  type RunStepRecord,
  type WorkflowJobRecord,
  type WorkflowRunRecord,
} from "./state.js";

export type {
  ArtifactOptions,
  ArtifactRecord,
  CiRunOptions,
  CompletedRun,
  CompleteRunOptions,
  DispatchRecord,
  DoubleRepository,
  IssueRecord,
  LabelRecord,
  PullRequestRecord,
  RecordedRequest,
  Role,
  RunConclusion,
  RunStatus,
  WorkflowJobRecord,
  WorkflowRunRecord,
};
export type { Chance, DeliveryRecord, JobTarget, RunnerFaults, RunnerOptions, RunStepRecord, WorkflowRunner };
export type { HookDeliveries, HookDeliveryRecord, WebhookToSend };
export { BLOB_ROUTE };

export interface GitHubDoubleOptions {
  appId: number;
  /** PEM of the app's public key; token exchanges must carry a JWT signed with the private key. */
  appPublicKey: string;
  /** The app's slug; its bot user is `<slug>[bot]`. Default `bisect-bot`. */
  appSlug?: string;
  /** Behave as GitHub Enterprise Server 3.19 (refuses body keys it does not know). */
  ghes?: boolean;
  /** Lifetime of installation tokens. Default 3600. */
  tokenTtlSeconds?: number;
  /**
   * Run dispatched workflows for real (checkout, the bisect Action, upload-artifact) and send
   * their webhooks to the App; see runner.ts. Also settable later: `double.runner.options = …`.
   */
  runner?: RunnerOptions;
}

export interface CommentView {
  id: number;
  issueNumber: number;
  body: string;
  user: string;
  history: string[];
}

/** An issue opened through the API (`POST /repos/{owner}/{repo}/issues`), as tests check it. */
export interface IssueView {
  number: number;
  title: string;
  /** `""` for an issue opened without a body. */
  body: string;
  /** Label names, as the repository spells them. */
  labels: string[];
  /** Login of the author: the app's bot for issues the app opens. */
  user: string;
  createdAt: string;
}

export interface GitHubDouble {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  env: { GHE_HOST: string; GHE_PROTOCOL: "http" };
  /** `http://127.0.0.1:PORT2`: the storage origin artifact downloads redirect to (another origin, as on GitHub). */
  blobUrl: string;
  addRepository(repo: DoubleRepository): void;
  setPermission(fullName: string, login: string, role: Role): void;
  addUser(email: string, login: string): void;
  addPullRequest(fullName: string, pr: PullRequestRecord): void;
  /**
   * Seeds a comment by someone else (e.g. the `/bisect` command the app reacts to); returns its
   * id. Pass `id` to match the comment id of a webhook payload. Reactions to comments the double
   * does not know answer 404, as GitHub would for a wrong id.
   */
  addComment(fullName: string, issueNumber: number, comment: { body: string; user: string; id?: number }): number;
  comments(fullName: string, issueNumber?: number): CommentView[];
  /**
   * The issues opened through the API in the repository, by number. Their numbers follow every
   * pull request and every issue number comments were added on. Their records (state, labels,
   * `updatedAt`…) are `issueRecords`, for tests to read and edit.
   */
  issues(fullName: string): IssueView[];
  /** Every issue opened through the API, as records tests may edit (close one, backdate `updatedAt`…; not `number`). */
  issueRecords: IssueRecord[];
  reactions(fullName: string, commentId: number): string[];
  runs: WorkflowRunRecord[];
  /**
   * A run GitHub started itself, e.g. CI on a push (`event` default `push`, `branch` default the
   * default branch, `actor` default `pusher`), `completed` with `conclusion` or, when null,
   * `in_progress`; listed and served like dispatched runs (runs.ts). Its `created_at` is after
   * every earlier run of the repository. Throws when `headSha` is not a commit of the repository.
   * A re-run: `completeRun(run.id, { conclusion, runAttempt: 2 })`.
   */
  addCiRun(fullName: string, run: CiRunOptions): WorkflowRunRecord;
  /**
   * The Actions runner (off unless `options` is set): with it, every accepted dispatch runs
   * asynchronously, moves its run along, uploads the result artifact and sends `workflow_run` /
   * `workflow_job` webhooks; `POST …/runs/{id}/cancel` stops it. Faults: `runner.faults`.
   */
  runner: WorkflowRunner;
  setRunStatus(runId: number, status: RunStatus, conclusion?: string | null): WorkflowRunRecord;
  /** Status `in_progress` (`runAttempt`: as a re-run's later attempt). */
  startRun(runId: number, options?: { runAttempt?: number }): WorkflowRunRecord;
  /**
   * Completes the run (`status: completed`, the conclusion, `updated_at`) and stores the artifact
   * its attempt uploaded, by default named `bisect-result-<job_id input>`. See ArtifactOptions for
   * lying sizes, hostile bodies, expiry and what a re-run does to an existing artifact.
   */
  completeRun(runId: number, options: CompleteRunOptions): CompletedRun;
  /** Another artifact on a run (e.g. a second, misleadingly named one). */
  addArtifact(runId: number, artifact: ArtifactOptions): ArtifactRecord;
  /** Every artifact, as records tests may edit (`expired`, `serveBytes`, …). */
  artifacts: ArtifactRecord[];
  dispatches: DispatchRecord[];
  /**
   * Sends a webhook to the App through the double, signed, as GitHub sends the App's webhook:
   * recorded with the App's answer, listed by `GET /app/hook/deliveries` and redelivered (same
   * payload, same guid) by `POST /app/hook/deliveries/{delivery_id}/attempts` (deliveries.ts).
   */
  deliverWebhook(url: string, secret: string, webhook: WebhookToSend): Promise<HookDeliveryRecord>;
  /** The App's webhook log: every attempt of `deliverWebhook` and of redeliveries. */
  webhooks: HookDeliveries;
  requests: RecordedRequest[];
  violations: string[];
  /** Settable at runtime. */
  ghes: boolean;
  /**
   * Make the next `times` requests matching route (template string as in RecordedRequest.route)
   * answer `status` (e.g. 500, 502, or 403 with a rate-limit body + headers `retry-after`).
   */
  failNext(route: string, status: number, times?: number, headers?: Record<string, string>): void;
  /** Count of requests per route, excluding token exchanges; artifact downloads from storage count as `GET /_blobs`. */
  callCounts(): Record<string, number>;
  close(): Promise<void>;
}

/** Starts a double on a free port. The first call in a process also loads the REST and GraphQL descriptions (~1 s). */
export async function startGitHubDouble(options: GitHubDoubleOptions): Promise<GitHubDouble> {
  const publicKey = parsePublicKey(options.appPublicKey);
  const [checker] = await Promise.all([loadChecker(), loadGraphqlSchema(), options.ghes ? loadGhesBodyKeys() : null]);
  const state = new DoubleState("http://127.0.0.1", options.appId, options.appSlug ?? "bisect-bot", options.ghes ?? false, options.tokenTtlSeconds ?? 3600);
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const failures: { route: string; status: number; times: number; headers: Record<string, string> }[] = [];
  const parts = { state, checker, publicKey, requests, violations, failures };
  const server = createDoubleServer(parts);
  const blobServer = createBlobServer(parts);
  const listen = (s: Server) =>
    new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
    });
  const [port, blobPort] = await Promise.all([listen(server), listen(blobServer)]);
  state.url = `http://127.0.0.1:${port}`;
  state.blobUrl = `http://127.0.0.1:${blobPort}`;
  const runner = new Runner({ state, violations });
  if (options.runner) runner.options = options.runner;
  const runOrThrow = (runId: number) => {
    const run = state.runs.find((r) => r.id === runId);
    if (!run) throw new Error(`no workflow run ${runId}`);
    return run;
  };

  const repoOrThrow = (fullName: string) => {
    const repo = state.repository(fullName);
    if (!repo) throw new Error(`the double has no repository ${fullName}`);
    return repo;
  };

  return {
    url: state.url,
    env: { GHE_HOST: `127.0.0.1:${port}`, GHE_PROTOCOL: "http" },
    blobUrl: state.blobUrl,
    addRepository(repo) {
      state.repositories.set(`${repo.owner}/${repo.name}`.toLowerCase(), { ...repo });
      if (repo.frozen) freezeRepository(repo.path);
      state.user(repo.owner);
    },
    setPermission(fullName, login, role) {
      repoOrThrow(fullName);
      const table = state.permissions.get(fullName.toLowerCase()) ?? new Map<string, Role>();
      table.set(login.toLowerCase(), role);
      state.permissions.set(fullName.toLowerCase(), table);
      state.user(login);
    },
    addUser(email, login) {
      state.loginsByEmail.set(email.toLowerCase(), login);
      state.user(login);
    },
    addPullRequest(fullName, pr) {
      repoOrThrow(fullName);
      const list = state.pullRequests.get(fullName.toLowerCase()) ?? [];
      list.push({ ...pr });
      state.pullRequests.set(fullName.toLowerCase(), list);
    },
    addComment(fullName, issueNumber, comment) {
      const repo = repoOrThrow(fullName);
      const now = isoSeconds(Date.now());
      const id = comment.id ?? state.nextCommentId++;
      if (state.commentsById.get(id).length > 0) throw new Error(`comment ${id} already exists`);
      state.commentList.push({
        id,
        repository: `${repo.owner}/${repo.name}`,
        issueNumber,
        body: comment.body,
        user: comment.user,
        history: [comment.body],
        createdAt: now,
        updatedAt: now,
      });
      state.user(comment.user);
      return id;
    },
    comments(fullName, issueNumber) {
      return state.commentList
        .filter((c) => c.repository.toLowerCase() === fullName.toLowerCase() && (issueNumber === undefined || c.issueNumber === issueNumber))
        .map((c) => ({ id: c.id, issueNumber: c.issueNumber, body: c.body, user: c.user, history: [...c.history] }));
    },
    issues(fullName) {
      return state.issueList
        .filter((i) => i.repository.toLowerCase() === fullName.toLowerCase())
        .sort((a, b) => a.number - b.number)
        .map((i) => ({ number: i.number, title: i.title, body: i.body ?? "", labels: [...i.labels], user: i.user, createdAt: i.createdAt }));
    },
    issueRecords: state.issueList,
    reactions(fullName, commentId) {
      const comment = state.commentsById.get(commentId).find((c) => c.repository.toLowerCase() === fullName.toLowerCase());
      return comment ? state.reactionsByComment.get(commentId).map((r) => r.content) : [];
    },
    runs: state.runs,
    addCiRun: (fullName, run) => addCiRun(state, repoOrThrow(fullName), run),
    runner,
    setRunStatus: (runId, status, conclusion) => setRunStatus(state, runId, status, conclusion),
    startRun: (runId, options) => startRun(state, runId, options),
    completeRun: (runId, options) => completeRun(state, runId, options),
    addArtifact: (runId, artifact) => addArtifact(state, runOrThrow(runId), artifact),
    artifacts: state.artifacts,
    dispatches: state.dispatches,
    deliverWebhook: (url, secret, webhook) => hookDeliveryLog(state).deliver(url, secret, webhook),
    webhooks: hookDeliveryLog(state),
    requests,
    violations,
    get ghes() {
      return state.ghes;
    },
    set ghes(value: boolean) {
      state.ghes = value;
    },
    failNext(route, status, times = 1, headers = {}) {
      failures.push({ route, status, times, headers });
    },
    callCounts() {
      const counts: Record<string, number> = {};
      for (const r of requests) if (r.route !== TOKEN_ROUTE) counts[r.route] = (counts[r.route] ?? 0) + 1;
      return counts;
    },
    async close() {
      await runner.close();
      await hookDeliveryLog(state).idle();
      const stop = (s: Server) =>
        new Promise<void>((resolve, reject) => {
          s.closeAllConnections();
          s.close((error) => (error ? reject(error) : resolve()));
        });
      await Promise.all([stop(server), stop(blobServer)]);
    },
  };
}
