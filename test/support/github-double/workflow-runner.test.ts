/**
 * The GitHub double's runner: dispatched runs of bisect.yml really run (checkout, the bundled
 * Action, upload-artifact), and their workflow_run / workflow_job webhooks reach a receiver that
 * stands in for the App, signed and valid against GitHub's schema. Faults delay, drop, duplicate
 * and reorder those webhooks, lose the runner, cancel runs and lose artifacts.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { resultDocumentSchema, type ResultDocument } from "../../../action/src/result-document.js";
import { makeAppRepo, type AppRepo } from "../app-repo.js";
import { git, removeDir, tempDir } from "../dag-repo.js";
import { matchers } from "../matchers.js";
import { evaluateCondition, evaluateExpression, renderTemplate, type ExprScope } from "./expressions.js";
import { startGitHubDouble, type GitHubDouble, type RunnerOptions, type WorkflowRunRecord } from "./index.js";
import { assertWebhookPayload, sign } from "../webhooks.js";

const APP_ID = 5151;
const INSTALLATION = 61;
const SECRET = "runner-webhook-secret";
const OWNER = "acme";
const REPO = "widgets";
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
/** value.txt holds 1 at v1.0 and i+1 at c_i: this fails from c7 on. */
const FAILS_FROM_C7 = 'test "$(cat value.txt)" -lt 8';

const keys = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});

interface Received {
  event: string;
  action: string;
  id: string;
  runId: number;
  conclusion: string | null;
  signatureOk: boolean;
  schemaError: string | null;
  /** The run's status in the double when the delivery arrived. */
  runStatus: string | undefined;
  at: number;
}

/** A stand-in for the App: records deliveries, checks signature and schema, answers `status`. */
async function startReceiver(secret: string) {
  const received: Received[] = [];
  const receiver = { url: "", received, status: 200, server: undefined as unknown as Server };
  receiver.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const payload = JSON.parse(raw) as {
        action: string;
        workflow_run?: { id: number; conclusion: string | null };
        workflow_job?: { run_id: number; conclusion: string | null };
      };
      const event = String(req.headers["x-github-event"]);
      let schemaError: string | null = null;
      try {
        assertWebhookPayload(`webhook-${event.replace(/_/g, "-")}-${payload.action.replace(/_/g, "-")}`, payload);
      } catch (error) {
        schemaError = (error as Error).message;
      }
      const runId = payload.workflow_run?.id ?? payload.workflow_job?.run_id ?? -1;
      received.push({
        event,
        action: payload.action,
        id: String(req.headers["x-github-delivery"]),
        runId,
        runStatus: double.runs.find((r) => r.id === runId)?.status,
        conclusion: payload.workflow_run?.conclusion ?? payload.workflow_job?.conclusion ?? null,
        signatureOk: req.headers["x-hub-signature-256"] === sign(secret, raw),
        schemaError,
        at: Date.now(),
      });
      res.writeHead(receiver.status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/api/github/webhooks`;
  return receiver;
}

let scratch: string;
let repo: AppRepo;
let double: GitHubDouble;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let octokit: InstanceType<typeof ProbotOctokit>;
let runnerOptions: RunnerOptions;

beforeAll(async () => {
  scratch = await tempDir("workflow-runner");
  repo = await makeAppRepo();
  receiver = await startReceiver(SECRET);
  runnerOptions = { webhookUrl: receiver.url, webhookSecret: SECRET, installationId: INSTALLATION };
  double = await startGitHubDouble({ appId: APP_ID, appPublicKey: keys.publicKey, runner: runnerOptions });
  double.addRepository({ owner: OWNER, name: REPO, id: 4040, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION });
  octokit = new ProbotOctokit({
    auth: { appId: APP_ID, privateKey: keys.privateKey, installationId: INSTALLATION },
    baseUrl: `${double.url}/api/v3`,
    retry: { enabled: false },
    throttle: { enabled: false },
    log: silent,
  });
});

afterAll(async () => {
  await double?.close();
  await new Promise((resolve) => receiver?.server.close(resolve));
  await removeDir(scratch);
  await removeDir(repo.dir);
});

beforeEach(() => {
  receiver.received.length = 0;
  receiver.status = 200;
  double.runner.options = runnerOptions;
});

afterEach(async () => {
  await double.runner.idle();
  expect(double.violations.splice(0)).toEqual([]);
});

async function dispatch(inputs: Record<string, string>, repoName = REPO): Promise<number> {
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
    owner: OWNER,
    repo: repoName,
    workflow_id: "bisect.yml",
    ref: "main",
    inputs,
    return_run_details: true,
  });
  return (data as { workflow_run_id: number }).workflow_run_id;
}

const bisectInputs = (jobId: string, extra: Record<string, string> = {}) => ({
  job_id: jobId,
  good: repo.sha["v1.0"]!,
  bad: repo.sha.main!,
  command: FAILS_FROM_C7,
  ...extra,
});

function runOf(id: number): WorkflowRunRecord {
  const run = double.runs.find((r) => r.id === id);
  if (!run) throw new Error(`no run ${id}`);
  return run;
}

/** The single entry of a zip as upload-artifact writes it (local header, stored or deflated). */
function unzipSingle(zip: Buffer): { name: string; data: Buffer } {
  expect(zip.readUInt32LE(0)).toBe(0x04034b50);
  const method = zip.readUInt16LE(8);
  const size = zip.readUInt32LE(18);
  const nameLength = zip.readUInt16LE(26);
  const extra = zip.readUInt16LE(28);
  const start = 30 + nameLength + extra;
  const raw = zip.subarray(start, start + size);
  return { name: zip.subarray(30, 30 + nameLength).toString("utf8"), data: method === 8 ? inflateRawSync(raw) : raw };
}

/** The run's artifacts as the App sees them (list, then download through the storage redirect). */
async function artifactsOf(runId: number, repoName = REPO): Promise<{ name: string; entry: string; text: string }[]> {
  const { data } = await octokit.rest.actions.listWorkflowRunArtifacts({ owner: OWNER, repo: repoName, run_id: runId });
  return Promise.all(
    data.artifacts.map(async (a) => {
      const download = await octokit.rest.actions.downloadArtifact({ owner: OWNER, repo: repoName, artifact_id: a.id, archive_format: "zip" });
      const { name, data: bytes } = unzipSingle(Buffer.from(download.data as ArrayBuffer));
      return { name: a.name, entry: name, text: bytes.toString("utf8") };
    }),
  );
}

async function resultOf(runId: number, jobId: string): Promise<ResultDocument> {
  const artifacts = await artifactsOf(runId);
  expect(artifacts.map((a) => [a.name, a.entry])).toEqual([[`bisect-result-${jobId}`, `bisect-result-${jobId}.json`]]);
  return resultDocumentSchema.parse(JSON.parse(artifacts[0]!.text));
}

/** The deliveries of a run of a one-job workflow. */
const ONE_JOB = [
  "workflow_run.requested",
  "workflow_job.queued",
  "workflow_run.in_progress",
  "workflow_job.in_progress",
  "workflow_job.completed",
  "workflow_run.completed",
];

/** Those of a bisect.yml run in mode bisect: its `probe` job is skipped (one `workflow_job.completed`, conclusion skipped). */
const LIFECYCLE = [
  "workflow_run.requested",
  "workflow_job.queued",
  "workflow_job.completed",
  "workflow_run.in_progress",
  "workflow_job.in_progress",
  "workflow_job.completed",
  "workflow_run.completed",
];

function receivedFor(runId: number): Received[] {
  return receiver.received.filter((r) => r.runId === runId);
}

function expectValidLifecycle(runId: number, conclusion: string, lifecycle = LIFECYCLE): void {
  const got = receivedFor(runId);
  expect(got.map((r) => `${r.event}.${r.action}`)).toEqual(lifecycle);
  expect(got.every((r) => r.signatureOk && r.schemaError === null)).toBe(true);
  expect(got.slice(-2).map((r) => r.conclusion)).toEqual([conclusion, conclusion]);
  if (lifecycle === LIFECYCLE) expect(got[2]!.conclusion).toBe("skipped");
  expect(new Set(got.map((r) => r.id)).size).toBe(got.length);
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether a process is gone (a zombie waiting to be reaped counts as gone). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

describe("a dispatched bisect run", () => {
  it("runs the Action on a clone: the artifact names the culprit, the webhooks arrive in order, signed and valid", async () => {
    const runId = await dispatch(bisectInputs("job-1"));
    await double.runner.idle();
    const run = runOf(runId);
    expect(run).toMatchObject({ status: "completed", conclusion: "success", displayTitle: "bisect job-1" });
    const result = await resultOf(runId, "job-1");
    expect(result).toMatchObject({
      schema: 1,
      jobId: "job-1",
      verdict: "culprit",
      culprit: { sha: repo.sha.c7 },
      range: { bad: repo.sha.main, good: [repo.sha["v1.0"]] },
    });
    // Through the merge: the feature branch's commits are in the range and good.
    expect(result.range.size).toBe(15);
    expect(run.steps?.map((s) => [s.name, s.conclusion])).toEqual([
      ["Check out the full history", "success"],
      ["Bisect", "success"],
      ["Upload the result for Bisect Bot", "success"],
    ]);
    expect(run.steps?.[1]?.summary).toContain(`### First bad commit: [\`${repo.sha.c7!.slice(0, 10)}\`](${double.url}/${OWNER}/${REPO}/commit/${repo.sha.c7})`);
    expect(run.log).toContain(`::notice::First bad commit: ${repo.sha.c7}`);
    expectValidLifecycle(runId, "success");
    expect(double.runner.deliveries.filter((d) => d.runId === runId).map((d) => [d.event, d.action, d.status, d.dropped])).toEqual(
      LIFECYCLE.map((e) => [...e.split("."), 200, false]),
    );
    // The API agrees with the webhooks.
    const { data } = await octokit.rest.actions.getWorkflowRun({ owner: OWNER, repo: REPO, run_id: runId });
    expect(data).toMatchObject({ status: "completed", conclusion: "success", head_sha: repo.sha.main });
  });

  it("passes the inputs as the workflow's with: computes them (fromJSON(options).x || default, toJSON(known))", async () => {
    const known = [{ sha: repo.sha.c3!, verdict: "good" }];
    const options = JSON.stringify({ first_parent: true, parallel: 2, confidence: 0.95, step_timeout: 30, confirm: 1, known, flake_history: "3/40" });
    const [withOptions, withDefaults] = await Promise.all([dispatch(bisectInputs("job-2", { options })), dispatch(bisectInputs("job-3"))]);
    await double.runner.idle();
    const common = {
      "job-id": "job-2",
      good: repo.sha["v1.0"],
      bad: repo.sha.main,
      command: FAILS_FROM_C7,
      mode: "bisect",
      commits: "",
      flaky: "false",
      "find-fix": "false",
    };
    expect(runOf(withOptions).steps?.[1]?.inputs).toEqual({
      ...common,
      "first-parent": "true",
      parallel: "2",
      confidence: "0.95",
      "step-timeout": "30",
      confirm: "1",
      known: JSON.stringify(known, null, 2),
      "flake-history": "3/40",
    });
    expect(runOf(withDefaults).steps?.[1]?.inputs).toEqual({
      ...common,
      "job-id": "job-3",
      "first-parent": "false",
      parallel: "1",
      confidence: "0.99",
      "step-timeout": "0",
      confirm: "0",
      known: "null",
      "flake-history": "",
    });
    const first = await resultOf(withOptions, "job-2");
    expect(first.culprit?.sha).toBe(repo.sha.c7);
    expect(first.range.size).toBe(13); // first parent: c1…c12 and the merge
    expect(first.probes.map((p) => p.sha)).not.toContain(repo.sha.c3);
    // --confirm 1: the culprit and its first parent were re-run once.
    expect(first.confirmation).toEqual({ runs: 1, culpritFailed: 1, parentPassed: 1, verdict: "confirmed" });
    expect((await resultOf(withDefaults, "job-3")).culprit?.sha).toBe(repo.sha.c7);
  });

  it("a command that is not found: the Action's error result is uploaded and the run fails", async () => {
    const runId = await dispatch(bisectInputs("job-4", { command: "no-such-command-for-bisect" }));
    await double.runner.idle();
    expect(runOf(runId).conclusion).toBe("failure");
    expect(runOf(runId).steps?.map((s) => s.conclusion)).toEqual(["success", "failure", "success"]);
    expect(runOf(runId).steps?.[1]?.exitCode).toBe(1);
    const result = await resultOf(runId, "job-4");
    expect(result.verdict).toBe("error");
    expect(result.error).toMatch(/not found/);
    expectValidLifecycle(runId, "failure");
  });

  it("options that are not JSON: the step's with: cannot be evaluated, the run fails without an artifact", async () => {
    const runId = await dispatch(bisectInputs("job-5", { options: "{first_parent: true" }));
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.conclusion).toBe("failure");
    expect(run.steps?.[1]).toMatchObject({ name: "Bisect", outcome: "failure", error: matchers.stringMatching(/^The template is not valid\..*fromJson/) });
    expect(run.steps?.[2]?.conclusion).toBe("success"); // if: always(); no file: a warning
    expect(run.log).toContain("##[warning]No files were found with the provided path");
    expect(await artifactsOf(runId)).toEqual([]);
    expectValidLifecycle(runId, "failure");
  });

  it("cancel kills the Action and the test command it started; the run concludes cancelled, leaving what it knew", async () => {
    const pidFile = join(scratch, "cancel.pids");
    const runId = await dispatch(bisectInputs("job-6", { command: `echo $$ >> ${pidFile}; exec sleep 30` }));
    await until(async () => (await readFile(pidFile, "utf8").catch(() => "")).trim() !== "", "the test command to start");
    expect(runOf(runId).status).toBe("in_progress");
    const cancel = await octokit.rest.actions.cancelWorkflowRun({ owner: OWNER, repo: REPO, run_id: runId });
    expect(cancel.status).toBe(202);
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.conclusion).toBe("cancelled");
    expect(run.steps?.map((s) => s.conclusion)).toEqual(["success", "cancelled", "success"]);
    const pids = (await readFile(pidFile, "utf8")).trim().split("\n").map(Number);
    expect(pids.filter((pid) => !gone(pid))).toEqual([]);
    // The Action heard the cancel: its result says so, with the verdicts it had (none yet).
    expect(await resultOf(runId, "job-6")).toMatchObject({ verdict: "interrupted", reason: "cancelled", probes: [], tested: 0 });
    expectValidLifecycle(runId, "cancelled");
    await expect(octokit.rest.actions.cancelWorkflowRun({ owner: OWNER, repo: REPO, run_id: runId })).rejects.toMatchObject({ status: 409 });
  });

  it("runs at most 4 at once; the others wait queued", async () => {
    // Every probe waits for the gate, so the first four runs stay busy until the test opens it.
    const gate = join(scratch, "gate");
    const held = `while [ ! -e ${gate} ]; do sleep 0.02; done; ${FAILS_FROM_C7}`;
    const ids = await Promise.all([1, 2, 3, 4, 5].map((i) => dispatch(bisectInputs(`job-q${i}`, { command: held }))));
    await until(() => double.runner.executing.length === 4 && double.runner.queued.length === 1, "4 executing and 1 queued");
    const waiting = runOf(double.runner.queued[0]!);
    expect(waiting.status).toBe("queued");
    await until(() => receivedFor(waiting.id).length === 3, "the queued run's first webhooks");
    expect(receivedFor(waiting.id).map((r) => `${r.event}.${r.action}`)).toEqual(LIFECYCLE.slice(0, 3));
    await writeFile(gate, "");
    await double.runner.idle();
    expect(ids.map((id) => runOf(id).conclusion)).toEqual(Array(5).fill("success"));
    for (const id of ids) expectValidLifecycle(id, "success");
  });

  it("records the App's answer; a failed delivery is not retried", async () => {
    receiver.status = 500;
    const runId = await dispatch(bisectInputs("job-7"));
    await double.runner.idle();
    expect(double.runner.deliveries.filter((d) => d.runId === runId).map((d) => d.status)).toEqual(Array(7).fill(500));
    expect(receivedFor(runId)).toHaveLength(7);
  });
});

describe("cancelling a run whose result file already exists", () => {
  it("still uploads it (if: always()) and skips the other steps", async () => {
    const dir = join(scratch, "custom");
    const pidFile = join(scratch, "custom.pid");
    await mkdir(join(dir, ".github/workflows"), { recursive: true });
    await writeFile(
      join(dir, ".github/workflows/bisect.yml"),
      `name: Bisect
run-name: "bisect \${{ inputs.job_id }}"
on:
  workflow_dispatch:
    inputs:
      job_id: { type: string, default: manual }
jobs:
  bisect:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Write a result
        env:
          JOB_ID: \${{ inputs.job_id }}
        run: echo '{"partial":true}' > "$RUNNER_TEMP/bisect-result-$JOB_ID.json"
      - name: Wait
        run: echo $$ > ${pidFile}; exec sleep 30
      - name: Upload
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: bisect-result-\${{ inputs.job_id }}
          path: \${{ runner.temp }}/bisect-result-\${{ inputs.job_id }}.json
      - name: Not after a cancel
        run: echo never
`,
    );
    await git(dir, ["init", "-q", "-b", "main"]);
    await git(dir, ["add", "-A"]);
    await git(dir, ["commit", "-q", "-m", "workflow"]);
    double.addRepository({ owner: OWNER, name: "custom", id: 4041, path: dir, installationId: INSTALLATION });
    const runId = await dispatch({ job_id: "job-8" }, "custom");
    await until(async () => (await readFile(pidFile, "utf8").catch(() => "")).trim() !== "", "the wait step to start");
    await octokit.rest.actions.cancelWorkflowRun({ owner: OWNER, repo: "custom", run_id: runId });
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.conclusion).toBe("cancelled");
    expect(run.steps?.map((s) => [s.name, s.conclusion])).toEqual([
      ["Run actions/checkout@v4", "success"],
      ["Write a result", "success"],
      ["Wait", "cancelled"],
      ["Upload", "success"],
      ["Not after a cancel", "skipped"],
    ]);
    expect(await artifactsOf(runId, "custom")).toEqual([{ name: "bisect-result-job-8", entry: "bisect-result-job-8.json", text: '{"partial":true}\n' }]);
    expect(gone(Number(await readFile(pidFile, "utf8")))).toBe(true);
    expectValidLifecycle(runId, "cancelled", ONE_JOB);
  });
});

describe("faults", () => {
  afterEach(() => {
    double.runner.faults = {};
  });

  it("failRun: the runner is lost; the run fails without running the Action and without an artifact", async () => {
    double.runner.faults = { failRun: true };
    const runId = await dispatch(bisectInputs("job-f1"));
    await double.runner.idle();
    expect(runOf(runId)).toMatchObject({ conclusion: "failure", steps: [] });
    expect(runOf(runId).log).toMatch(/lost communication with the server/);
    expect(await artifactsOf(runId)).toEqual([]);
    expectValidLifecycle(runId, "failure");
  });

  it("cancelRun: GitHub cancels the run while the Action bisects", async () => {
    double.runner.faults = { cancelRun: true, cancelAfterMs: 200 };
    const runId = await dispatch(bisectInputs("job-f2", { command: "sleep 5" }));
    await double.runner.idle();
    expect(runOf(runId).conclusion).toBe("cancelled");
    expect(runOf(runId).steps?.map((s) => s.conclusion)).toEqual(["success", "cancelled", "success"]);
    expectValidLifecycle(runId, "cancelled");
  });

  it("loseArtifact: the run succeeds but has no artifact", async () => {
    double.runner.faults = { loseArtifact: true };
    const runId = await dispatch(bisectInputs("job-f3"));
    await double.runner.idle();
    expect(runOf(runId).conclusion).toBe("success");
    expect(await artifactsOf(runId)).toEqual([]);
    expectValidLifecycle(runId, "success");
  });

  it("dropWebhooks: all, or one event's", async () => {
    double.runner.faults = { dropWebhooks: true };
    const all = await dispatch(bisectInputs("job-f4"));
    await double.runner.idle();
    expect(receivedFor(all)).toEqual([]);
    expect(double.runner.deliveries.filter((d) => d.runId === all).map((d) => [d.dropped, d.status])).toEqual(Array(7).fill([true, null]));
    expect(runOf(all).conclusion).toBe("success"); // only the webhooks are lost

    double.runner.faults = { dropWebhooks: { workflow_job: true } };
    const jobs = await dispatch(bisectInputs("job-f5"));
    await double.runner.idle();
    expect(receivedFor(jobs).map((r) => `${r.event}.${r.action}`)).toEqual(["workflow_run.requested", "workflow_run.in_progress", "workflow_run.completed"]);
  });

  it("dropWebhooks with a probability: the seed makes the choice repeatable", async () => {
    const pattern = async (jobId: string) => {
      double.runner.faults = { dropWebhooks: 0.5, seed: 42 };
      const runId = await dispatch(bisectInputs(jobId));
      await double.runner.idle();
      const mine = double.runner.deliveries.filter((d) => d.runId === runId);
      expect(receivedFor(runId).map((r) => r.id)).toEqual(mine.filter((d) => !d.dropped).map((d) => d.id));
      return mine.map((d) => d.dropped);
    };
    const first = await pattern("job-f6");
    expect(first).toContain(true);
    expect(first).toContain(false);
    expect(await pattern("job-f7")).toEqual(first);
  });

  it("duplicateWebhooks: every delivery arrives twice with the same delivery id", async () => {
    double.runner.faults = { duplicateWebhooks: true };
    const runId = await dispatch(bisectInputs("job-f8"));
    await double.runner.idle();
    const got = receivedFor(runId);
    expect(got.map((r) => `${r.event}.${r.action}`)).toEqual(LIFECYCLE.flatMap((e) => [e, e]));
    for (let i = 0; i < got.length; i += 2) expect(got[i]!.id).toBe(got[i + 1]!.id);
    expect(got.every((r) => r.signatureOk && r.schemaError === null)).toBe(true);
  });

  it("reorderWebhooks: a run's deliveries are held and arrive in reverse order after it completed", async () => {
    double.runner.faults = { reorderWebhooks: true };
    const runId = await dispatch(bisectInputs("job-f9"));
    await double.runner.idle();
    const got = receivedFor(runId);
    expect(got.map((r) => `${r.event}.${r.action}`)).toEqual([...LIFECYCLE].reverse());
    expect(got.map((r) => r.runStatus)).toEqual(Array(7).fill("completed"));
    expect(got.every((r) => r.signatureOk && r.schemaError === null)).toBe(true);
  });

  it("webhookDelayMs: each delivery waits", async () => {
    double.runner.faults = { webhookDelayMs: 120 };
    const runId = await dispatch(bisectInputs("job-f10"));
    await double.runner.idle();
    const at = receivedFor(runId).map((r) => r.at);
    expect(at).toHaveLength(7);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(110);
  });
});

describe("expressions, as the runner evaluates them", () => {
  const scope: ExprScope = { contexts: { inputs: { options: '{"parallel": 3, "flaky": 0, "Known": [1], "first_parent": "false"}', empty: "" }, env: {} } };
  const value = (expression: string) => evaluateExpression(expression, scope);

  it("|| yields an operand, properties match case-insensitively, toJSON pretty-prints", () => {
    expect(value("fromJSON(inputs.options).parallel || 1")).toBe(3);
    expect(value("fromJSON(inputs.options).flaky || false")).toBe(false); // 0 is falsy
    expect(value("fromJSON(inputs.options).first_parent || false")).toBe("false"); // a non-empty string is truthy
    expect(value("fromJSON(inputs.options).confidence || 0.99")).toBe(0.99);
    expect(value("toJSON(fromJSON(inputs.options).known)")).toBe("[\n  1\n]");
    expect(value("toJSON(fromJSON(inputs.options).missing)")).toBe("null");
    expect(value("INPUTS.Empty == ''")).toBe(true);
    expect(value("'ABC' == 'abc' && 1 == '1' && null == 0 && !('a' == 1)")).toBe(true);
    expect(value("format('{0}-{1}{{x}}', 'a', 2)")).toBe("a-2{x}");
    expect(value("contains(fromJSON('[\"A\", \"b\"]'), 'a') && startsWith('Hello', 'he')")).toBe(true);
    expect(() => value("fromJSON(inputs.empty)")).toThrow(/fromJson/);
    expect(() => value("secrets.token")).toThrow(/Unrecognized named-value: 'secrets'/);
  });

  it("templates render to the strings a runner passes; if: implies success()", () => {
    expect(renderTemplate("bisect-result-${{ inputs.options && 'x' }}.json", scope)).toBe("bisect-result-x.json");
    expect(renderTemplate("${{ fromJSON(inputs.options).parallel }}", scope)).toBe("3");
    expect(renderTemplate(0, scope)).toBe("0");
    expect(() => renderTemplate("${{ fromJSON(inputs.options) }}", scope)).toThrow(/mapping was not expected/);
    const failed = { ...scope, status: { failed: true, cancelled: false } };
    expect(evaluateCondition(undefined, failed)).toBe(false);
    expect(evaluateCondition("always()", failed)).toBe(true);
    expect(evaluateCondition("${{ failure() }}", failed)).toBe(true);
    expect(evaluateCondition("inputs.options != ''", failed)).toBe(false);
    expect(evaluateCondition("inputs.options != ''", { ...scope, status: { failed: false, cancelled: false } })).toBe(true);
    expect(evaluateCondition("cancelled()", { ...scope, status: { failed: false, cancelled: true } })).toBe(true);
  });
});

describe("mode probe: one job per commit (a matrix)", () => {
  afterEach(() => {
    double.runner.faults = {};
  });

  const probeInputs = (jobId: string, commits: string[], extra: Record<string, string> = {}) =>
    bisectInputs(jobId, { mode: "probe", commits: JSON.stringify(commits), options: JSON.stringify({ round: 2 }), ...extra });

  /** The run's jobs as the App sees them (REST, checked against GitHub's description by the double). */
  async function jobsOf(runId: number, repoName = REPO) {
    const { data } = await octokit.rest.actions.listJobsForWorkflowRun({ owner: OWNER, repo: repoName, run_id: runId, per_page: 100 });
    expect(data.total_count).toBe(data.jobs.length);
    return data.jobs;
  }

  it("runs the probe job once per commit, each on a shallow checkout of its own commit, each uploading its own result", async () => {
    const commits = [repo.sha.c3!, repo.sha.c7!, repo.sha.c10!];
    const runId = await dispatch(probeInputs("p-1", commits));
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.displayTitle).toBe("bisect p-1 round 2");
    expect(run.jobs?.map((j) => [j.name, j.index, j.total, j.status, j.conclusion])).toEqual([
      ["bisect", 0, 1, "completed", "skipped"],
      ...commits.map((sha, i) => [`probe (${sha})`, i, 3, "completed", run.jobs![i + 1]!.conclusion]),
    ]);
    // Several jobs ran: the run's log holds each job's, its steps are the jobs'.
    expect(run.steps).toBeUndefined();
    const probes = run.jobs!.slice(1);
    for (const [i, job] of probes.entries()) {
      expect(job.matrix).toEqual({ commit: commits[i] });
      expect(job.steps.map((s) => [s.name, s.inputs?.ref ?? s.inputs?.commits ?? s.inputs?.name])).toEqual([
        ["Check out the commit to test", commits[i]],
        ["Test the commit", commits[i]],
        ["Upload the result for Bisect Bot", `bisect-result-p-1-${i}`],
      ]);
      expect(job.steps[0]!.conclusion).toBe("success");
      // checkout's refspec for a sha is the sha itself: one commit, shallow.
      expect(job.log).toContain(`fetch --no-tags --prune --no-recurse-submodules --quiet --depth=1 origin ${commits[i]}\n`);
      expect(job.log).toContain(`[command]/usr/bin/git checkout --quiet --force ${commits[i]}`);
      expect(run.log).toContain(`##[group]Job ${job.name}\n`);
    }
    // Each job uploads under its own index; the Action left its result file (whatever its verdict).
    const artifacts = await artifactsOf(runId);
    const byName = new Map(artifacts.map((a) => [a.name, a]));
    const uploaded = probes.filter((j) => !j.log.includes("No files were found with the provided path"));
    expect([...byName.keys()].sort()).toEqual(uploaded.map((j) => `bisect-result-p-1-${j.index}`));
    for (const job of uploaded) {
      const artifact = byName.get(`bisect-result-p-1-${job.index}`)!;
      expect(artifact.entry).toBe("bisect-result-p-1.json");
      expect(resultDocumentSchema.parse(JSON.parse(artifact.text))).toMatchObject({ schema: 1, jobId: "p-1" });
    }
    // Today the Action's probe mode tests its one commit on the shallow clone: c3 is good, c7 and c10 bad.
    expect(probes.map((j) => j.conclusion)).toEqual(["success", "success", "success"]);
    expect(artifacts.map((a) => a.name).sort()).toEqual(["bisect-result-p-1-0", "bisect-result-p-1-1", "bisect-result-p-1-2"]);
    for (const [i, verdict] of ["good", "bad", "bad"].entries()) {
      const doc = resultDocumentSchema.parse(JSON.parse(byName.get(`bisect-result-p-1-${i}`)!.text));
      expect(doc).toMatchObject({ verdict: "searching", probes: [{ sha: commits[i], verdict }] });
    }
    // Webhooks: per job run queued / in_progress / completed, the skipped job completed only; all valid.
    const got = receivedFor(runId);
    expect(got.every((r) => r.signatureOk && r.schemaError === null)).toBe(true);
    const count = (what: string) => got.filter((r) => `${r.event}.${r.action}` === what).length;
    expect([count("workflow_job.queued"), count("workflow_job.in_progress"), count("workflow_job.completed")]).toEqual([3, 3, 4]);
    expect(got.map((r) => `${r.event}.${r.action}`).filter((e) => e.startsWith("workflow_run"))).toEqual([
      "workflow_run.requested",
      "workflow_run.in_progress",
      "workflow_run.completed",
    ]);
    expect(got.at(-1)!.conclusion).toBe(run.conclusion);
    expect(run.conclusion).toBe(probes.some((j) => j.conclusion === "failure") ? "failure" : "success");
    // The API lists every job with its steps as GitHub shows them.
    const jobs = await jobsOf(runId);
    expect(jobs.map((j) => [j.id, j.name, j.status, j.conclusion])).toEqual(run.jobs!.map((j) => [j.id, j.name, "completed", j.conclusion]));
    expect(jobs[0]).toMatchObject({ steps: [], runner_name: null });
    for (const job of jobs.slice(1)) {
      expect(job.steps!.map((s) => s.name)).toEqual([
        "Set up job",
        "Check out the commit to test",
        "Test the commit",
        "Upload the result for Bisect Bot",
        "Complete job",
      ]);
      expect(job.steps!.every((s) => s.status === "completed" && s.completed_at !== null)).toBe(true);
      expect(job.runner_name).toMatch(/^GitHub Actions \d+$/);
      expect(job.started_at).not.toBeNull();
      expect(job.completed_at).not.toBeNull();
    }
  });

  it("failJob: exactly one matrix job's runner is lost; the other two go on (fail-fast: false), the run fails", async () => {
    const commits = [repo.sha.c2!, repo.sha.c4!, repo.sha.c5!];
    const seen: { name: string; index: number; matrix: Record<string, unknown> }[] = [];
    double.runner.faults = {
      failJob: (job) => {
        seen.push(job);
        return job.index === 1;
      },
    };
    // A command that passes everywhere, so the probes themselves cannot fail.
    const runId = await dispatch(probeInputs("p-2", commits, { command: "true" }));
    await double.runner.idle();
    const run = runOf(runId);
    expect(seen.map((j) => j.index).sort()).toEqual([0, 1, 2]);
    expect(seen.find((j) => j.index === 1)).toEqual({ name: `probe (${commits[1]})`, index: 1, matrix: { commit: commits[1] } });
    const probes = run.jobs!.filter((j) => j.key === "probe");
    expect(probes[1]).toMatchObject({ conclusion: "failure", steps: [] });
    expect(probes[1]!.log).toMatch(/lost communication with the server/);
    expect(run.conclusion).toBe("failure");
    const jobs = await jobsOf(runId);
    expect(jobs.find((j) => j.name === `probe (${commits[1]})`)).toMatchObject({ conclusion: "failure" });
    expect(jobs.find((j) => j.name === `probe (${commits[1]})`)!.steps!.map((s) => [s.name, s.conclusion])).toEqual([
      ["Set up job", "success"],
      ["Check out the commit to test", "skipped"],
      ["Test the commit", "skipped"],
      ["Upload the result for Bisect Bot", "skipped"],
      ["Complete job", "success"],
    ]);
    // The others ran all their steps (their verdicts are the Action's business).
    for (const i of [0, 2]) expect(probes[i]!.steps.map((s) => s.name)).toHaveLength(3);
    expect((await artifactsOf(runId)).map((a) => a.name)).not.toContain("bisect-result-p-2-1");
    const completed = receivedFor(runId).filter((r) => r.event === "workflow_job" && r.action === "completed");
    expect(completed.map((r) => r.conclusion).filter((c) => c === "failure").length).toBeGreaterThanOrEqual(1);
    expect(receivedFor(runId).every((r) => r.signatureOk && r.schemaError === null)).toBe(true);
  });

  it("mode bisect runs only the bisect job; the probe job is listed skipped and fails nothing", async () => {
    const runId = await dispatch(bisectInputs("p-3"));
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.conclusion).toBe("success");
    expect(run.jobs?.map((j) => [j.name, j.conclusion, j.steps.length])).toEqual([
      ["bisect", "success", 3],
      ["probe", "skipped", 0],
    ]);
    expect(run.steps).toBe(run.jobs![0]!.steps);
    const jobs = await jobsOf(runId);
    expect(jobs.map((j) => [j.name, j.status, j.conclusion])).toEqual([
      ["bisect", "completed", "success"],
      ["probe", "completed", "skipped"],
    ]);
    expect(jobs[1]).toMatchObject({ runner_id: null, steps: [] });
    expect((await artifactsOf(runId)).map((a) => a.name)).toEqual(["bisect-result-p-3"]);
    expectValidLifecycle(runId, "success");
  });
});

describe("matrices, as GitHub expands them", () => {
  let dir: string;
  let out: string;
  const shas: string[] = [];

  beforeAll(async () => {
    dir = join(scratch, "matrix");
    out = join(scratch, "matrix-out");
    await mkdir(join(dir, ".github/workflows"), { recursive: true });
    await writeFile(
      join(dir, ".github/workflows/bisect.yml"),
      `name: Matrix
on:
  workflow_dispatch:
    inputs:
      commits: { type: string, default: "[]" }
      out: { type: string, default: "" }
      fail_index: { type: string, default: "-1" }
      fail_fast: { type: boolean, default: true }
jobs:
  look:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: \${{ inputs.fail_fast }}
      matrix:
        commit: \${{ fromJSON(inputs.commits) }}
        n: [1, 2]
    steps:
      - uses: actions/checkout@v4
        with:
          ref: \${{ matrix.commit }}
          fetch-depth: 1
      - name: Describe
        env:
          OUT: \${{ inputs.out }}
          FAIL: \${{ inputs.fail_index }}
          INDEX: \${{ strategy.job-index }}
          ABOUT: "\${{ strategy.job-index }} \${{ strategy.job-total }} \${{ strategy.fail-fast }} \${{ matrix.n }}"
        run: |
          echo "$ABOUT $(git rev-parse HEAD) $(git rev-parse --is-shallow-repository) $(git rev-list --count HEAD) $RUNNER_TEMP" > "$OUT/$INDEX"
          if [ "$INDEX" = "$FAIL" ]; then exit 1; fi
          if [ "$FAIL" != "-1" ]; then exec sleep 30; fi
  never:
    if: inputs.out == 'nowhere'
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`,
    );
    await git(dir, ["init", "-q", "-b", "main"]);
    for (let i = 0; i < 3; i++) {
      await writeFile(join(dir, "value.txt"), `${i}\n`);
      await git(dir, ["add", "-A"]);
      await git(dir, ["commit", "-q", "-m", `commit ${i}`]);
      shas.push((await git(dir, ["rev-parse", "HEAD"])).stdout.trim());
    }
    double.addRepository({ owner: OWNER, name: "matrix", id: 4042, path: dir, installationId: INSTALLATION });
  });

  async function dispatchMatrix(inputs: Record<string, string>): Promise<number> {
    await removeDir(out);
    await mkdir(out, { recursive: true });
    const { data } = await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
      owner: OWNER,
      repo: "matrix",
      workflow_id: "bisect.yml",
      ref: "main",
      inputs: { out, ...inputs },
      return_run_details: true,
    });
    return (data as { workflow_run_id: number }).workflow_run_id;
  }

  it("two vectors: one job per combination, first vector slowest; each a fresh shallow workspace at its commit with its own RUNNER_TEMP", async () => {
    const runId = await dispatchMatrix({ commits: JSON.stringify([shas[0], shas[2]]) });
    await double.runner.idle();
    const run = runOf(runId);
    expect(run.conclusion).toBe("success");
    expect(run.jobs?.map((j) => [j.name, j.conclusion])).toEqual([
      [`look (${shas[0]}, 1)`, "success"],
      [`look (${shas[0]}, 2)`, "success"],
      [`look (${shas[2]}, 1)`, "success"],
      [`look (${shas[2]}, 2)`, "success"],
      ["never", "skipped"],
    ]);
    const lines = await Promise.all([0, 1, 2, 3].map(async (i) => (await readFile(join(out, String(i)), "utf8")).trim().split(" ")));
    expect(lines.map((l) => l.slice(0, 7))).toEqual([
      ["0", "4", "true", "1", shas[0], "true", "1"],
      ["1", "4", "true", "2", shas[0], "true", "1"],
      ["2", "4", "true", "1", shas[2], "true", "1"],
      ["3", "4", "true", "2", shas[2], "true", "1"],
    ]);
    expect(new Set(lines.map((l) => l[7])).size).toBe(4);
  });

  it("fail-fast (the default) cancels the other jobs of the matrix when one fails; fail-fast: false lets them finish", async () => {
    const fast = await dispatchMatrix({ commits: JSON.stringify([shas[1]]), fail_index: "0" });
    await double.runner.idle();
    expect(runOf(fast).jobs?.map((j) => j.conclusion)).toEqual(["failure", "cancelled", "skipped"]);
    expect(runOf(fast).conclusion).toBe("failure");

    const slow = await dispatchMatrix({ commits: JSON.stringify([shas[1]]), fail_index: "0", fail_fast: "false" });
    // The other job sleeps: it is still running once the failed one completed.
    await until(() => runOf(slow).jobs?.[0]?.status === "completed", "the failing job to complete");
    expect(runOf(slow).jobs?.[1]?.status).toBe("in_progress");
    await octokit.rest.actions.cancelWorkflowRun({ owner: OWNER, repo: "matrix", run_id: slow });
    await double.runner.idle();
    expect(runOf(slow).jobs?.map((j) => j.conclusion)).toEqual(["failure", "cancelled", "skipped"]);
    expect(runOf(slow).conclusion).toBe("cancelled");
  });

  it("more than 256 combinations, or an empty vector: the job fails without a runner, as GitHub fails it", async () => {
    const big = await dispatchMatrix({ commits: JSON.stringify(Array.from({ length: 129 }, (_, i) => i)) });
    const empty = await dispatchMatrix({ commits: "[]" });
    await double.runner.idle();
    expect(runOf(big).jobs?.map((j) => [j.name, j.conclusion])).toEqual([
      ["look", "failure"],
      ["never", "skipped"],
    ]);
    expect(runOf(big).conclusion).toBe("failure");
    expect(runOf(big).jobs![0]!.log).toContain(
      "Error when evaluating 'strategy' for job 'look'. .github/workflows/bisect.yml: Strategy expansion exceeded 256 results",
    );
    expect(runOf(empty).jobs![0]!.log).toContain("Matrix vector 'commit' does not contain any values");
    expect(runOf(empty).conclusion).toBe("failure");
    const { data } = await octokit.rest.actions.listJobsForWorkflowRun({ owner: OWNER, repo: "matrix", run_id: big });
    expect(data.jobs.map((j) => [j.name, j.conclusion])).toEqual([
      ["look", "failure"],
      ["never", "skipped"],
    ]);
  });

  it("concurrency counts job runs: a matrix of 4 on 2 runners runs 2 at a time", async () => {
    double.runner.options = { ...runnerOptions, concurrency: 2 };
    const runId = await dispatchMatrix({ commits: JSON.stringify([shas[0], shas[1]]), fail_index: "99" });
    await until(() => double.runner.executingJobs.length === 2 && double.runner.queuedJobs.length === 2, "2 jobs running and 2 waiting");
    expect(double.runner.executing).toEqual([runId]);
    expect(double.runner.queued).toEqual([runId]);
    await octokit.rest.actions.cancelWorkflowRun({ owner: OWNER, repo: "matrix", run_id: runId });
    await double.runner.idle();
    expect(runOf(runId).jobs?.map((j) => j.conclusion)).toEqual(["cancelled", "cancelled", "cancelled", "cancelled", "skipped"]);
  });
});
