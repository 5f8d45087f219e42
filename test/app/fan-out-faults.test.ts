/**
 * Fan-out (`--runners k`) when things go wrong, end to end and offline (fan-out.test.ts is the
 * happy path): every webhook lost, one runner of a round lost, an App instance killed (SIGKILL)
 * between two rounds, a flaky test. Each time the job still names the planted culprit, and the
 * user sees no more rounds and no more runs than the fault makes necessary: a round lost is
 * re-done only for the commits it left without a verdict, a verdict recorded is never tested
 * again, and an instance's successor carries on from the rounds recorded, adopting a round's run
 * its predecessor made rather than dispatching a second.
 *
 * Repositories: a linear history c0 … c64 (64 commits to bisect), the workflow at c0, `sh check.sh`
 * failing from c41 on.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store, type JobRow } from "../../app/src/store/store.js";
import { appEnv, appKeys, APP_ID, INSTALLATION_ID, OWNER, WEBHOOK_SECRET, runToEnd, startHarness, type Harness } from "../support/app-harness.js";
import { startGate, startInstance, until, type Gate, type Instance } from "../support/app-instances.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import { startGitHubDouble, type GitHubDouble } from "../support/github-double/index.js";
import type { JobTarget } from "../support/github-double/runner.js";
import type { WorkflowRunRecord } from "../support/github-double/state.js";
import { linearRepo, positionOf } from "../support/linear-repo.js";
import { openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";
import { deliver, issueCommentPayload } from "../support/webhooks.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
const SIZE = 65;
const CULPRIT = 41;
/** ⌈log₄ 64⌉: the rounds k = 3 needs for 64 commits. */
const ROUNDS = Math.ceil(Math.log(SIZE - 1) / Math.log(4));

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
});

/** c0 … c{SIZE-1}, v1.0 at c0 with the workflow in it; from c{CULPRIT} on `sh check.sh` fails. */
async function linearWithWorkflow() {
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  const parent = await tempDir("fan-out-faults");
  dirs.push(parent);
  const repo = await linearRepo(parent, SIZE, CULPRIT, (i) => (i === 0 ? { ".github/workflows/bisect.yml": workflow } : {}));
  return { dir: repo.dir, shas: repo.shas, culprit: repo.shas.get(`c${CULPRIT}`)! };
}

/** The job's runs on the double, oldest first. */
const jobRuns = (double: GitHubDouble, jobId: number) => double.runs.filter((r) => r.inputs.job_id === String(jobId)).sort((a, b) => a.id - b.id);
const commitsOf = (run: WorkflowRunRecord) => JSON.parse(run.inputs.commits!) as string[];
const roundOf = (run: WorkflowRunRecord) => Number(/ round (\d+)$/.exec(run.displayTitle)?.[1]);
const botComments = (double: GitHubDouble, repo: string, issue: number) => double.comments(`${OWNER}/${repo}`, issue).filter((c) => c.user.endsWith("[bot]"));

// ---- In-process: the App on PGlite, the double's runner really running each round --------------

describe("in process", () => {
  let h: Harness;
  let nextId = 9400;

  beforeAll(async () => {
    h = await startHarness({ env: { RUN_CHECK_SECONDS: "1", MAX_CONCURRENT_JOBS: "20" } });
    h.double.runner.options = { webhookUrl: `${h.server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET, concurrency: 8 };
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  async function repository() {
    const repo = await linearWithWorkflow();
    const id = nextId++;
    const name = `fan-faults-${id}`;
    h.double.addRepository({ owner: OWNER, name, id, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
    h.double.setPermission(`${OWNER}/${name}`, "maintainer", "write");
    return { ...repo, name, id };
  }

  /**
   * Comments on the repository, then drives the worker loop until the job ends. A job waiting to
   * retry an attempt is made due at once (the App backs off 30 s first).
   */
  async function bisect(repo: { name: string; id: number }, body: string): Promise<JobRow> {
    expect((await h.comment(body, { repo: repo.name, repositoryId: repo.id, issueNumber: 1 })).status).toBe(200);
    return runToEnd(h, { repositoryId: repo.id, issueNumber: 1 }, { timeoutMs: 200_000, hurryRetries: true });
  }

  const answer = (repo: { name: string }) => botComments(h.double, repo.name, 1).at(-1)?.body ?? "";

  it("every webhook dropped for the whole job: the reconciler still ends it with the culprit, within ⌈log₄ N⌉ rounds", async () => {
    const repo = await repository();
    h.double.runner.faults = { dropWebhooks: { workflow_run: true, workflow_job: true } };
    let job: JobRow;
    try {
      job = await bisect(repo, "/bisect v1.0..main --runners 3 -- sh check.sh");
    } finally {
      h.double.runner.faults = {};
    }
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit, attempts: 1 });
    const runs = jobRuns(h.double, job.id);
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.length).toBeLessThanOrEqual(ROUNDS);
    expect(runs.map((r) => r.displayTitle)).toEqual(runs.map((_, i) => `bisect ${job.id} round ${i + 1}`));
    // Nothing the App heard came from a webhook: every delivery about these runs was dropped.
    const ids = new Set(runs.map((r) => r.id));
    const deliveries = h.double.runner.deliveries.filter((d) => ids.has(d.runId));
    expect(deliveries.length).toBeGreaterThan(0);
    expect(deliveries.filter((d) => !d.dropped)).toEqual([]);
    const probes = await h.store.call("jobProbes", { jobId: job.id });
    expect(new Set(probes.map((p) => p.sha)).size).toBe(probes.length);
    expect(answer(repo)).toContain("is the first bad commit");
  }, 240_000);

  it("one runner of round 2 lost: attempt 2 re-runs round 2 for that commit only, keeps the verdicts it got, and names the culprit", async () => {
    const repo = await repository();
    // The commit of round 2 whose verdict the search needs whatever the others say: the lowest
    // that fails (or, when all pass, the highest). Its runner is lost the first time only.
    let lost: string | null = null;
    const failJob = (target: JobTarget): boolean => {
      if (lost !== null) return false;
      const run = h.double.runs.filter((r) => r.repository === `${OWNER}/${repo.name}`).sort((a, b) => b.id - a.id)[0];
      if (!run || roundOf(run) !== 2) return false;
      const commits = commitsOf(run).map((sha) => ({ sha, at: positionOf(repo.shas, sha) }));
      const bad = commits.filter((c) => c.at >= CULPRIT).sort((a, b) => a.at - b.at);
      const good = commits.filter((c) => c.at < CULPRIT).sort((a, b) => b.at - a.at);
      const pick = (bad[0] ?? good[0])!.sha;
      if (target.name !== `probe (${pick})`) return false;
      lost = pick;
      return true;
    };
    h.double.runner.faults = { failJob };
    let job: JobRow;
    try {
      job = await bisect(repo, "/bisect v1.0..main --runners 3 -- sh check.sh");
    } finally {
      h.double.runner.faults = {};
    }
    expect(lost).not.toBeNull();
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit, attempts: 2 });

    const runs = jobRuns(h.double, job.id);
    const round2 = runs.filter((r) => roundOf(r) === 2);
    expect(round2).toHaveLength(2);
    const [first, again] = round2 as [WorkflowRunRecord, WorkflowRunRecord];
    expect(commitsOf(first)).toContain(lost);
    expect(first.conclusion).toBe("failure");
    expect(first.jobs?.filter((j) => j.conclusion === "failure").map((j) => j.name)).toEqual([`probe (${lost})`]);
    // The round is re-done for the lost commit only, and the rest goes on from there.
    expect(commitsOf(again)).toEqual([lost]);
    expect(h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id) && d.status < 300).map((d) => d.inputs.commits)).toEqual(
      runs.map((r) => r.inputs.commits),
    );
    expect(runs.map(roundOf)).toEqual([1, 2, 2, ...runs.slice(3).map((_, i) => i + 3)]);
    expect(runs.length).toBeLessThanOrEqual(ROUNDS + 1);

    // The verdicts round 2 got before the runner was lost are kept (attempt 1), the lost one comes
    // from attempt 2; no commit is tested twice.
    const probes = await h.store.call("jobProbes", { jobId: job.id });
    expect(new Set(probes.map((p) => p.sha)).size).toBe(probes.length);
    const ofRound2 = probes.filter((p) => p.round === 2);
    expect(ofRound2.map((p) => p.sha).sort()).toEqual([...commitsOf(first)].sort());
    for (const p of ofRound2) expect(p.attempt, p.sha).toBe(p.sha === lost ? 2 : 1);
    // The lost runner is one the job used (the answer counts it).
    expect(job.runner_jobs).toBe(runs.reduce((n, r) => n + commitsOf(r).length, 0));
    expect(job.runner_jobs).toBe(probes.length + 1);

    const text = answer(repo);
    expect(text).toContain("is the first bad commit");
    expect(text).toContain(`${job.runner_jobs} runner jobs`);
    // A round re-done is still one round.
    expect(text).toContain(`| Rounds | ${runs.length - 1} rounds: `);
    expect(h.double.violations).toEqual([]);
  }, 240_000);

  it("a flaky test (fails ~10% of runs anywhere) with --flaky and k = 3: the culprit, at confidence ≥ 0.99, said in the answer", async () => {
    const repo = await repository();
    const job = await bisect(repo, '/bisect v1.0..main --runners 3 --flaky -- sh check.sh && [ "$(od -An -N1 -tu1 /dev/urandom)" -gt 25 ]');
    expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit });
    expect(job.confidence).toBeGreaterThanOrEqual(0.99);
    const runs = jobRuns(h.double, job.id);
    expect(runs.every((r) => r.inputs.mode === "probe" && commitsOf(r).length <= 3)).toBe(true);
    expect(answer(repo)).toMatch(/Confidence/);
  }, 240_000);
});

// ---- Real processes: an instance killed with SIGKILL between two rounds ------------------------

/** Where the instance dies in round 2's dispatch. */
type KillPoint =
  /** Round 2's intent is recorded; its dispatch POST never reaches GitHub. */
  | "before-dispatch"
  /** GitHub made round 2's run; its answer never came back, so the run is not recorded. */
  | "after-dispatch";

const DISPATCH = /^\/api\/v3\/repos\/[^/]+\/([^/]+)\/actions\/workflows\/[^/]+\/dispatches$/;
const dispatchBodySchema = (body: string): { round?: number } => {
  try {
    const parsed = JSON.parse(body) as { inputs?: { options?: string } };
    return JSON.parse(parsed.inputs?.options ?? "{}") as { round?: number };
  } catch {
    return {};
  }
};

describe("an instance killed between rounds", () => {
  let double: GitHubDouble;
  let db: TestDatabase;
  let store: Store;
  let gate: Gate;
  const alive: Instance[] = [];
  /** Repository name → where its instance dies; the gate holds that repository's round-2 dispatch once. */
  const points = new Map<string, { point: KillPoint; held: boolean }>();
  let nextId = 9500;

  beforeAll(async () => {
    double = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
    db = await openTestDatabase("postgres");
    store = new Store(sqlTransport(db.client));
    gate = await startGate(double.url, (method, path, body) => {
      const dispatch = method === "POST" ? DISPATCH.exec(path) : null;
      const at = points.get(dispatch?.[1] ?? "");
      if (!at || at.held || dispatchBodySchema(body).round !== 2) return null;
      at.held = true;
      return { hold: dispatch![1]!, answered: at.point === "after-dispatch" };
    });
  }, 180_000);

  afterAll(async () => {
    for (const i of alive) i.child.kill("SIGKILL");
    await gate?.close();
    await db?.close();
    await double?.close();
    await stopTestPostgres();
  });

  async function start(env: Record<string, string>): Promise<Instance> {
    const instance = await startInstance(env);
    alive.push(instance);
    // Runs dispatched from now on send their webhooks to this instance.
    double.runner.options = { webhookUrl: `${instance.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET, concurrency: 8 };
    return instance;
  }

  async function kill(instance: Instance): Promise<void> {
    instance.child.kill("SIGKILL");
    expect(await instance.exited).toBe("SIGKILL");
    alive.splice(alive.indexOf(instance), 1);
  }

  it.each<KillPoint>(["before-dispatch", "after-dispatch"])(
    "killed in round 2's dispatch (%s): the successor goes on from round 1's verdicts, one run per round, the culprit",
    async (point) => {
      const repo = await linearWithWorkflow();
      const id = nextId++;
      const name = `fan-kill-${id}`;
      const installationId = INSTALLATION_ID + id;
      double.addRepository({ owner: OWNER, name, id, path: repo.dir, defaultBranch: "main", installationId });
      double.setPermission(`${OWNER}/${name}`, "maintainer", "write");
      points.set(name, { point, held: false });
      // Leases of 3 s: the dead instance's job is taken over within seconds rather than a minute.
      const env = appEnv(double, {
        DATABASE_URL: db.url!,
        GHE_HOST: gate.host,
        WORKER_POLL_MS: "100",
        LEASE_SECONDS: "3",
        RUN_CHECK_SECONDS: "1",
        MAX_CONCURRENT_JOBS: "20",
      });
      for (const i of [...alive]) await kill(i);

      const first = await start(env);
      const body = "/bisect v1.0..main --runners 3 -- sh check.sh";
      const commentId = 3_400_000_000 + id;
      double.addComment(`${OWNER}/${name}`, 1, { body, user: "maintainer", id: commentId });
      const payload = issueCommentPayload({ owner: OWNER, repo: name, repositoryId: id, installationId, issueNumber: 1, login: "maintainer", commentId, body });
      expect((await deliver(`${first.url}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload })).status).toBe(200);

      const jobRow = async () => (await store.call("latestJob", { repositoryId: id, issueNumber: 1 })) ?? null;
      const describeJob = async () => `${point}: held ${gate.held(name)}, job ${JSON.stringify(await jobRow())}`;
      await until(describeJob, () => gate.held(name) === 1, 120_000);
      const before = (await jobRow())!;
      // Round 1 is recorded, round 2 is intended, no run of it is recorded.
      expect(before).toMatchObject({ state: "dispatching", round: 2, run_id: null, attempts: 1 });
      expect(before.round_commits).toHaveLength(3);
      const round1 = await store.call("jobProbes", { jobId: before.id });
      expect(round1.map((p) => p.round)).toEqual([1, 1, 1]);
      const orphan = jobRuns(double, before.id).filter((r) => roundOf(r) === 2);
      expect(orphan).toHaveLength(point === "after-dispatch" ? 1 : 0);
      await kill(first);

      await start(env);
      await until(describeJob, async () => TERMINAL.has((await jobRow())?.state ?? ""), 150_000);
      await double.runner.idle();
      const job = (await store.call("getJob", { jobId: before.id }))!;
      expect(job).toMatchObject({ state: "succeeded", verdict: "culprit", culprit_sha: repo.culprit, attempts: 1 });

      // One run per round: round 1 not re-run, round 2 run once (the orphan adopted, if there was one).
      const runs = jobRuns(double, job.id);
      expect(runs.map((r) => r.displayTitle)).toEqual(runs.map((_, i) => `bisect ${job.id} round ${i + 1}`));
      expect(runs.length).toBeLessThanOrEqual(ROUNDS);
      const dispatched = double.dispatches.filter((d) => d.inputs.job_id === String(job.id) && d.status < 300);
      expect(dispatched).toHaveLength(runs.length);
      const second = runs[1]!;
      expect(commitsOf(second)).toEqual(before.round_commits);
      if (point === "after-dispatch") expect(second.id).toBe(orphan[0]!.id);

      // Round 1's verdicts were kept, not tested again; no commit was tested twice.
      const probes = await store.call("jobProbes", { jobId: job.id });
      expect(new Set(probes.map((p) => p.sha)).size).toBe(probes.length);
      expect(probes.filter((p) => p.round === 1).map((p) => p.sha)).toEqual(round1.map((p) => p.sha));
      expect(probes.length).toBe(runs.reduce((n, r) => n + commitsOf(r).length, 0));

      // One comment by the App on the thread: the status comment, edited into the answer (the
      // result is recorded first, then the comment edited).
      await until("the status comment shows the answer", () => botComments(double, name, 1).some((c) => c.body.includes("is the first bad commit")));
      const own = botComments(double, name, 1);
      expect(own).toHaveLength(1);
      expect(own[0]!.body).toContain("is the first bad commit");
      expect(double.violations).toEqual([]);
    },
    240_000,
  );
});
