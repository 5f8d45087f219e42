/**
 * The GitHub double, driven the way the app will drive it: Probot's Octokit authenticated as an
 * installation (real JWT, real token exchange), against a real git repository.
 */
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { ProbotOctokit } from "probot";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildRepo, git, removeDir, tempDir } from "../dag-repo.js";
import { matchers } from "../matchers.js";
import { BLOB_ROUTE, startGitHubDouble, type GitHubDouble } from "./index.js";
import { loadChecker } from "./openapi-check.js";
import { workflowJobPayload, workflowRunPayload } from "../run-webhooks.js";
import { makeZip, resultZip } from "../zip.js";

const APP_ID = 4242;
const INSTALLATION = 77;
const REPO = "acme/widgets";
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const keys = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});

function client(double: GitHubDouble, privateKey = keys.privateKey, installationId = INSTALLATION) {
  return new ProbotOctokit({
    auth: { appId: APP_ID, privateKey, installationId },
    baseUrl: `${double.url}/api/v3`,
    retry: { enabled: false },
    throttle: { enabled: false },
    log: silent,
  });
}

/** A GitHub App JWT signed by hand, to probe the double's checks one claim at a time. */
function appJwt(claims: Record<string, unknown>, privateKey = keys.privateKey): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}`;
  return `${unsigned}.${sign("RSA-SHA256", Buffer.from(unsigned), privateKey).toString("base64url")}`;
}

let dir: string;
let repoDir: string;
let shas: Map<string, string>;
let workflow: string;
let double: GitHubDouble;
let octokit: InstanceType<typeof ProbotOctokit>;
const repo = { owner: "acme", repo: "widgets" };

beforeAll(async () => {
  dir = await tempDir("github-double");
  repoDir = join(dir, "widgets");
  workflow = await readFile(new URL("../../../.github/workflows/bisect.yml", import.meta.url), "utf8");
  //   a - b - c - d - e   main
  //            \
  //             f - g     feature
  await mkdir(repoDir);
  shas = await buildRepo(
    repoDir,
    [
      { id: "a", parents: [], files: { ".github/workflows/bisect.yml": workflow, "README.md": "# widgets\n", "bin/blob": "\u0000\u0001binary" } },
      { id: "b", parents: ["a"] },
      { id: "c", parents: ["b"] },
      { id: "d", parents: ["c"] },
      { id: "e", parents: ["d"] },
      { id: "f", parents: ["c"] },
      { id: "g", parents: ["f"] },
    ],
    { branches: { main: "e", feature: "g" } },
  );
  await git(repoDir, ["tag", "-a", "v1", "-m", "release one", shas.get("b")!]);
  // A branch whose tree lacks the workflow file.
  const emptyTree = (await git(repoDir, ["mktree"], { input: "" })).stdout.trim();
  const emptied = (await git(repoDir, ["commit-tree", "-p", shas.get("e")!, "-m", "remove everything", emptyTree])).stdout.trim();
  await git(repoDir, ["update-ref", "refs/heads/no-workflow", emptied]);

  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: keys.publicKey, appSlug: "bisect-bot" });
  double.addRepository({ owner: "acme", name: "widgets", id: 1296269, path: repoDir, installationId: INSTALLATION });
  double.addRepository({ owner: "other", name: "private", id: 99, path: repoDir, installationId: 88, private: true });
  octokit = client(double);
});

afterAll(async () => {
  await double?.close();
  await removeDir(dir);
});

beforeEach(() => {
  double.ghes = false;
});

const hasUnzip = spawnSync("which", ["unzip"]).status === 0;

/** Runs Info-ZIP's `unzip` or `zipinfo` on the bytes: `tool [options] <file> [entries]`. */
async function zipTool(bytes: Buffer, tool: "unzip" | "zipinfo", options: string[], entries: string[] = []): Promise<{ status: number | null; out: string }> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.zip`);
  await writeFile(file, bytes);
  const result = spawnSync(tool, [...options, file, ...entries]);
  return { status: result.status, out: result.stdout.toString("utf8") };
}

/** Takes the violations recorded so far (so each test starts clean). */
function takeViolations(): string[] {
  return double.violations.splice(0);
}

describe("REST", () => {
  it("exchanges a JWT for an installation token and answers collaborator permissions as GitHub maps them", async () => {
    double.setPermission(REPO, "alice", "maintain");
    double.setPermission(REPO, "trish", "triage");
    double.setPermission(REPO, "ada", "admin");
    const level = async (username: string) => (await octokit.rest.repos.getCollaboratorPermissionLevel({ ...repo, username })).data;
    expect(await level("alice")).toMatchObject({ permission: "write", role_name: "maintain", user: { login: "alice", type: "User" } });
    expect(await level("trish")).toMatchObject({ permission: "read", role_name: "triage" });
    expect(await level("ada")).toMatchObject({ permission: "admin", role_name: "admin", user: { permissions: { admin: true, push: true, pull: true } } });
    // Not a collaborator: anyone can read a public repository.
    expect(await level("stranger")).toMatchObject({ permission: "read", role_name: "read" });
    expect(double.requests.map((r) => [r.route, r.status])).toContainEqual(["POST /app/installations/{installation_id}/access_tokens", 201]);
    expect(double.requests.at(-1)).toMatchObject({
      method: "GET",
      route: "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
      path: "/repos/acme/widgets/collaborators/stranger/permission",
      status: 200,
    });
    expect(takeViolations()).toEqual([]);
  });

  it("hides repositories of other installations and refuses bad credentials", async () => {
    await expect(octokit.rest.repos.getCollaboratorPermissionLevel({ owner: "other", repo: "private", username: "x" })).rejects.toMatchObject({ status: 404 });
    const impostor = client(
      double,
      generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      }).privateKey,
    );
    await expect(impostor.rest.repos.getCollaboratorPermissionLevel({ ...repo, username: "x" })).rejects.toMatchObject({ status: 401 });
    const raw = await fetch(`${double.url}/api/v3/repos/acme/widgets/collaborators/x/permission`, { headers: { authorization: "token ghs_nope" } });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({ message: "Bad credentials" });
    expect(takeViolations()).toEqual([]);
  });

  it("checks the app JWT's signature, issuer and expiry, and lets installation tokens expire", async () => {
    const now = Math.floor(Date.now() / 1000);
    const exchange = async (target: GitHubDouble, jwt: string, installation = INSTALLATION) => {
      const response = await fetch(`${target.url}/api/v3/app/installations/${installation}/access_tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${jwt}` },
      });
      return { status: response.status, body: (await response.json()) as { token?: string; message?: string } };
    };
    const valid = { iat: now - 30, exp: now + 540, iss: APP_ID };
    expect(await exchange(double, appJwt(valid))).toMatchObject({
      status: 201,
      body: { token: matchers.stringMatching(/^ghs_/), repository_selection: "all" },
    });
    expect(await exchange(double, appJwt({ ...valid, exp: now - 1 }))).toMatchObject({ status: 401 });
    expect(await exchange(double, appJwt({ ...valid, iss: APP_ID + 1 }))).toMatchObject({ status: 401, body: { message: "Integration not found" } });
    expect(
      await exchange(double, appJwt(valid, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string)),
    ).toMatchObject({ status: 401 });
    expect(await exchange(double, appJwt(valid), 12345)).toMatchObject({ status: 404 });

    const shortLived = await startGitHubDouble({ appId: APP_ID, appPublicKey: keys.publicKey, tokenTtlSeconds: 0 });
    try {
      shortLived.addRepository({ owner: "acme", name: "widgets", id: 1296269, path: repoDir, installationId: INSTALLATION });
      const { body } = await exchange(shortLived, appJwt(valid));
      const response = await fetch(`${shortLived.url}/api/v3/repos/acme/widgets/collaborators/x/permission`, {
        headers: { authorization: `token ${body.token}` },
      });
      expect(response.status).toBe(401);
      expect(shortLived.violations).toEqual([]);
    } finally {
      await shortLived.close();
    }
    expect(takeViolations()).toEqual([]);
  });

  it("creates, updates and reads issue comments, and reacts like GitHub (201 new, 200 existing)", async () => {
    const created = await octokit.rest.issues.createComment({ ...repo, issue_number: 12, body: "Bisecting…" });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({
      body: "Bisecting…",
      user: { login: "bisect-bot[bot]", type: "Bot" },
      performed_via_github_app: { slug: "bisect-bot" },
    });
    expect(created.data.id).toBeGreaterThanOrEqual(1000);
    const updated = await octokit.rest.issues.updateComment({ ...repo, comment_id: created.data.id, body: "Done: abc123" });
    expect(updated.data.body).toBe("Done: abc123");
    expect((await octokit.rest.issues.getComment({ ...repo, comment_id: created.data.id })).data.body).toBe("Done: abc123");
    expect(double.comments(REPO, 12)).toEqual([
      { id: created.data.id, issueNumber: 12, body: "Done: abc123", user: "bisect-bot[bot]", history: ["Bisecting…", "Done: abc123"] },
    ]);

    const command = double.addComment(REPO, 12, { body: "/bisect good=v1 bad=main", user: "alice" });
    const first = await octokit.rest.reactions.createForIssueComment({ ...repo, comment_id: command, content: "eyes" });
    const again = await octokit.rest.reactions.createForIssueComment({ ...repo, comment_id: command, content: "eyes" });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.data.id).toBe(first.data.id);
    await octokit.rest.reactions.createForIssueComment({ ...repo, comment_id: command, content: "rocket" });
    expect(double.reactions(REPO, command)).toEqual(["eyes", "rocket"]);
    const fromWebhook = double.addComment(REPO, 12, { body: "/bisect", user: "alice", id: 3_000_000_001 });
    expect((await octokit.rest.reactions.createForIssueComment({ ...repo, comment_id: fromWebhook, content: "+1" })).status).toBe(201);
    await expect(octokit.rest.reactions.createForIssueComment({ ...repo, comment_id: 3_000_000_002, content: "+1" })).rejects.toMatchObject({ status: 404 });
    expect((await octokit.rest.issues.getComment({ ...repo, comment_id: command })).data).toMatchObject({
      author_association: "COLLABORATOR",
      reactions: { total_count: 2, eyes: 1, rocket: 1 },
    });
    await expect(octokit.rest.issues.getComment({ ...repo, comment_id: 999_999 })).rejects.toMatchObject({ status: 404 });
    expect(takeViolations()).toEqual([]);
  });

  it("serves many installations' repositories from one frozen git directory, answering each git question once", async () => {
    // Its own directory: a frozen directory stays frozen for the rest of the process.
    const frozenDir = join(dir, "frozen");
    await mkdir(frozenDir);
    const frozenShas = await buildRepo(
      frozenDir,
      [
        { id: "a", parents: [], files: { "README.md": "# frozen\n" } },
        { id: "b", parents: ["a"] },
      ],
      { branches: { main: "b" } },
    );
    for (const k of [1, 2, 3]) {
      double.addRepository({ owner: `org-${k}`, name: "widgets", id: 5000 + k, path: frozenDir, installationId: 500 + k, frozen: true });
    }
    const compare = async (k: number) =>
      (
        await client(double, keys.privateKey, 500 + k).rest.repos.compareCommitsWithBasehead({
          owner: `org-${k}`,
          repo: "widgets",
          basehead: `${frozenShas.get("a")}...main`,
        })
      ).data;
    for (const k of [1, 2, 3]) expect(await compare(k)).toMatchObject({ status: "ahead", ahead_by: 1, commits: [{ sha: frozenShas.get("b") }] });
    // Each installation sees its own repository only.
    await expect(
      client(double, keys.privateKey, 501).rest.repos.compareCommitsWithBasehead({ owner: "org-2", repo: "widgets", basehead: "main...main" }),
    ).rejects.toMatchObject({ status: 404 });
    // The promise broken on purpose: main moves, and the frozen answers do not.
    const tree = (await git(frozenDir, ["rev-parse", "main^{tree}"])).stdout.trim();
    const c = (await git(frozenDir, ["commit-tree", "-p", frozenShas.get("b")!, "-m", "c", tree])).stdout.trim();
    await git(frozenDir, ["update-ref", "refs/heads/main", c]);
    expect(await compare(3)).toMatchObject({ ahead_by: 1, commits: [{ sha: frozenShas.get("b") }] });
    // An unfrozen repository asks git every time.
    await git(repoDir, ["update-ref", "refs/heads/moving", shas.get("c")!]);
    expect((await octokit.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: "v1...moving" })).data).toMatchObject({ ahead_by: 1 });
    await git(repoDir, ["update-ref", "refs/heads/moving", shas.get("d")!]);
    expect((await octokit.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: "v1...moving" })).data).toMatchObject({ ahead_by: 2 });
    await git(repoDir, ["update-ref", "-d", "refs/heads/moving"]);
    expect(takeViolations()).toEqual([]);
  });

  it("compares like git: ahead, behind, diverged, identical, per_page=1, unknown ref 404", async () => {
    const compare = async (basehead: string, extra: { per_page?: number } = {}) =>
      (await octokit.rest.repos.compareCommitsWithBasehead({ ...repo, basehead, ...extra })).data;
    const ahead = await compare("v1...main");
    expect(ahead).toMatchObject({
      status: "ahead",
      ahead_by: 3,
      behind_by: 0,
      total_commits: 3,
      merge_base_commit: { sha: shas.get("b") },
      base_commit: { sha: shas.get("b") },
    });
    expect(ahead.commits.map((c) => c.sha)).toEqual(["c", "d", "e"].map((id) => shas.get(id)));
    expect(await compare("main...v1")).toMatchObject({ status: "behind", ahead_by: 0, behind_by: 3 });
    const diverged = await compare(`main...${shas.get("g")}`, { per_page: 1 });
    expect(diverged).toMatchObject({
      status: "diverged",
      ahead_by: 2,
      behind_by: 2,
      total_commits: 2,
      merge_base_commit: { sha: (await git(repoDir, ["merge-base", "main", "feature"])).stdout.trim() },
    });
    expect(diverged.commits.map((c) => c.sha)).toEqual([shas.get("f")]);
    expect(await compare("main...main")).toMatchObject({ status: "identical", ahead_by: 0, behind_by: 0, commits: [] });
    await expect(compare("main...nope")).rejects.toMatchObject({ status: 404, response: { data: { message: "Not Found" } } });
    expect(double.requests.filter((r) => r.route === "GET /repos/{owner}/{repo}/compare/{basehead}").map((r) => r.query)).toContainEqual({ per_page: "1" });
    expect(takeViolations()).toEqual([]);
  });
});

describe("workflow dispatch and runs", () => {
  const inputs = { job_id: "job-1", good: "v1", bad: "main", command: "npm test" };

  it("answers 200 with the run id when asked for run details, 204 otherwise, and records both runs", async () => {
    const withDetails = await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
      ...repo,
      workflow_id: "bisect.yml",
      ref: "main",
      inputs,
      return_run_details: true,
    });
    expect(withDetails.status).toBe(200);
    const runId = Number(withDetails.data.workflow_run_id);
    expect(withDetails.data.run_url).toBe(`${double.url}/api/v3/repos/acme/widgets/actions/runs/${runId}`);
    const run = double.runs.find((r) => r.id === runId);
    expect(run).toMatchObject({
      repository: REPO,
      workflow: "bisect.yml",
      ref: "main",
      headSha: shas.get("e"),
      displayTitle: "bisect job-1",
      status: "queued",
      conclusion: null,
      inputs: { ...inputs, mode: "bisect", commits: "", options: "{}" },
    });

    const without = await octokit.rest.actions.createWorkflowDispatch({
      ...repo,
      workflow_id: "bisect.yml",
      ref: "feature",
      inputs: { ...inputs, job_id: "job-2" },
    });
    expect(without.status).toBe(204);
    expect(double.dispatches.map((d) => [d.ref, d.returnRunDetails, d.status])).toEqual([
      ["main", true, 200],
      ["feature", false, 204],
    ]);

    const listed = await octokit.rest.actions.listWorkflowRuns({
      ...repo,
      workflow_id: "bisect.yml",
      event: "workflow_dispatch",
      created: `>=${run!.createdAt}`,
      per_page: 10,
    });
    expect(listed.data.total_count).toBe(2);
    expect(listed.data.workflow_runs.map((r) => r.display_title)).toEqual(["bisect job-2", "bisect job-1"]);
    expect(listed.data.workflow_runs[0]).toMatchObject({
      head_branch: "feature",
      head_sha: shas.get("g"),
      path: ".github/workflows/bisect.yml",
      event: "workflow_dispatch",
      run_attempt: 1,
    });
    expect((await octokit.rest.actions.listWorkflowRunsForRepo({ ...repo, branch: "main" })).data.workflow_runs.map((r) => r.id)).toEqual([runId]);

    double.setRunStatus(runId, "in_progress");
    expect((await octokit.rest.actions.getWorkflowRun({ ...repo, run_id: runId })).data).toMatchObject({ id: runId, status: "in_progress", conclusion: null });
    expect((await octokit.rest.actions.cancelWorkflowRun({ ...repo, run_id: runId })).status).toBe(202);
    expect((await octokit.rest.actions.getWorkflowRun({ ...repo, run_id: runId })).data).toMatchObject({ status: "completed", conclusion: "cancelled" });
    await expect(octokit.rest.actions.cancelWorkflowRun({ ...repo, run_id: runId })).rejects.toMatchObject({ status: 409 });
    await expect(octokit.rest.actions.getWorkflowRun({ ...repo, run_id: 1 })).rejects.toMatchObject({ status: 404 });
    expect(takeViolations()).toEqual([]);
  });

  it("refuses what GitHub refuses: sha refs, missing workflows, non-string, unexpected or oversized inputs", async () => {
    const attempt = (body: { ref: string; inputs?: Record<string, unknown>; workflow_id?: string }) =>
      octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", { ...repo, workflow_id: "bisect.yml", ...body }).then(
        (r) => ({ status: r.status, message: "" }),
        (e: { status: number; response: { data: { message: string } } }) => ({ status: e.status, message: e.response.data.message }),
      );
    expect(await attempt({ ref: shas.get("e")!, inputs })).toEqual({ status: 422, message: `No ref found for: ${shas.get("e")}` });
    expect(await attempt({ ref: "no-workflow", inputs })).toMatchObject({ status: 404 });
    expect(await attempt({ ref: "main", inputs, workflow_id: "other.yml" })).toMatchObject({ status: 404 });
    expect(await attempt({ ref: "main", inputs: { ...inputs, job_id: 7 } })).toEqual({
      status: 422,
      message: "Invalid request.\n\nFor 'properties/job_id', 7 is not a string.",
    });
    expect(await attempt({ ref: "main", inputs: { ...inputs, command: "x".repeat(70_000) } })).toEqual({ status: 422, message: "inputs are too large." });
    expect(await attempt({ ref: "main", inputs: { ...inputs, jobid: "x" } })).toEqual({ status: 422, message: 'Unexpected inputs provided: ["jobid"]' });
    expect(await attempt({ ref: "refs/tags/v1", inputs })).toEqual({ status: 204, message: "" });
    expect(double.runs.at(-1)).toMatchObject({ headBranch: "v1", headSha: shas.get("b") });
    // GitHub's behaviour, not a misuse of its API description.
    expect(takeViolations()).toEqual([]);
  });

  it("in GHES mode refuses return_run_details with 422, as GHES 3.19 does, and accepts the plain dispatch", async () => {
    double.ghes = true;
    const refused = await octokit
      .request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
        ...repo,
        workflow_id: "bisect.yml",
        ref: "main",
        inputs,
        return_run_details: true,
      })
      .catch((e: { status: number; response: { data: unknown } }) => e);
    expect(refused).toMatchObject({ status: 422, response: { data: { message: 'Invalid request.\n\n"return_run_details" is not a permitted key.' } } });
    const plain = await octokit.rest.actions.createWorkflowDispatch({ ...repo, workflow_id: "bisect.yml", ref: "main", inputs });
    expect(plain.status).toBe(204);
    expect(takeViolations()).toEqual([]);
  });
});

describe("artifacts, jobs and run webhooks", () => {
  const RESULT = {
    schema: 1,
    verdict: "culprit",
    culprit: { sha: "c".repeat(40), confidence: 1 },
    candidates: ["c".repeat(40)],
    probes: [],
    tested: 3,
    rounds: 3,
  };

  /** Dispatches bisect.yml on main for `jobId` and answers the run. */
  async function dispatchRun(jobId: string) {
    const response = await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
      ...repo,
      workflow_id: "bisect.yml",
      ref: "main",
      inputs: { job_id: jobId, good: "v1", bad: "main", command: "npm test" },
      return_run_details: true,
    });
    return double.runs.find((r) => r.id === Number(response.data.workflow_run_id))!;
  }

  it("lists a completed run's artifact and downloads it through a 302 to storage that gets no token", async () => {
    const run = await dispatchRun("art-1");
    double.startRun(run.id);
    const progress = await octokit.rest.actions.listJobsForWorkflowRun({ ...repo, run_id: run.id });
    expect(progress.data).toMatchObject({
      total_count: 1,
      jobs: [{ name: "bisect", run_id: run.id, status: "in_progress", conclusion: null, head_sha: run.headSha, workflow_name: "Bisect" }],
    });
    expect(progress.data.jobs[0]!.steps!.map((s) => s.status)).toEqual(["completed", "completed", "in_progress", "queued", "queued"]);
    expect((await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id })).data).toEqual({ total_count: 0, artifacts: [] });

    const zip = resultZip("art-1", RESULT);
    const { artifact } = double.completeRun(run.id, { conclusion: "success", artifact: { zip } });
    expect(artifact).toMatchObject({ name: "bisect-result-art-1", runId: run.id, sizeInBytes: zip.length });
    const listed = await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id, name: "bisect-result-art-1" });
    expect(listed.data.total_count).toBe(1);
    expect(listed.data.artifacts[0]).toEqual({
      id: artifact!.id,
      node_id: matchers.any(String),
      name: "bisect-result-art-1",
      size_in_bytes: zip.length,
      url: `${double.url}/api/v3/repos/acme/widgets/actions/artifacts/${artifact!.id}`,
      archive_download_url: `${double.url}/api/v3/repos/acme/widgets/actions/artifacts/${artifact!.id}/zip`,
      expired: false,
      created_at: matchers.any(String),
      expires_at: matchers.any(String),
      updated_at: matchers.any(String),
      digest: `sha256:${createHash("sha256").update(zip).digest("hex")}`,
      workflow_run: { id: run.id, repository_id: 1296269, head_repository_id: 1296269, head_branch: "main", head_sha: shas.get("e") },
    });
    expect((await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id, name: "bisect-result-other" })).data.total_count).toBe(0);
    expect((await octokit.rest.actions.getArtifact({ ...repo, artifact_id: artifact!.id })).data).toEqual(listed.data.artifacts[0]);

    // Octokit's fetch follows the 302 to the storage origin and drops the token on the way.
    const before = double.callCounts();
    const download = await octokit.rest.actions.downloadArtifact({ ...repo, artifact_id: artifact!.id, archive_format: "zip" });
    expect(download.status).toBe(200);
    expect(download.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_blobs\//);
    expect(new URL(download.url).origin).toBe(double.blobUrl);
    expect(download.headers["content-type"]).toBe("application/zip");
    const bytes = Buffer.from(download.data as ArrayBuffer);
    expect(bytes.equals(zip)).toBe(true);
    expect(double.requests.at(-1)).toMatchObject({ route: BLOB_ROUTE, status: 200, withAuthorization: false });
    const after = double.callCounts();
    const archiveRoute = "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}";
    expect((after[archiveRoute] ?? 0) - (before[archiveRoute] ?? 0)).toBe(1);
    expect((after[BLOB_ROUTE] ?? 0) - (before[BLOB_ROUTE] ?? 0)).toBe(1);
    if (hasUnzip) {
      expect((await zipTool(bytes, "unzip", ["-t"])).status).toBe(0);
      expect((await zipTool(bytes, "unzip", ["-p"], ["bisect-result-art-1.json"])).out).toBe(JSON.stringify(RESULT));
    }

    // Without following: the Location is a URL that needs no credentials, and is good for a minute only.
    const manual = await octokit.request("GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", {
      ...repo,
      artifact_id: artifact!.id,
      archive_format: "zip",
      request: { redirect: "manual" },
    });
    expect(manual.status).toBe(302);
    const location = String(manual.headers.location);
    const plain = await fetch(location);
    expect(plain.status).toBe(200);
    expect(Buffer.from(await plain.arrayBuffer()).equals(zip)).toBe(true);
    const forged = await fetch(location.replace(/_blobs\/[^?]+/, "_blobs/forged"));
    expect(forged.status).toBe(403);
    expect(await forged.text()).toMatch(/AuthenticationFailed/);
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      expect((await fetch(location)).status).toBe(403);
    } finally {
      vi.useRealTimers();
    }

    const done = await octokit.rest.actions.listJobsForWorkflowRun({ ...repo, run_id: run.id, filter: "latest" });
    expect(done.data.jobs[0]).toMatchObject({ status: "completed", conclusion: "success", completed_at: run.updatedAt, runner_name: "GitHub Actions 1" });
    expect((await octokit.rest.actions.getWorkflowRun({ ...repo, run_id: run.id })).data).toMatchObject({ status: "completed", conclusion: "success" });
    expect(takeViolations()).toEqual([]);
  });

  it("declares sizes it does not serve, serves non-zips, pages, answers 410 when expired and fails storage on demand", async () => {
    const run = await dispatchRun("art-2");
    const zip = resultZip("art-2", RESULT);
    const { artifact: lying } = double.completeRun(run.id, {
      conclusion: "failure",
      artifact: { zip, sizeOverride: 1 << 30, serveBytes: Buffer.from("<html>not a zip</html>") },
    });
    const expired = double.addArtifact(run.id, { name: "bisect-result-art-0", zip, expired: true });
    const listed = await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id });
    expect(listed.data.artifacts.map((a) => [a.name, a.size_in_bytes, a.expired])).toEqual([
      ["bisect-result-art-0", zip.length, true],
      ["bisect-result-art-2", 1 << 30, false],
    ]);
    expect(Date.parse(listed.data.artifacts[0]!.expires_at!)).toBeLessThan(Date.now());
    const page = await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id, direction: "asc", per_page: 1 });
    expect(page.data.artifacts.map((a) => a.id)).toEqual([lying!.id]);
    expect(page.headers.link).toMatch(/page=2>; rel="next"/);

    const served = await octokit.rest.actions.downloadArtifact({ ...repo, artifact_id: lying!.id, archive_format: "zip" });
    expect(Buffer.from(served.data as ArrayBuffer).toString()).toBe("<html>not a zip</html>");
    await expect(octokit.rest.actions.downloadArtifact({ ...repo, artifact_id: expired.id, archive_format: "zip" })).rejects.toMatchObject({
      status: 410,
      response: { data: { message: "Artifact has expired" } },
    });
    await expect(octokit.rest.actions.downloadArtifact({ ...repo, artifact_id: lying!.id, archive_format: "tar.gz" })).rejects.toMatchObject({ status: 404 });
    await expect(octokit.rest.actions.getArtifact({ ...repo, artifact_id: 1 })).rejects.toMatchObject({ status: 404 });
    double.failNext(BLOB_ROUTE, 503);
    await expect(octokit.rest.actions.downloadArtifact({ ...repo, artifact_id: lying!.id, archive_format: "zip" })).rejects.toMatchObject({ status: 503 });
    expect(double.requests.at(-1)).toMatchObject({ route: BLOB_ROUTE, status: 503 });
    expect(takeViolations()).toEqual([]);
  });

  it("keeps the first attempt's artifact on a re-run, as upload-artifact v4 refuses the same name, unless overwritten", async () => {
    const run = await dispatchRun("art-3");
    const first = double.completeRun(run.id, { conclusion: "failure", artifact: { zip: resultZip("art-3", { ...RESULT, verdict: "error" }) } }).artifact!;
    double.startRun(run.id, { runAttempt: 2 });
    const rerun = double.completeRun(run.id, { conclusion: "success", artifact: { zip: resultZip("art-3", RESULT) } });
    expect(rerun.artifact).toBe(first);
    expect(rerun.artifact!.runAttempt).toBe(1);
    expect((await octokit.rest.actions.getWorkflowRun({ ...repo, run_id: run.id })).data).toMatchObject({
      run_attempt: 2,
      conclusion: "success",
      previous_attempt_url: `${double.url}/api/v3/repos/acme/widgets/actions/runs/${run.id}/attempts/1`,
    });
    const third = double.completeRun(run.id, {
      conclusion: "success",
      runAttempt: 3,
      artifact: { zip: resultZip("art-3", RESULT), overwrite: true },
    }).artifact!;
    expect(third.id).not.toBe(first.id);
    expect((await octokit.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: run.id })).data.artifacts.map((a) => a.id)).toEqual([third.id]);
    expect((await octokit.rest.actions.listJobsForWorkflowRun({ ...repo, run_id: run.id })).data.jobs[0]).toMatchObject({
      run_attempt: 3,
      id: run.id * 100 + 3,
    });
    expect(() => double.startRun(run.id, { runAttempt: 1 })).toThrow(/attempts only go up/);
    expect(takeViolations()).toEqual([]);
  });

  it("builds workflow_run and workflow_job deliveries of a run that pass GitHub's webhook schema", async () => {
    const run = await dispatchRun("hook-1");
    const where = { id: 1296269, owner: "acme", name: "widgets" };
    expect(() => workflowRunPayload(run, "completed", INSTALLATION, where)).toThrow(/complete it/);
    const requested = workflowRunPayload(run, "requested", INSTALLATION, where, { url: double.url });
    double.startRun(run.id);
    double.completeRun(run.id, { conclusion: "timed_out" });
    // Built after completion, as a late delivery would be: each shows its own moment.
    const inProgress = workflowRunPayload(run, "in_progress", INSTALLATION, where, { url: double.url });
    const completed = workflowRunPayload(run, "completed", INSTALLATION, where, { url: double.url });
    const common = {
      installation: { id: INSTALLATION },
      repository: { id: 1296269, full_name: REPO, name: "widgets", owner: { login: "acme" } },
      sender: { login: "bisect-bot[bot]", type: "Bot" },
      workflow: { id: run.workflowId, path: ".github/workflows/bisect.yml", name: "Bisect" },
    };
    const wr = {
      id: run.id,
      name: "Bisect",
      display_title: "bisect hook-1",
      head_sha: shas.get("e"),
      head_branch: "main",
      path: ".github/workflows/bisect.yml",
      event: "workflow_dispatch",
      run_attempt: 1,
      html_url: `${double.url}/acme/widgets/actions/runs/${run.id}`,
      repository: { id: 1296269, full_name: REPO },
      actor: { login: "bisect-bot[bot]" },
    };
    expect(requested).toMatchObject({ action: "requested", ...common, workflow_run: { ...wr, status: "queued", conclusion: null } });
    expect(inProgress).toMatchObject({ action: "in_progress", ...common, workflow_run: { ...wr, status: "in_progress", conclusion: null } });
    expect(completed).toMatchObject({ action: "completed", ...common, workflow_run: { ...wr, status: "completed", conclusion: "timed_out" } });
    expect(JSON.stringify([requested, inProgress, completed]).match(/.{30}(?:octo-org|Codertocat|\/\/(?:api\.)?github\.com).{10}/g)).toBeNull();

    const restJob = (await octokit.rest.actions.listJobsForWorkflowRun({ ...repo, run_id: run.id })).data.jobs[0]!;
    const jobs = (["queued", "in_progress", "completed"] as const).map((action) => workflowJobPayload(run, action, INSTALLATION, where, { url: double.url }));
    expect(jobs.map((p) => [p.action, (p.workflow_job as { status: string }).status, (p.workflow_job as { conclusion: string | null }).conclusion])).toEqual([
      ["queued", "queued", null],
      ["in_progress", "in_progress", null],
      ["completed", "completed", "timed_out"],
    ]);
    const { workflow: _, ...jobCommon } = common;
    expect(jobs[2]).toMatchObject({ ...jobCommon, workflow_job: { id: restJob.id, run_id: run.id, name: "bisect", head_sha: shas.get("e"), run_attempt: 1 } });
    expect(restJob).toMatchObject({ conclusion: "timed_out" });

    // A conclusion the job enum lacks shows as failure on the job; defaults to github.com links.
    double.completeRun(run.id, { conclusion: "startup_failure" });
    expect(workflowRunPayload(run, "completed", INSTALLATION, where)).toMatchObject({
      workflow_run: { conclusion: "startup_failure", html_url: `https://github.com/acme/widgets/actions/runs/${run.id}` },
    });
    expect(workflowJobPayload(run, "completed", INSTALLATION, where)).toMatchObject({
      workflow_job: { conclusion: "failure", url: matchers.stringMatching(/^https:\/\/api\.github\.com\/repos\/acme\/widgets\/actions\/jobs\//) },
    });
    expect(takeViolations()).toEqual([]);
  });
});

describe("CI runs", () => {
  const CI = "acme/ci";
  const ciRepo = { owner: "acme", repo: "ci" };
  const where = { id: 4321, owner: "acme", name: "ci" };
  let ci: Map<string, string>;

  beforeAll(async () => {
    //   a - b - c - d   main (ci.yml, named "CI", from a on)
    //        \
    //         e         feature
    const ciDir = join(dir, "ci");
    await mkdir(ciDir);
    const ciYml = "name: CI\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n";
    ci = await buildRepo(
      ciDir,
      [
        { id: "a", parents: [], files: { ".github/workflows/ci.yml": ciYml } },
        { id: "b", parents: ["a"] },
        { id: "c", parents: ["b"] },
        { id: "d", parents: ["c"] },
        { id: "e", parents: ["b"] },
      ],
      { branches: { main: "d", feature: "e" } },
    );
    double.addRepository({ owner: "acme", name: "ci", id: where.id, path: ciDir, installationId: INSTALLATION });
  });

  it("lists runs GitHub started itself newest first, filtered by branch, status, event and head_sha", async () => {
    const green = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("b")!, conclusion: "success" });
    const red = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("c")!, conclusion: "failure" });
    const feature = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("e")!, conclusion: "success", branch: "feature", actor: "alice" });
    const running = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("d")!, conclusion: null });
    const pr = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("e")!, conclusion: "failure", branch: "feature", event: "pull_request" });
    // A workflow file the head commit lacks: the run is named after its path.
    const lint = double.addCiRun(CI, { workflow: "lint.yml", headSha: ci.get("d")!, conclusion: "success" });
    expect(green).toMatchObject({
      repository: CI,
      workflow: "ci.yml",
      path: ".github/workflows/ci.yml",
      name: "CI",
      displayTitle: "b",
      headBranch: "main",
      headSha: ci.get("b"),
      event: "push",
      status: "completed",
      conclusion: "success",
      runNumber: 1,
      runAttempt: 1,
      actor: "pusher",
      inputs: {},
    });
    expect(running).toMatchObject({ status: "in_progress", conclusion: null, runNumber: 4 });
    expect(lint).toMatchObject({ name: ".github/workflows/lint.yml", runNumber: 1 });
    expect(lint.workflowId).not.toBe(green.workflowId);
    // Added within a second, still dated one after the other.
    const created = [green, red, feature, running, pr, lint].map((r) => Date.parse(r.createdAt));
    expect(created.every((at, i) => i === 0 || at > created[i - 1]!)).toBe(true);

    const list = async (query: { branch?: string; status?: "completed" | "in_progress" | "failure" | "success"; event?: string; head_sha?: string }) =>
      (await octokit.rest.actions.listWorkflowRuns({ ...ciRepo, workflow_id: "ci.yml", ...query })).data;
    const all = await list({});
    expect(all.total_count).toBe(5);
    expect(all.workflow_runs.map((r) => r.id)).toEqual([pr.id, running.id, feature.id, red.id, green.id]);
    expect(all.workflow_runs.find((r) => r.id === red.id)).toMatchObject({
      name: "CI",
      display_title: "c",
      head_branch: "main",
      head_sha: ci.get("c"),
      event: "push",
      status: "completed",
      conclusion: "failure",
      run_number: 2,
      workflow_id: green.workflowId,
      actor: { login: "pusher", type: "User" },
      head_commit: { id: ci.get("c"), message: "c" },
      repository: { full_name: CI, default_branch: "main" },
    });
    expect((await list({ branch: "main" })).workflow_runs.map((r) => r.id)).toEqual([running.id, red.id, green.id]);
    expect((await list({ branch: "main", status: "completed" })).workflow_runs.map((r) => r.id)).toEqual([red.id, green.id]);
    expect((await list({ branch: "main", status: "success" })).workflow_runs.map((r) => r.id)).toEqual([green.id]);
    expect((await list({ status: "in_progress" })).workflow_runs.map((r) => r.id)).toEqual([running.id]);
    expect((await list({ event: "pull_request" })).workflow_runs.map((r) => r.id)).toEqual([pr.id]);
    expect((await list({ head_sha: ci.get("e")!, event: "push" })).workflow_runs.map((r) => [r.id, r.actor?.login])).toEqual([[feature.id, "alice"]]);
    // By numeric workflow id, paged.
    const page = await octokit.rest.actions.listWorkflowRuns({ ...ciRepo, workflow_id: green.workflowId, per_page: 2, page: 2 });
    expect(page.data.workflow_runs.map((r) => r.id)).toEqual([feature.id, red.id]);
    expect(page.headers.link).toMatch(/page=3>; rel="next"/);
    expect((await octokit.rest.actions.getWorkflowRun({ ...ciRepo, run_id: lint.id })).data).toMatchObject({
      name: ".github/workflows/lint.yml",
      path: ".github/workflows/lint.yml",
      run_number: 1,
    });

    expect(() => double.addCiRun(CI, { workflow: "ci.yml", headSha: "f".repeat(40), conclusion: "success" })).toThrow(/has no commit/);
    expect(() => double.addCiRun("acme/nope", { workflow: "ci.yml", headSha: ci.get("b")!, conclusion: "success" })).toThrow(/no repository/);
    expect(takeViolations()).toEqual([]);
  });

  it("re-runs a CI run as a later attempt and builds its workflow_run deliveries (event push, sender the pusher)", async () => {
    const run = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("d")!, conclusion: "failure" });
    const first = workflowRunPayload(run, "completed", INSTALLATION, where, { url: double.url });
    expect(first).toMatchObject({
      action: "completed",
      installation: { id: INSTALLATION },
      repository: { id: where.id, full_name: CI },
      sender: { login: "pusher", type: "User" },
      workflow: { id: run.workflowId, name: "CI", path: ".github/workflows/ci.yml" },
      workflow_run: {
        id: run.id,
        name: "CI",
        display_title: "d",
        event: "push",
        head_branch: "main",
        head_sha: ci.get("d"),
        status: "completed",
        conclusion: "failure",
        run_attempt: 1,
        previous_attempt_url: null,
        actor: { login: "pusher" },
      },
    });

    double.completeRun(run.id, { conclusion: "success", runAttempt: 2 });
    expect((await octokit.rest.actions.getWorkflowRun({ ...ciRepo, run_id: run.id })).data).toMatchObject({
      run_attempt: 2,
      status: "completed",
      conclusion: "success",
      event: "push",
      previous_attempt_url: `${double.url}/api/v3/repos/acme/ci/actions/runs/${run.id}/attempts/1`,
    });
    expect(workflowRunPayload(run, "completed", INSTALLATION, where, { url: double.url })).toMatchObject({
      workflow_run: { id: run.id, event: "push", run_attempt: 2, conclusion: "success" },
    });
    const rerun = double.addCiRun(CI, { workflow: "ci.yml", headSha: ci.get("d")!, conclusion: null });
    expect(workflowRunPayload(rerun, "in_progress", INSTALLATION, where, { url: double.url })).toMatchObject({
      workflow_run: { id: rerun.id, event: "push", status: "in_progress", conclusion: null },
    });
    expect(() => workflowRunPayload(rerun, "completed", INSTALLATION, where)).toThrow(/complete it/);
    expect(takeViolations()).toEqual([]);
  });
});

describe("issues", () => {
  const TRACKER = "acme/tracker";
  const tracker = { owner: "acme", repo: "tracker" };

  beforeAll(() => {
    double.addRepository({ owner: "acme", name: "tracker", id: 4322, path: repoDir, installationId: INSTALLATION });
    double.addPullRequest(TRACKER, { number: 40, baseRef: "main", headRef: "feature" });
    double.addComment(TRACKER, 41, { body: "an issue from before", user: "alice" });
  });

  it("opens issues as the app's bot, numbered after pull requests and commented issues, creating missing labels", async () => {
    const created = await octokit.rest.issues.create({
      ...tracker,
      title: "main is red since c",
      body: "Bisect Bot found the culprit.",
      labels: ["bisect", { name: "ci-failure" }],
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`${double.url}/api/v3/repos/acme/tracker/issues/42`);
    expect(created.data).toMatchObject({
      number: 42,
      title: "main is red since c",
      body: "Bisect Bot found the culprit.",
      state: "open",
      state_reason: null,
      comments: 0,
      user: { login: "bisect-bot[bot]", type: "Bot" },
      performed_via_github_app: { slug: "bisect-bot" },
      labels: [
        { name: "bisect", color: "ededed", default: false },
        { name: "ci-failure", color: "ededed", default: false },
      ],
      html_url: `${double.url}/acme/tracker/issues/42`,
    });
    // The same label in another case, and no body.
    const second = await octokit.rest.issues.create({ ...tracker, title: "main is red again", labels: ["BISECT"], assignees: ["alice"] });
    expect(second.data).toMatchObject({ number: 43, body: null, assignee: { login: "alice" }, assignees: [{ login: "alice" }] });
    const [first] = created.data.labels as { id: number; name: string }[];
    expect(second.data.labels).toEqual([expect.objectContaining({ id: first!.id, name: "bisect" })]);
    await expect(octokit.rest.issues.create({ ...tracker, title: " " })).rejects.toMatchObject({
      status: 422,
      response: { data: { message: "Validation Failed", errors: [{ resource: "Issue", field: "title", code: "missing_field" }] } },
    });
    await expect(octokit.rest.issues.create({ ...tracker, title: "huge", body: "x".repeat(65_537) })).rejects.toMatchObject({ status: 422 });
    expect(double.issues(TRACKER)).toEqual([
      {
        number: 42,
        title: "main is red since c",
        body: "Bisect Bot found the culprit.",
        labels: ["bisect", "ci-failure"],
        user: "bisect-bot[bot]",
        createdAt: created.data.created_at,
      },
      { number: 43, title: "main is red again", body: "", labels: ["bisect"], user: "bisect-bot[bot]", createdAt: second.data.created_at },
    ]);
    expect(double.issues(REPO)).toEqual([]);
    expect(takeViolations()).toEqual([]);
  });

  it("lists issues filtered by state, labels, creator and since, sorted and paged", async () => {
    const third = (await octokit.rest.issues.create({ ...tracker, title: "flaky test", labels: ["flaky"] })).data;
    expect(third.number).toBe(44);
    const list = async (query: Omit<Parameters<typeof octokit.rest.issues.listForRepo>[0] & object, "owner" | "repo"> = {}) =>
      (await octokit.rest.issues.listForRepo({ ...tracker, ...query })).data.map((i) => i.number);
    expect(await list()).toEqual([44, 43, 42]);
    expect(await list({ direction: "asc" })).toEqual([42, 43, 44]);
    expect(await list({ labels: "bisect" })).toEqual([43, 42]);
    expect(await list({ labels: "Bisect,ci-failure" })).toEqual([42]);
    expect(await list({ labels: "bisect,flaky" })).toEqual([]);
    expect(await list({ creator: "bisect-bot[bot]" })).toEqual([44, 43, 42]);
    expect(await list({ assignee: "alice" })).toEqual([43]);

    // Records are the tests' to edit: someone else's issue, one updated an hour ago.
    const records = double.issueRecords.filter((i) => i.repository === TRACKER);
    records.find((i) => i.number === 44)!.user = "alice";
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    records.find((i) => i.number === 42)!.updatedAt = hourAgo;
    expect(await list({ creator: "alice" })).toEqual([44]);
    expect(await list({ creator: "bisect-bot[bot]" })).toEqual([43, 42]);
    expect(await list({ since: new Date(Date.now() - 60_000).toISOString() })).toEqual([44, 43]);
    expect(await list({ since: hourAgo })).toEqual([44, 43, 42]);
    expect(await list({ sort: "updated", direction: "asc" })).toEqual([42, 43, 44]);

    const closed = await octokit.rest.issues.update({ ...tracker, issue_number: 43, state: "closed", state_reason: "not_planned" });
    expect(closed.data).toMatchObject({ state: "closed", state_reason: "not_planned", closed_at: matchers.any(String) });
    expect(await list()).toEqual([44, 42]);
    expect(await list({ state: "closed" })).toEqual([43]);
    expect(await list({ state: "all", labels: "bisect" })).toEqual([43, 42]);

    const page = await octokit.rest.issues.listForRepo({ ...tracker, state: "all", per_page: 2 });
    expect(page.data.map((i) => i.number)).toEqual([44, 43]);
    expect(page.headers.link).toMatch(/page=2>; rel="next"/);
    const paged = await octokit.paginate(octokit.rest.issues.listForRepo, { ...tracker, state: "all", per_page: 1 });
    expect(paged.map((i) => i.number)).toEqual([44, 43, 42]);
    expect(takeViolations()).toEqual([]);
  });

  it("gets an issue the app opened and comments on it (its comments count and updated_at follow)", async () => {
    const before = (await octokit.rest.issues.get({ ...tracker, issue_number: 42 })).data;
    expect(before).toMatchObject({ number: 42, title: "main is red since c", comments: 0, labels: [{ name: "bisect" }, { name: "ci-failure" }] });
    const comment = await octokit.rest.issues.createComment({ ...tracker, issue_number: 42, body: "Re-running CI on c." });
    expect(comment.data).toMatchObject({ user: { login: "bisect-bot[bot]" }, issue_url: `${double.url}/api/v3/repos/acme/tracker/issues/42` });
    expect((await octokit.rest.issues.listComments({ ...tracker, issue_number: 42 })).data.map((c) => c.body)).toEqual(["Re-running CI on c."]);
    const after = (await octokit.rest.issues.get({ ...tracker, issue_number: 42 })).data;
    expect(after.comments).toBe(1);
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
    expect(double.comments(TRACKER, 42)).toMatchObject([{ body: "Re-running CI on c.", user: "bisect-bot[bot]" }]);
    // A pull request's number, a number only comments were seeded on, an unknown one.
    for (const issue_number of [40, 41, 999]) {
      await expect(octokit.rest.issues.get({ ...tracker, issue_number })).rejects.toMatchObject({ status: 404 });
    }
    expect(takeViolations()).toEqual([]);
  });
});

describe("zip", () => {
  it("writes archives unzip accepts: stored, deflated, empty, UTF-8 names", async () => {
    const zip = makeZip([
      { name: "a.json", data: '{"x":1}' },
      { name: "dir/b.txt", data: "hello ".repeat(100), method: "store" },
      { name: "ünï.txt", data: "u" },
      { name: "empty", data: "" },
    ]);
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    expect(zip.readUInt32LE(zip.length - 22)).toBe(0x06054b50);
    expect(zip.readUInt16LE(zip.length - 12)).toBe(4);
    if (!hasUnzip) return;
    expect(await zipTool(zip, "unzip", ["-t"])).toMatchObject({ status: 0 });
    expect((await zipTool(zip, "unzip", ["-p"], ["dir/b.txt"])).out).toBe("hello ".repeat(100));
    expect((await zipTool(zip, "zipinfo", ["-1"])).out).toBe("a.json\ndir/b.txt\nünï.txt\nempty\n");
  });

  it("writes hostile archives as asked: traversal names, symlinks, lying sizes, mismatched names, a 50 MB bomb in 52 KB", async () => {
    const evil = makeZip([
      { name: "../evil.json", data: "x" },
      { name: "/etc/x", data: "y" },
      { name: "a\\b.json", data: "z" },
      { name: "link", data: "/etc/passwd", symlink: true },
      { name: "lie.json", data: "0123456789", declaredSize: 1 << 30 },
      { name: "local.json", centralName: "central.json", data: "{}" },
      { name: "bad-crc.json", data: "{}", declaredCrc: 1 },
    ]);
    const started = Date.now();
    const bomb = makeZip([{ name: "bomb.json", data: { repeat: Buffer.alloc(1 << 20), times: 50 } }]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(bomb.length).toBeLessThan(100_000);
    expect(bomb.readUInt32LE(22)).toBe(50 << 20); // the local header's uncompressed size, truthfully
    expect(() => inflateRawSync(bomb.subarray(30 + "bomb.json".length, bomb.length - 22 - 46 - "bomb.json".length), { maxOutputLength: 1 << 20 })).toThrow(
      /larger than/,
    );
    const many = makeZip(Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}`, data: "" })));
    expect(many.readUInt16LE(many.length - 12)).toBe(2000);
    if (!hasUnzip) return;
    const listing = (await zipTool(evil, "zipinfo", [])).out;
    expect(listing).toMatch(/ \.\.\/evil\.json\n/);
    expect(listing).toMatch(/ \/etc\/x\n/);
    expect(listing).toMatch(/ a\\b\.json\n/);
    expect(listing).toMatch(/^lrwxrwxrwx .* link$/m);
    expect(listing).toMatch(/ 1073741824 .* lie\.json\n/);
    expect(listing).toMatch(/ central\.json\n/);
    const tested = await zipTool(evil, "unzip", ["-t"]);
    expect(tested.status).not.toBe(0);
    expect(tested.out).toMatch(/bad-crc\.json\s+bad CRC/);
    expect(await zipTool(bomb, "unzip", ["-t"])).toMatchObject({ status: 0 });
    expect(await zipTool(many, "unzip", ["-tq"])).toMatchObject({ status: 0 });
  });
});

describe("violations", () => {
  it("records a misspelt route, an undeclared query parameter and a body field of the wrong type", async () => {
    // Routes typed as plain strings, so TypeScript lets the mistakes through to the double.
    const untyped = (route: string, params: Record<string, unknown>) => octokit.request(route, params);
    await expect(octokit.request("GET /repos/{owner}/{repo}/colaborators/{username}/permission", { ...repo, username: "alice" })).rejects.toMatchObject({
      status: 404,
    });
    await expect(octokit.request("GET /repos/{owner}/{repo}/actions/runs", { ...repo, per_pag: 5 })).rejects.toMatchObject({ status: 400 });
    await expect(untyped("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...repo, issue_number: 1, body: 42 })).rejects.toMatchObject({
      status: 422,
    });
    await expect(untyped("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { ...repo, issue_number: 1, bdy: "hi" })).rejects.toMatchObject({
      status: 422,
    });
    await expect(octokit.request("GET /repos/{owner}/{repo}/pulls/{pull_number}", { ...repo, pull_number: 1 })).rejects.toMatchObject({ status: 404 });
    const violations = takeViolations();
    expect(violations).toHaveLength(6);
    expect(violations[0]).toMatch(/GET \/repos\/acme\/widgets\/colaborators\/alice\/permission: no such route/);
    expect(violations[1]).toMatch(/query parameter "per_pag" is not declared/);
    expect(violations[2]).toMatch(/request body: \/body must be string/);
    expect(violations[3]).toMatch(/must have required property 'body'/);
    expect(violations[4]).toMatch(/field "bdy" is not declared/);
    expect(violations[5]).toMatch(/GET \/repos\/\{owner\}\/\{repo\}\/pulls\/\{pull_number\} .* not served by the double/);
  });

  it("checks its own responses against the description (so fixtures stay realistic)", async () => {
    const checker = await loadChecker();
    const match = checker.match("GET", "/repos/acme/widgets/issues/comments/1")!;
    expect(match).toMatchObject({
      route: "GET /repos/{owner}/{repo}/issues/comments/{comment_id}",
      params: { owner: "acme", repo: "widgets", comment_id: "1" },
    });
    expect(checker.checkResponse(match, 200, { id: "1" }).join("\n")).toMatch(/response must have required property 'node_id'/);
    expect(checker.checkResponse(match, 201, {})).toEqual([expect.stringMatching(/answered .* with 201, which the description does not declare/)]);
    expect(checker.checkResponse(match, 404, { message: "Not Found" })).toEqual([]);
  });
});

describe("GraphQL", () => {
  it("resolves object(expression) with git, to null when unknown, with typed commits, tags, trees and blobs", async () => {
    double.addUser("author@example.com", "octo-author");
    const result = await octokit.graphql<{
      repository: Record<string, { oid: string; [k: string]: unknown } | null> & { nameWithOwner: string; databaseId: number };
    }>(
      `query($owner: String!, $name: String!) {
        repository(owner: $owner, name: $name) {
          nameWithOwner databaseId
          back: object(expression: "main~2") { __typename oid ... on Commit { abbreviatedOid messageHeadline committedDate author { name email user { login } } } }
          missing: object(expression: "main~99") { oid }
          tag: object(expression: "v1") { __typename oid ... on Tag { name message target { __typename oid } } }
          tree: object(expression: "main:.github") { __typename oid ... on Tree { entries { name type path } } }
          blob: object(expression: "main:bin/blob") { __typename oid ... on Blob { text byteSize isBinary isTruncated } }
        }
      }`,
      { owner: "acme", name: "widgets" },
    );
    const r = result.repository;
    expect(r.nameWithOwner).toBe(REPO);
    expect(r.databaseId).toBe(1296269);
    expect(r.back).toMatchObject({
      __typename: "Commit",
      oid: (await git(repoDir, ["rev-parse", "main~2"])).stdout.trim(),
      messageHeadline: "c",
      author: { email: "author@example.com", user: { login: "octo-author" } },
    });
    expect(r.back!.oid).toBe(shas.get("c"));
    expect(r.missing).toBeNull();
    expect(r.tag).toMatchObject({
      __typename: "Tag",
      oid: (await git(repoDir, ["rev-parse", "v1"])).stdout.trim(),
      name: "v1",
      message: "release one\n",
      target: { __typename: "Commit", oid: shas.get("b") },
    });
    expect(r.tree).toMatchObject({ __typename: "Tree", entries: [{ name: "workflows", type: "tree", path: ".github/workflows" }] });
    expect(r.blob).toMatchObject({ __typename: "Blob", text: null, byteSize: 8, isBinary: true, isTruncated: false });
    expect(takeViolations()).toEqual([]);
  });

  it("resolves the default branch, refs, a file at the tip, pull requests and associated pull requests", async () => {
    double.addPullRequest(REPO, { number: 7, baseRef: "main", headRef: "feature", title: "Feature", author: "alice" });
    double.addPullRequest(REPO, { number: 5, baseRef: "main", headRef: "main", title: "Old", mergeCommitSha: shas.get("d")! });
    const data = await octokit.graphql<{ repository: Record<string, unknown> }>(`{
      repository(owner: "acme", name: "widgets") {
        defaultBranchRef { name target { oid ... on Commit { file(path: ".github/workflows/bisect.yml") { name type object { ... on Blob { text } } } missing: file(path: "nope") { name } } } }
        branch: ref(qualifiedName: "feature") { name prefix target { oid } }
        tag: ref(qualifiedName: "refs/tags/v1") { name prefix target { __typename oid } }
        noRef: ref(qualifiedName: "refs/heads/nope") { name }
        pullRequest(number: 7) { number baseRefName baseRefOid headRefName headRefOid headRepository { nameWithOwner } isCrossRepository state author { login } }
        merged: object(expression: "main~1") { ... on Commit { associatedPullRequests(first: 5) { nodes { number title url author { login } } } } }
      }
    }`);
    const r = data.repository;
    expect(r.defaultBranchRef).toMatchObject({ name: "main", target: { oid: shas.get("e"), file: { name: "bisect.yml", type: "blob" }, missing: null } });
    expect((r.defaultBranchRef as { target: { file: { object: { text: string } } } }).target.file.object.text).toBe(workflow);
    expect(r.branch).toEqual({ name: "feature", prefix: "refs/heads/", target: { oid: shas.get("g") } });
    expect(r.tag).toMatchObject({ name: "v1", prefix: "refs/tags/", target: { __typename: "Tag" } });
    expect(r.noRef).toBeNull();
    expect(r.pullRequest).toEqual({
      number: 7,
      baseRefName: "main",
      baseRefOid: shas.get("e"),
      headRefName: "feature",
      headRefOid: shas.get("g"),
      headRepository: { nameWithOwner: REPO },
      isCrossRepository: false,
      state: "OPEN",
      author: { login: "alice" },
    });
    expect(r.merged).toEqual({
      associatedPullRequests: { nodes: [{ number: 5, title: "Old", url: `${double.url}/acme/widgets/pull/5`, author: { login: "acme" } }] },
    });
    expect(takeViolations()).toEqual([]);
  });

  it("answers NOT_FOUND for unknown repositories and pull requests without a violation", async () => {
    const error = await octokit.graphql(`{ repository(owner: "acme", name: "nope") { id } }`).catch((e: { errors: unknown[] }) => e);
    expect(error).toMatchObject({
      errors: [{ type: "NOT_FOUND", path: ["repository"], message: "Could not resolve to a Repository with the name 'acme/nope'." }],
    });
    const pr = await octokit
      .graphql(`{ repository(owner: "acme", name: "widgets") { pullRequest(number: 404) { number } } }`)
      .catch((e: { errors: unknown[]; data: unknown }) => e);
    expect(pr).toMatchObject({ data: { repository: { pullRequest: null } }, errors: [{ type: "NOT_FOUND" }] });
    expect(takeViolations()).toEqual([]);
  });

  it("records a misspelt field as a violation with graphql-js's error", async () => {
    const error = await octokit.graphql(`{ repository(owner: "acme", name: "widgets") { nameWithOwnr } }`).catch((e: { errors: { message: string }[] }) => e);
    expect(error).toMatchObject({ errors: [{ message: matchers.stringMatching(/Cannot query field "nameWithOwnr" on type "Repository"/) }] });
    expect(takeViolations()).toEqual([expect.stringMatching(/does not match GitHub's schema: Cannot query field "nameWithOwnr"/)]);
  });
});

describe("failNext and callCounts", () => {
  it("fails the next matching requests with the given status and headers, then recovers", async () => {
    const route = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
    double.failNext(route, 502, 2);
    double.failNext("GET /repos/{owner}/{repo}/actions/runs", 403, 1, { "retry-after": "1" });
    double.failNext("POST /graphql", 500);
    const before = double.callCounts();
    await expect(octokit.rest.issues.createComment({ ...repo, issue_number: 3, body: "x" })).rejects.toMatchObject({ status: 502 });
    await expect(octokit.rest.issues.createComment({ ...repo, issue_number: 3, body: "x" })).rejects.toMatchObject({ status: 502 });
    expect((await octokit.rest.issues.createComment({ ...repo, issue_number: 3, body: "x" })).status).toBe(201);
    const limited = await octokit.rest.actions
      .listWorkflowRunsForRepo(repo)
      .catch((e: { status: number; response: { headers: Record<string, string>; data: { message: string } } }) => e);
    expect(limited).toMatchObject({
      status: 403,
      response: { headers: { "retry-after": "1" }, data: { message: matchers.stringMatching(/secondary rate limit/) } },
    });
    await expect(octokit.graphql(`{ repository(owner: "acme", name: "widgets") { id } }`)).rejects.toMatchObject({ status: 500 });
    expect((await octokit.graphql<{ repository: { id: string } }>(`{ repository(owner: "acme", name: "widgets") { id } }`)).repository.id).toEqual(
      expect.any(String),
    );
    const after = double.callCounts();
    expect((after[route] ?? 0) - (before[route] ?? 0)).toBe(3);
    expect((after["POST /graphql"] ?? 0) - (before["POST /graphql"] ?? 0)).toBe(2);
    expect(after["POST /app/installations/{installation_id}/access_tokens"]).toBeUndefined();
    expect(takeViolations()).toEqual([]);
  });
});
