/**
 * The double's Actions runner: every accepted `workflow_dispatch` really runs, as GitHub runs it,
 * while the App under test only sees what GitHub would show it (run status, jobs, artifacts, webhooks).
 *
 * A run is read from the workflow file at the run's head commit. Its jobs (none has `needs`) run
 * side by side, each on a runner of its own: a fresh workspace, RUNNER_TEMP, HOME and tracking id.
 * A job-level `if:` is evaluated first (contexts `github`, `inputs`, `vars`, `needs`; no status
 * function means `success() && …`): a false one makes the job `skipped` (listed by the jobs API,
 * one `workflow_job.completed` webhook with conclusion skipped and no queued / in_progress, as
 * GitHub sends for skipped jobs; its matrix is never expanded). Then `strategy.matrix` (vectors as
 * lists or `${{ fromJSON(…) }}`) makes one job run per combination, first vector varying slowest,
 * named as GitHub names them (`probe (<value>, …)` unless the job's `name:` uses the matrix), with
 * the `matrix` and `strategy` (`job-index`, `job-total`, `fail-fast`, `max-parallel`) contexts.
 * `fail-fast` (default true) cancels the matrix's other job runs when one fails. A strategy GitHub
 * refuses (an empty vector, more than 256 combinations) or an `if` that cannot be evaluated fails
 * the job at once, without a runner, with GitHub's "Error when evaluating …" message.
 *
 * Steps: `actions/checkout` is a `git init` + `git fetch` of the double's repository: by default
 * the run's commit on its branch or tag (all history and tags with `fetch-depth: 0`); with
 * `ref: <40-hex sha>` that commit, detached, fetched as checkout fetches it (`git fetch --depth=1
 * origin <sha>`: a shallow clone of that one commit). The bisect Action
 * (`bisect-bot/bisect-bot/action@…`, or any `uses:` mapped in `actions`) runs from this checkout
 * of the project as a runner runs a JavaScript action (`node <main>` with `INPUT_*` as the step's
 * `with:` computes them, action.yml defaults for the rest, the runner's file commands and
 * variables); `actions/upload-artifact` zips the files of its `path` into an artifact of the run
 * (one per job run: their names must differ, e.g. by `strategy.job-index`); `run:` steps run
 * with bash. `${{ }}` expressions are evaluated as GitHub does (expressions.ts), so
 * `fromJSON(inputs.options).parallel || 1` and `toJSON(…)` give the same strings the real runner
 * passes; `run-name` too (runs.ts). Step `if:` conditions and the status functions decide which
 * steps run, so `if: always()` steps still run after a failure or a cancellation.
 *
 * The run concludes `cancelled` when it was cancelled, `failure` when a job failed, `skipped`
 * when every job was skipped, else `success` (skipped jobs fail nothing). Each job run is a
 * record of the run (`run.jobs`, served by `GET …/runs/{run_id}/jobs` with its steps and times).
 * `concurrency` counts runners, i.e. job runs: more wait `queued`.
 *
 * Webhooks go to the App as GitHub sends them, signed: `workflow_run` requested / in_progress /
 * completed, and `workflow_job` queued / in_progress / completed per job run, each payload
 * checked against GitHub's schema (run-webhooks.ts). Faults (RunnerFaults) delay, drop,
 * duplicate or reorder them, lose every runner of a run (`failRun`) or one job's (`failJob`),
 * cancel runs or lose artifacts.
 *
 * Processes: each step runs in its own process group, and everything a job starts carries its
 * `RUNNER_TRACKING_ID` in its environment, as on GitHub's runners; a cancellation signals the
 * step's group (SIGINT, then SIGTERM and SIGKILL after a grace period, as the runner does) and at
 * the end of a job every process still carrying its tracking id is killed (the runner's
 * "Cleaning up orphan processes"), which reaches the test commands the Action starts in groups of
 * their own.
 *
 * Not emulated (the job fails and a violation says so): `needs`, `matrix.include` / `exclude`,
 * `strategy.max-parallel`, containers, services, `uses:` other than the ones above, checkout of a
 * `ref` other than a full sha, glob patterns in an upload `path`. `timeout-minutes` is not
 * enforced; re-runs are not run by the runner.
 */
import { execFile, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { workflowJobPayload, workflowRunPayload } from "../run-webhooks.js";
import { sign } from "../webhooks.js";
import { makeZip } from "../zip.js";
import { addArtifact } from "./artifacts.js";
import { isoSeconds, readFileAt, resolveBranchOrTag } from "./git-data.js";
import {
  evaluateCondition,
  evaluateValue,
  ExpressionError,
  renderTemplate,
  toText,
  workflowText,
  type ExprScope,
  type ExprValue,
  type JobStatus,
} from "./expressions.js";
import { completeRun, startRun } from "./runs.js";
import { fullNameOf, type DoubleRepository, type DoubleState, type RunStepRecord, type WorkflowJobRecord, type WorkflowRunRecord } from "./state.js";
import { mulberry32 as prng } from "../history.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** `uses:` (without `@version`) of the project's own Action -> its directory here. */
export const DEFAULT_ACTIONS: Record<string, string> = { "bisect-bot/bisect-bot/action": path.join(ROOT, "action") };

/** A probability from 0 to 1, or `true` (always) / `false` (never). */
export type Chance = boolean | number;

export interface RunnerFaults {
  /** Wait this long before each webhook delivery. */
  webhookDelayMs?: number;
  /** Drop deliveries (never sent), overall or per event. */
  dropWebhooks?: Chance | { workflow_run?: Chance; workflow_job?: Chance };
  /** Send deliveries twice, with the same `X-GitHub-Delivery` id (as a redelivery). */
  duplicateWebhooks?: Chance;
  /** Hold a run's deliveries and send them in reverse order once the run has completed. */
  reorderWebhooks?: Chance;
  /** The runners are lost: the run starts, then every job concludes `failure` without running any step. */
  failRun?: Chance;
  /**
   * This job's runner is lost: the job starts, then concludes `failure` without running its steps
   * (an infrastructure failure; the other jobs go on, unless fail-fast cancels its matrix). Asked
   * when the job gets a runner; a Chance is drawn per job.
   */
  failJob?: Chance | ((job: JobTarget) => boolean);
  /** GitHub cancels the run (every job) once the bisect Action has started in one of its jobs (after `cancelAfterMs`). */
  cancelRun?: Chance;
  /** Delay of `cancelRun` after the Action started. Default 0. */
  cancelAfterMs?: number;
  /** upload-artifact says it uploaded, but the run has no artifact (drawn per job). */
  loseArtifact?: Chance;
  /** Seeds the PRNG that decides probabilities (each assignment of faults with a seed reseeds it). Default 1. */
  seed?: number;
}

/** A job run as `failJob` sees it. */
export interface JobTarget {
  /** As GitHub shows it: `probe (<sha>)`, `bisect`. */
  name: string;
  /** `strategy.job-index` (0 outside a matrix). */
  index: number;
  /** The job's `matrix` context ({} outside a matrix). */
  matrix: Record<string, unknown>;
}

export interface RunnerOptions {
  /** Where deliveries go, e.g. `${app.url}/api/github/webhooks`. */
  webhookUrl: string;
  webhookSecret: string;
  /** Installation in the payloads. Default: the repository's. */
  installationId?: number;
  faults?: RunnerFaults;
  /** Runners: job runs (each matrix combination one) executing at once; more wait `queued`. Default 4. */
  concurrency?: number;
  /** More variables for every step (as a runner image's environment). */
  env?: Record<string, string>;
  /** `uses:` without `@version` -> a local JavaScript action's directory. Default: DEFAULT_ACTIONS. */
  actions?: Record<string, string>;
  /** Characters of log kept per run (head and tail). Default 1 MB. */
  logLimit?: number;
  /** After SIGINT, how long a cancelled step has before SIGTERM (then 2.5 s to SIGKILL). Default 7500 ms, as the runner. */
  cancelGraceMs?: number;
  /** Webhook deliveries time out after this long (GitHub: 10 s). */
  webhookTimeoutMs?: number;
}

export interface DeliveryRecord {
  /** `X-GitHub-Delivery`. */
  id: string;
  event: "workflow_run" | "workflow_job";
  action: string;
  runId: number;
  /** The App's HTTP status, or null when dropped or when the delivery failed (`error`). */
  status: number | null;
  dropped: boolean;
  /** The second send of a duplicated delivery. */
  duplicate: boolean;
  error?: string;
  /** When it was sent (or dropped). */
  at: number;
}

/** `double.runner`. */
export interface WorkflowRunner {
  /** Null: dispatched runs stay `queued` for the test to move along (setRunStatus, completeRun). */
  options: RunnerOptions | null;
  /** Settable at runtime; applies to what happens next. */
  faults: RunnerFaults;
  /** Every delivery made or dropped, in order of sending. */
  readonly deliveries: DeliveryRecord[];
  /** Ids of runs with a job on a runner now, and of runs with a job waiting for a free runner (a run may be in both). */
  readonly executing: number[];
  readonly queued: number[];
  /** The job runs on a runner now, and those waiting for one. */
  readonly executingJobs: { runId: number; name: string }[];
  readonly queuedJobs: { runId: number; name: string }[];
  /** Resolves when no run is executing or waiting and no delivery is pending. */
  idle(): Promise<void>;
}

interface HeldDelivery {
  event: DeliveryRecord["event"];
  action: string;
  payload: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the head and the tail of a long log. */
class LogBuffer {
  private head = "";
  private tail = "";
  private dropped = 0;
  constructor(private readonly limit: number) {}

  append(text: string): void {
    const half = Math.floor(this.limit / 2);
    if (this.head.length < half) {
      const take = text.slice(0, half - this.head.length);
      this.head += take;
      text = text.slice(take.length);
    }
    if (!text) return;
    this.tail += text;
    if (this.tail.length > half) {
      this.dropped += this.tail.length - half;
      this.tail = this.tail.slice(this.tail.length - half);
    }
  }

  line(text: string): void {
    this.append(`${text}\n`);
  }

  toString(): string {
    return this.dropped > 0 ? `${this.head}\n… [${this.dropped} characters of log left out] …\n${this.tail}` : this.head + this.tail;
  }
}

interface ActionMeta {
  inputs: Record<string, { default?: unknown }>;
  main: string;
  using: string;
}

const actionMetas = new Map<string, ActionMeta>();

function actionMeta(dir: string): ActionMeta {
  let meta = actionMetas.get(dir);
  if (!meta) {
    const file = existsSync(path.join(dir, "action.yml")) ? path.join(dir, "action.yml") : path.join(dir, "action.yaml");
    const doc = parse(readFileSync(file, "utf8")) as { inputs?: Record<string, { default?: unknown }>; runs?: { using?: string; main?: string } };
    meta = { inputs: doc.inputs ?? {}, main: doc.runs?.main ?? "", using: doc.runs?.using ?? "" };
    actionMetas.set(dir, meta);
  }
  return meta;
}

/** Parses GITHUB_OUTPUT / GITHUB_ENV: `name=value` lines and `name<<DELIMITER` heredocs. */
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=]+?)<<(.+)$/.exec(line);
    if (heredoc && !line.slice(0, line.indexOf("<<")).includes("=")) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!);
      values[heredoc[1]!] = value.join("\n");
    } else if (line.includes("=")) {
      values[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
    }
  }
  return values;
}

/** upload-artifact v4 refuses these characters in artifact names. */
const INVALID_ARTIFACT_NAME = /[":<>|*?\r\n\\/]/;

/** Sends `signal` to a process group; false when it is gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process whose environment carries the tracking id (the runner's orphan clean-up). */
async function killTracked(trackingId: string): Promise<number> {
  const marker = `RUNNER_TRACKING_ID=${trackingId}`;
  let killed = 0;
  for (let pass = 0; pass < 3; pass++) {
    let found = 0;
    let entries: string[];
    try {
      entries = await readdir("/proc");
    } catch {
      return killed; // no procfs: nothing more to do here
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      let environ: string;
      try {
        environ = await readFile(`/proc/${entry}/environ`, "latin1");
      } catch {
        continue;
      }
      if (!environ.split("\0").includes(marker)) continue;
      try {
        process.kill(Number(entry), "SIGKILL");
        found++;
      } catch {
        // already gone
      }
    }
    killed += found;
    if (found === 0) break;
    await sleep(20);
  }
  return killed;
}

interface WorkflowDocument {
  on?: unknown;
  env?: Record<string, unknown>;
  jobs?: Record<string, Record<string, unknown>>;
}

interface GitOutcome {
  code: number;
  output: string;
}

function git(cwd: string, args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<GitOutcome> {
  return new Promise((resolve) => {
    execFile("git", args, { cwd, env, signal, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** A run the runner manages, while it executes. */
interface Execution {
  run: WorkflowRunRecord;
  repo: DoubleRepository;
  options: RunnerOptions;
  installationId: number;
  reorder: boolean;
  held: HeldDelivery[];
  chain: Promise<void>;
  /** Set when the run is cancelled (by the API or a fault). */
  cancelled: boolean;
  /** The job runs to run (each matrix combination one), once planned; not the skipped jobs. */
  jobs: JobRun[];
  /** The workflow as read at the run's commit, and the contexts every job starts from. */
  workflow: WorkflowDocument;
  base?: RunContexts;
  /** Log lines about the run as a whole (the workflow could not be read…). */
  notes: string[];
  /** Faults drawn once per run, when its first job starts (then `cancelRun` is spent once it fired). */
  failRun?: boolean;
  cancelRun?: boolean;
}

/** The contexts of a run before any job: `github` (without the job's own keys), `inputs`, the event. */
interface RunContexts {
  github: Record<string, ExprValue>;
  inputs: Record<string, ExprValue>;
  event: Record<string, ExprValue>;
  fullRef: string;
  refType: "branch" | "tag";
}

/** One job run (a job, or one combination of its matrix), on a runner of its own. */
interface JobRun {
  exec: Execution;
  record: WorkflowJobRecord;
  definition: Record<string, unknown>;
  /** The `matrix` context ({} outside a matrix). */
  matrix: Record<string, ExprValue>;
  failFast: boolean;
  /** Every job run of the same matrix, this one included (fail-fast cancels the others). */
  siblings: JobRun[];
  log: LogBuffer;
  /** Set when the job is cancelled (the run was, or fail-fast). */
  cancelled: boolean;
  abort: AbortController;
  /** Holds a runner now. */
  running: boolean;
  /** Resolves the wait for a runner (true: got one; false: cancelled while waiting). */
  admit?: (admitted: boolean) => void;
  trackingId: string;
}

interface JobContext {
  exec: Execution;
  job: JobRun;
  workflowFile: string;
  jobKey: string;
  scratch: string;
  workspace: string;
  temp: string;
  home: string;
  status: JobStatus;
  /** The environment of every step (runner variables, workflow and job `env:`, GITHUB_ENV). */
  env: Record<string, string>;
  /** The `env` context: workflow and job `env:` and GITHUB_ENV additions (not the runner's variables). */
  envContext: Record<string, string>;
  contexts: Record<string, ExprValue>;
  steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }>;
  loseArtifact: boolean;
  cancelAfterMs: number;
}

type StepOutcome = {
  outcome: "success" | "failure" | "cancelled";
  outputs?: Record<string, string>;
  error?: string;
  exitCode?: number | null;
  summary?: string;
};

interface Parts {
  state: DoubleState;
  violations: string[];
}

/** GitHub's limit of jobs one matrix makes. */
export const MAX_MATRIX_JOBS = 256;

/** Job keys the runner emulates; others are violations. */
const JOB_KEYS = new Set(["name", "runs-on", "timeout-minutes", "permissions", "steps", "env", "defaults", "if", "strategy"]);

/** A step's name as GitHub shows it: its `name:`, else `Run <uses>` or `Run <first line of run>`. */
function stepName(step: Record<string, unknown>): string {
  const uses = typeof step.uses === "string" ? step.uses : undefined;
  return typeof step.name === "string" ? step.name : uses ? `Run ${uses}` : `Run ${workflowText(step.run ?? "").split("\n")[0]}`;
}

function stepsOf(definition: Record<string, unknown>): Record<string, unknown>[] {
  return Array.isArray(definition.steps) ? (definition.steps as Record<string, unknown>[]) : [];
}

/** A matrix value as a job's name shows it. */
function matrixText(value: ExprValue): string {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : toText(value);
}

/** Thrown while planning a job: the job fails with this message (GitHub's "Error when evaluating …"). */
class JobError extends Error {}

export class Runner implements WorkflowRunner {
  readonly deliveries: DeliveryRecord[] = [];
  private current: RunnerOptions | null = null;
  private currentFaults: RunnerFaults = {};
  private random = prng(1);
  private readonly executions = new Map<number, Execution>();
  private readonly waiting: JobRun[] = [];
  private running = 0;
  private nextRunner = 1;
  private readonly pending = new Set<Promise<unknown>>();
  private closing = false;

  constructor(private readonly parts: Parts) {
    parts.state.runHooks = {
      dispatched: (run) => this.dispatched(run),
      cancel: (run) => this.cancel(run.id),
    };
  }

  get options(): RunnerOptions | null {
    return this.current;
  }

  set options(value: RunnerOptions | null) {
    this.current = value ? { ...value } : null;
    this.faults = value?.faults ?? {};
  }

  get faults(): RunnerFaults {
    return this.currentFaults;
  }

  set faults(value: RunnerFaults) {
    this.currentFaults = { ...value };
    if (value.seed !== undefined) this.random = prng(value.seed);
    if (this.current) this.current.faults = this.currentFaults;
  }

  private jobRuns(): JobRun[] {
    return [...this.executions.values()].flatMap((e) => e.jobs);
  }

  get executing(): number[] {
    return [
      ...new Set(
        this.jobRuns()
          .filter((j) => j.running)
          .map((j) => j.exec.run.id),
      ),
    ];
  }

  get queued(): number[] {
    return [...new Set(this.waiting.map((j) => j.exec.run.id))];
  }

  get executingJobs(): { runId: number; name: string }[] {
    return this.jobRuns()
      .filter((j) => j.running)
      .map((j) => ({ runId: j.exec.run.id, name: j.record.name }));
  }

  get queuedJobs(): { runId: number; name: string }[] {
    return this.waiting.map((j) => ({ runId: j.exec.run.id, name: j.record.name }));
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Stops everything (double.close): cancels runs, skips further deliveries, waits. */
  async close(): Promise<void> {
    this.closing = true;
    for (const exec of this.executions.values()) this.cancel(exec.run.id);
    await this.idle();
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise)).catch(() => undefined);
    return promise;
  }

  private chance(value: Chance | undefined): boolean {
    if (value === undefined || value === false) return false;
    if (value === true) return true;
    if (value <= 0) return false;
    if (value >= 1) return true;
    return this.random() < value;
  }

  private violation(message: string): void {
    this.parts.violations.push(`runner: ${message}`);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  private dispatched(run: WorkflowRunRecord): (() => void) | undefined {
    const options = this.current;
    if (!options || this.closing) return undefined;
    const repo = this.parts.state.repository(run.repository);
    if (!repo) return undefined;
    const exec: Execution = {
      run,
      repo,
      options,
      installationId: options.installationId ?? repo.installationId,
      reorder: this.chance(this.currentFaults.reorderWebhooks),
      held: [],
      chain: Promise.resolve(),
      cancelled: false,
      jobs: [],
      workflow: {},
      notes: [],
    };
    this.executions.set(run.id, exec);
    let start!: () => void;
    const answered = new Promise<void>((resolve) => (start = resolve));
    // Not awaited: the run goes on after the dispatch is answered; idle() waits for it, and a crash is a violation.
    void this.track(
      answered
        .then(() => this.lifecycle(exec))
        .catch((error: unknown) => {
          this.violation(`run ${run.id} crashed: ${(error as Error).stack ?? String(error)}`);
        }),
    );
    return start;
  }

  /** Cancels a run the runner manages; false for runs it does not (the API then completes them itself). */
  private cancel(runId: number): boolean {
    const exec = this.executions.get(runId);
    if (!exec) return false;
    exec.cancelled = true;
    for (const job of exec.jobs) this.cancelJob(job);
    return true;
  }

  private cancelJob(job: JobRun): void {
    if (job.cancelled) return;
    job.cancelled = true;
    job.abort.abort();
    if (job.admit) {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      job.admit(false);
    }
  }

  /** Waits for a free runner (`concurrency` counts job runs). */
  private admit(job: JobRun): Promise<boolean> {
    const limit = job.exec.options.concurrency ?? 4;
    if (this.running < limit && this.waiting.length === 0) {
      this.running++;
      job.running = true;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      job.admit = (admitted) => {
        job.admit = undefined;
        job.running = admitted;
        resolve(admitted);
      };
      this.waiting.push(job);
    });
  }

  private release(job: JobRun): void {
    job.running = false;
    this.running--;
    const next = this.waiting.shift();
    if (next) {
      this.running++;
      next.admit?.(true);
    }
  }

  private async lifecycle(exec: Execution): Promise<void> {
    this.emit(exec, "workflow_run", "requested");
    try {
      await this.plan(exec);
    } catch (error) {
      this.violation(`run ${exec.run.id}: ${(error as Error).stack ?? String(error)}`);
      exec.notes.push(`##[error]${(error as Error).message}`);
    }
    // Jobs without `needs` run side by side, each on a runner of its own.
    await Promise.all(exec.jobs.map((job) => this.runJob(job)));
    this.finish(exec);
  }

  /**
   * Reads the workflow at the run's commit and decides its jobs: a job whose `if` is false is
   * skipped (listed, with one `workflow_job.completed` webhook, as GitHub sends for skipped jobs),
   * a matrix job becomes one job run per combination (each `workflow_job.queued`), and a job
   * whose `if` or `strategy` cannot be evaluated fails at once, without a runner.
   */
  private async plan(exec: Execution): Promise<void> {
    const { run, repo } = exec;
    const state = this.parts.state;
    run.jobs = [];
    const text = await readFileAt(repo.path, run.headSha, run.path);
    let workflow: WorkflowDocument | null = null;
    try {
      workflow = text === null ? null : (parse(text) as WorkflowDocument | null);
    } catch (error) {
      exec.notes.push(`##[error]${run.path}: ${(error as Error).message}`);
    }
    exec.workflow = workflow ?? {};
    const entries = Object.entries(workflow?.jobs ?? {});
    if (entries.length === 0) {
      this.violation(`run ${run.id} (${run.path}): a workflow without jobs is not emulated by the double`);
      exec.notes.push(`##[error]${run.path}: the workflow has no jobs`);
      return;
    }
    const base = await this.runContexts(exec);
    exec.base = base;
    const planScope = (extra: Record<string, ExprValue> = {}): ExprScope => ({
      contexts: { github: base.github, inputs: base.inputs, vars: {}, needs: {}, ...extra },
    });
    const record = (key: string, name: string, definition: Record<string, unknown>, index = 0, total = 1): WorkflowJobRecord => ({
      id: state.nextJobId++,
      runId: run.id,
      runAttempt: run.runAttempt,
      key,
      name,
      index,
      total,
      status: "queued",
      conclusion: null,
      createdAt: isoSeconds(Date.now()),
      startedAt: null,
      completedAt: null,
      runnerId: null,
      runnerName: null,
      stepNames: stepsOf(definition).map(stepName),
      steps: [],
      log: "",
    });
    const ended = (job: WorkflowJobRecord, conclusion: "skipped" | "failure", log: string) => {
      const now = isoSeconds(Date.now());
      Object.assign(job, { status: "completed", conclusion, startedAt: now, completedAt: now, log });
      run.jobs!.push(job);
      this.emit(exec, "workflow_job", "completed", job);
    };
    for (const [key, raw] of entries) {
      const definition = raw && typeof raw === "object" ? raw : {};
      const plainName = definition.name === undefined ? key : workflowText(definition.name);
      const extra = Object.keys(definition).filter((k) => !JOB_KEYS.has(k));
      if (extra.length > 0) {
        const what = `job key${extra.length > 1 ? "s" : ""} ${extra.map((k) => `'${k}'`).join(", ")}`;
        this.violation(`run ${run.id} (${run.path}): ${what} is not emulated by the double`);
        ended(record(key, plainName, definition), "failure", `##[error]${what} is not emulated by the GitHub double\n`);
        continue;
      }
      // `if` is evaluated before the strategy: a skipped job's matrix is never expanded.
      let selected: boolean;
      try {
        selected = evaluateCondition(definition.if, { ...planScope(), status: { failed: false, cancelled: false } });
      } catch (error) {
        ended(
          record(key, plainName, definition),
          "failure",
          `##[error]Error when evaluating 'if' for job '${key}'. ${run.path}: ${(error as Error).message}\n`,
        );
        continue;
      }
      if (!selected) {
        ended(record(key, plainName, definition), "skipped", "");
        continue;
      }
      let combinations: Record<string, ExprValue>[] | null;
      let failFast: boolean;
      try {
        ({ combinations, failFast } = this.strategy(exec, key, definition.strategy, planScope()));
      } catch (error) {
        if (!(error instanceof JobError || error instanceof ExpressionError)) throw error;
        ended(record(key, plainName, definition), "failure", `##[error]Error when evaluating 'strategy' for job '${key}'. ${run.path}: ${error.message}\n`);
        continue;
      }
      const total = combinations?.length ?? 1;
      const siblings: JobRun[] = [];
      for (let index = 0; index < total; index++) {
        const matrix = combinations?.[index] ?? {};
        let name = plainName;
        if (combinations) {
          const strategy = { "fail-fast": failFast, "job-index": index, "job-total": total, "max-parallel": total };
          try {
            name = definition.name === undefined ? key : renderTemplate(definition.name, planScope({ matrix, strategy }));
          } catch {
            name = plainName;
          }
          // GitHub adds the matrix values unless the name already uses the matrix.
          if (!/matrix\./i.test(workflowText(definition.name ?? ""))) name = `${name} (${Object.values(matrix).map(matrixText).join(", ")})`;
        }
        const job: JobRun = {
          exec,
          record: { ...record(key, name, definition, index, total), ...(combinations ? { matrix } : {}) },
          definition,
          matrix,
          failFast,
          siblings,
          log: new LogBuffer(exec.options.logLimit ?? 1_000_000),
          cancelled: exec.cancelled,
          abort: new AbortController(),
          running: false,
          trackingId: `github_${randomUUID()}`,
        };
        if (job.cancelled) job.abort.abort();
        siblings.push(job);
        exec.jobs.push(job);
        run.jobs.push(job.record);
        this.emit(exec, "workflow_job", "queued", job.record);
      }
    }
  }

  /**
   * `strategy`: its matrix's combinations (null without a matrix) and `fail-fast` (default true).
   * Each vector is a list or an expression yielding one; `include`, `exclude` and `max-parallel`
   * are not emulated. Throws JobError with GitHub's words when GitHub fails the job.
   */
  private strategy(exec: Execution, key: string, strategy: unknown, scope: ExprScope): { combinations: Record<string, ExprValue>[] | null; failFast: boolean } {
    if (strategy === undefined || strategy === null) return { combinations: null, failFast: true };
    const unsupported = (what: string): JobError => {
      this.violation(`run ${exec.run.id} (${exec.run.path}): job '${key}': ${what} is not emulated by the double`);
      return new JobError(`${what} is not emulated by the GitHub double`);
    };
    if (typeof strategy !== "object" || Array.isArray(strategy)) throw new JobError("A mapping was expected");
    const spec = strategy as Record<string, unknown>;
    const extra = Object.keys(spec).filter((k) => k !== "matrix" && k !== "fail-fast");
    if (extra.length > 0) throw unsupported(`strategy.${extra.join(", strategy.")}`);
    const failFastValue = spec["fail-fast"] === undefined ? true : evaluateValue(spec["fail-fast"], scope);
    if (typeof failFastValue !== "boolean" && failFastValue !== "true" && failFastValue !== "false")
      throw new JobError(`Unexpected value '${toText(failFastValue)}' for fail-fast, expected a boolean`);
    const failFast = failFastValue === true || failFastValue === "true";
    if (spec.matrix === undefined) return { combinations: null, failFast };
    const matrix = evaluateValue(spec.matrix, scope);
    if (matrix === null || typeof matrix !== "object" || Array.isArray(matrix))
      throw new JobError(`Unexpected value '${matrixText(matrix)}', expected a mapping`);
    for (const special of ["include", "exclude"]) if (special in matrix) throw unsupported(`strategy.matrix.${special}`);
    const vectors = Object.entries(matrix);
    if (vectors.length === 0) throw new JobError("Matrix must define at least one vector");
    let combinations: Record<string, ExprValue>[] = [{}];
    for (const [name, values] of vectors) {
      if (!Array.isArray(values)) throw new JobError(`Unexpected type of value '${matrixText(values)}', expected type: Sequence.`);
      if (values.length === 0) throw new JobError(`Matrix vector '${name}' does not contain any values`);
      combinations = combinations.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
      if (combinations.length > MAX_MATRIX_JOBS) throw new JobError(`Strategy expansion exceeded ${MAX_MATRIX_JOBS} results for job '${key}'`);
    }
    return { combinations, failFast };
  }

  /** One job run: waits for a runner, runs, concludes; with fail-fast a failure cancels its matrix. */
  private async runJob(job: JobRun): Promise<void> {
    const { exec, record } = job;
    const { run } = exec;
    const admitted = job.cancelled ? false : await this.admit(job);
    if (!admitted || job.cancelled) {
      if (admitted) this.release(job);
      job.log.line("##[error]The job was canceled before it started.");
      this.completeJob(job, "cancelled");
      return;
    }
    let conclusion: "success" | "failure" | "cancelled" = "failure";
    try {
      const runnerId = this.nextRunner++;
      Object.assign(record, { status: "in_progress", startedAt: isoSeconds(Date.now()), runnerId, runnerName: `GitHub Actions ${runnerId}` });
      if (run.status !== "in_progress") {
        startRun(this.parts.state, run.id);
        this.emit(exec, "workflow_run", "in_progress");
      }
      this.emit(exec, "workflow_job", "in_progress", record);
      conclusion = await this.job(job);
    } catch (error) {
      this.violation(`run ${run.id}, job ${record.name}: ${(error as Error).stack ?? String(error)}`);
      job.log.line(`##[error]${(error as Error).message}`);
    } finally {
      this.release(job);
    }
    this.completeJob(job, job.cancelled ? "cancelled" : conclusion);
    if (record.conclusion === "failure" && job.failFast) {
      for (const sibling of job.siblings) if (sibling !== job && sibling.record.status !== "completed") this.cancelJob(sibling);
    }
  }

  private completeJob(job: JobRun, conclusion: "success" | "failure" | "cancelled"): void {
    const now = isoSeconds(Date.now());
    Object.assign(job.record, { status: "completed", conclusion, completedAt: now, startedAt: job.record.startedAt ?? now });
    this.syncRun(job.exec);
    this.emit(job.exec, "workflow_job", "completed", job.record);
  }

  /** The run's `log` (and `steps`, when one job ran) from its jobs. */
  private syncRun(exec: Execution): void {
    const { run } = exec;
    for (const job of exec.jobs) job.record.log = job.log.toString();
    const ran = (run.jobs ?? []).filter((j) => j.conclusion !== "skipped");
    const notes = exec.notes.map((n) => `${n}\n`).join("");
    if (ran.length === 1) {
      run.steps = ran[0]!.steps;
      run.log = notes + ran[0]!.log;
    } else {
      delete run.steps;
      run.log = notes + ran.map((j) => `##[group]Job ${j.name}\n${j.log}${j.log.endsWith("\n") || !j.log ? "" : "\n"}##[endgroup]\n`).join("");
    }
  }

  private finish(exec: Execution): void {
    const { run } = exec;
    const jobs = run.jobs ?? [];
    this.syncRun(exec);
    // Skipped jobs do not fail a run; a run whose every job was skipped is itself skipped.
    const conclusion = exec.cancelled
      ? "cancelled"
      : jobs.length === 0 || jobs.some((j) => j.conclusion === "failure")
        ? "failure"
        : jobs.every((j) => j.conclusion === "skipped")
          ? "skipped"
          : jobs.some((j) => j.conclusion === "cancelled")
            ? "cancelled"
            : "success";
    completeRun(this.parts.state, run.id, { conclusion });
    this.emit(exec, "workflow_run", "completed");
    this.executions.delete(run.id);
    if (exec.reorder) for (const held of exec.held.splice(0).reverse()) this.enqueue(exec, held);
  }

  // ---- webhooks ----------------------------------------------------------------------------

  /** Builds a delivery now (it describes this moment) and sends it, or holds it (reorderWebhooks). */
  private emit(exec: Execution, event: DeliveryRecord["event"], action: string, job?: WorkflowJobRecord): void {
    const repository = { id: exec.repo.id, owner: exec.repo.owner, name: exec.repo.name };
    let payload: Record<string, unknown>;
    try {
      payload =
        event === "workflow_run"
          ? workflowRunPayload(exec.run, action as "requested" | "in_progress" | "completed", exec.installationId, repository, { url: this.parts.state.url })
          : workflowJobPayload(exec.run, action as "queued" | "in_progress" | "completed", exec.installationId, repository, {
              url: this.parts.state.url,
              ...(job ? { job } : {}),
            });
    } catch (error) {
      this.violation(`${event}.${action} of run ${exec.run.id}: ${(error as Error).message} (a bug in the double)`);
      return;
    }
    const held = { event, action, payload };
    if (exec.reorder) exec.held.push(held);
    else this.enqueue(exec, held);
  }

  /** Deliveries of one run leave one after another (so, without faults, they arrive in order). */
  private enqueue(exec: Execution, held: HeldDelivery): void {
    exec.chain = this.track(
      exec.chain
        .then(() => this.send(exec, held))
        .catch((error: unknown) => this.violation(`delivery of ${held.event}.${held.action} for run ${exec.run.id}: ${String(error)} (a bug in the double)`)),
    );
  }

  private async send(exec: Execution, held: HeldDelivery): Promise<void> {
    const faults = this.currentFaults;
    if (faults.webhookDelayMs) await sleep(faults.webhookDelayMs);
    const base = { id: randomUUID(), event: held.event, action: held.action, runId: exec.run.id };
    const drop = typeof faults.dropWebhooks === "object" ? faults.dropWebhooks[held.event] : faults.dropWebhooks;
    if (this.closing) {
      this.deliveries.push({ ...base, status: null, dropped: true, duplicate: false, error: "the double was closed", at: Date.now() });
      return;
    }
    if (this.chance(drop)) {
      this.deliveries.push({ ...base, status: null, dropped: true, duplicate: false, at: Date.now() });
      return;
    }
    const times = this.chance(faults.duplicateWebhooks) ? 2 : 1;
    for (let i = 0; i < times; i++) {
      const record: DeliveryRecord = { ...base, status: null, dropped: false, duplicate: i > 0, at: Date.now() };
      this.deliveries.push(record);
      try {
        record.status = await this.post(exec.options, base.id, held);
      } catch (error) {
        record.error = (error as Error).message;
      }
    }
  }

  private async post(options: RunnerOptions, id: string, held: HeldDelivery): Promise<number> {
    const body = JSON.stringify(held.payload);
    const response = await fetch(options.webhookUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/double",
        "x-github-event": held.event,
        "x-github-delivery": id,
        "x-github-hook-id": "1",
        "x-github-hook-installation-target-type": "integration",
        "x-github-hook-installation-target-id": String(this.parts.state.appId),
        "x-hub-signature": `sha1=${createHmac("sha1", options.webhookSecret).update(body).digest("hex")}`,
        "x-hub-signature-256": sign(options.webhookSecret, body),
      },
      body,
      signal: AbortSignal.timeout(options.webhookTimeoutMs ?? 10_000),
    });
    await response.arrayBuffer();
    return response.status;
  }

  // ---- the job -----------------------------------------------------------------------------

  /** Runs a job's steps on its runner; answers its conclusion (unless it was cancelled). */
  private async job(job: JobRun): Promise<"success" | "failure" | "cancelled"> {
    const { exec, record } = job;
    const { run } = exec;
    const faults = this.currentFaults;
    exec.failRun ??= this.chance(faults.failRun);
    const lost =
      exec.failRun ||
      (typeof faults.failJob === "function"
        ? faults.failJob({ name: record.name, index: record.index, matrix: { ...job.matrix } })
        : this.chance(faults.failJob));
    if (lost) {
      job.log.line(
        `##[error]The hosted runner: ${record.runnerName ?? "GitHub Actions"} lost communication with the server. Anything in your workflow that terminates the runner process, starves it for CPU/Memory, or blocks its network access can cause this error.`,
      );
      return "failure";
    }
    const scratch = await mkdtemp(path.join(tmpdir(), `double-run-${run.id}-${record.index}-`));
    try {
      const ctx = await this.jobContext(job, scratch);
      for (const [index, step] of stepsOf(job.definition).entries()) {
        await this.step(ctx, step, index);
        this.syncRun(exec);
      }
      return ctx.status.failed ? "failure" : "success";
    } finally {
      await killTracked(job.trackingId);
      await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** The `github` context and event of the run, before any job (job-level `if`, `strategy`). */
  private async runContexts(exec: Execution): Promise<RunContexts> {
    const { run, repo, workflow } = exec;
    const state = this.parts.state;
    const resolved = await resolveBranchOrTag(repo.path, run.ref);
    const refType = resolved?.prefix === "refs/tags/" ? "tag" : "branch";
    const fullRef = `${refType === "tag" ? "refs/tags/" : "refs/heads/"}${run.headBranch}`;
    const full = fullNameOf(repo);
    const trigger =
      workflow.on && typeof workflow.on === "object" && !Array.isArray(workflow.on) ? (workflow.on as Record<string, unknown>).workflow_dispatch : undefined;
    const declared = ((trigger as { inputs?: unknown } | null | undefined)?.inputs ?? {}) as Record<string, { type?: string } | null>;
    // `inputs` is typed (booleans and numbers); `github.event.inputs` holds the strings.
    const inputs: Record<string, ExprValue> = {};
    for (const [key, value] of Object.entries(run.inputs)) {
      const type = declared[key]?.type;
      inputs[key] = type === "boolean" ? value === "true" : type === "number" ? Number(value) : value;
    }
    const sender = { login: run.actor, type: run.actor.endsWith("[bot]") ? "Bot" : "User" };
    const event: Record<string, ExprValue> = {
      inputs: { ...run.inputs },
      ref: fullRef,
      repository: {
        id: repo.id,
        name: repo.name,
        full_name: full,
        owner: { login: repo.owner },
        default_branch: repo.defaultBranch ?? run.headBranch,
        html_url: `${state.url}/${full}`,
      },
      sender,
      workflow: run.path,
    };
    const github: Record<string, ExprValue> = {
      action: "",
      actor: run.actor,
      actor_id: String(state.user(run.actor).id),
      api_url: state.api,
      event,
      event_name: run.event,
      graphql_url: `${state.url}/api/graphql`,
      ref: fullRef,
      ref_name: run.headBranch,
      ref_protected: false,
      ref_type: refType,
      repository: full,
      repository_id: String(repo.id),
      repository_owner: repo.owner,
      retention_days: "90",
      run_attempt: String(run.runAttempt),
      run_id: String(run.id),
      run_number: String(run.runNumber),
      server_url: state.url,
      sha: run.headSha,
      triggering_actor: run.actor,
      workflow: run.name,
      workflow_ref: `${full}/${run.path}@${fullRef}`,
      workflow_sha: run.headSha,
    };
    return { github, inputs, event, fullRef, refType };
  }

  private async jobContext(job: JobRun, scratch: string): Promise<JobContext> {
    const { exec, record } = job;
    const { run, repo, workflow } = exec;
    const base = exec.base ?? (await this.runContexts(exec));
    const state = this.parts.state;
    const jobKey = record.key;
    const workspace = path.join(scratch, "work", repo.name, repo.name);
    const temp = path.join(scratch, "temp");
    const home = path.join(scratch, "home");
    await Promise.all([workspace, temp, home, path.join(scratch, "tmp"), path.join(scratch, "toolcache")].map((d) => mkdir(d, { recursive: true })));
    const { fullRef, refType } = base;
    const full = fullNameOf(repo);
    const eventPath = path.join(temp, "_github_workflow", "event.json");
    await mkdir(path.dirname(eventPath), { recursive: true });
    await writeFile(eventPath, JSON.stringify(base.event, null, 2));
    const actorId = String(state.user(run.actor).id);
    const workflowRef = `${full}/${run.path}@${fullRef}`;
    const toolCache = path.join(scratch, "toolcache");
    const runnerName = record.runnerName ?? "GitHub Actions 1";
    const github: Record<string, ExprValue> = { ...base.github, event_path: eventPath, job: jobKey, workspace };
    const runner: Record<string, ExprValue> = {
      name: runnerName,
      os: "Linux",
      arch: "X64",
      temp,
      tool_cache: toolCache,
      environment: "github-hosted",
      debug: "",
    };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      LANG: "C.UTF-8",
      TMPDIR: path.join(scratch, "tmp"),
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_ACTOR: run.actor,
      GITHUB_ACTOR_ID: actorId,
      GITHUB_API_URL: state.api,
      GITHUB_EVENT_NAME: run.event,
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_GRAPHQL_URL: `${state.url}/api/graphql`,
      GITHUB_JOB: jobKey,
      GITHUB_REF: fullRef,
      GITHUB_REF_NAME: run.headBranch,
      GITHUB_REF_PROTECTED: "false",
      GITHUB_REF_TYPE: refType,
      GITHUB_REPOSITORY: full,
      GITHUB_REPOSITORY_ID: String(repo.id),
      GITHUB_REPOSITORY_OWNER: repo.owner,
      GITHUB_RETENTION_DAYS: "90",
      GITHUB_RUN_ATTEMPT: String(run.runAttempt),
      GITHUB_RUN_ID: String(run.id),
      GITHUB_RUN_NUMBER: String(run.runNumber),
      GITHUB_SERVER_URL: state.url,
      GITHUB_SHA: run.headSha,
      GITHUB_TRIGGERING_ACTOR: run.actor,
      GITHUB_WORKFLOW: run.name,
      GITHUB_WORKFLOW_REF: workflowRef,
      GITHUB_WORKFLOW_SHA: run.headSha,
      GITHUB_WORKSPACE: workspace,
      RUNNER_ARCH: "X64",
      RUNNER_ENVIRONMENT: "github-hosted",
      RUNNER_NAME: runnerName,
      RUNNER_OS: "Linux",
      RUNNER_TEMP: temp,
      RUNNER_TOOL_CACHE: toolCache,
      RUNNER_TRACKING_ID: job.trackingId,
      ...(exec.options.env ?? {}),
    };
    const faults = this.currentFaults;
    exec.cancelRun ??= this.chance(faults.cancelRun);
    const strategy = { "fail-fast": job.failFast, "job-index": record.index, "job-total": record.total, "max-parallel": record.total };
    const ctx: JobContext = {
      exec,
      job,
      workflowFile: run.path,
      jobKey,
      scratch,
      workspace,
      temp,
      home,
      status: { failed: false, cancelled: false },
      env: {},
      envContext: {},
      contexts: {
        github,
        inputs: base.inputs,
        runner,
        env: {},
        steps: {},
        job: { status: "success" },
        secrets: {},
        vars: {},
        matrix: job.matrix,
        strategy,
        needs: {},
      },
      steps: {},
      loseArtifact: this.chance(faults.loseArtifact),
      cancelAfterMs: faults.cancelAfterMs ?? 0,
    };
    ctx.env = { ...env };
    // Workflow- and job-level `env:` see the contexts but not each other's values.
    const scope = this.scope(ctx);
    for (const level of [workflow.env ?? {}, (job.definition.env ?? {}) as Record<string, unknown>]) {
      for (const [key, value] of Object.entries(level)) ctx.envContext[key] = renderTemplate(value, scope);
    }
    Object.assign(ctx.env, ctx.envContext);
    return ctx;
  }

  private scope(ctx: JobContext, stepEnv: Record<string, string> = {}): ExprScope & { status: JobStatus } {
    ctx.status.cancelled = ctx.job.cancelled;
    return {
      contexts: {
        ...ctx.contexts,
        env: { ...ctx.envContext, ...stepEnv },
        steps: ctx.steps,
        job: { status: ctx.status.cancelled ? "cancelled" : ctx.status.failed ? "failure" : "success" },
      },
      status: ctx.status,
    };
  }

  /** Runs (or skips) a step; its record is in the job's steps from the moment it starts. */
  private async step(ctx: JobContext, step: Record<string, unknown>, index: number): Promise<RunStepRecord> {
    const { exec, job } = ctx;
    const log = job.log;
    const uses = typeof step.uses === "string" ? step.uses : undefined;
    const name = stepName(step);
    const id = typeof step.id === "string" ? step.id : `__${index}`;
    const record: RunStepRecord = {
      number: index + 1,
      name,
      ...(uses ? { uses } : {}),
      outcome: "skipped",
      conclusion: "skipped",
      startedAt: isoSeconds(Date.now()),
    };
    job.record.steps.push(record);
    const done = (result: StepOutcome, continueOnError = false) => {
      record.completedAt = isoSeconds(Date.now());
      record.outcome = result.outcome;
      record.conclusion = result.outcome === "failure" && continueOnError ? "success" : result.outcome;
      if (result.exitCode !== undefined) record.exitCode = result.exitCode;
      if (result.error) record.error = result.error;
      if (result.summary) record.summary = result.summary;
      ctx.steps[id] = { outputs: result.outputs ?? {}, outcome: record.outcome, conclusion: record.conclusion };
      if (record.conclusion === "failure") ctx.status.failed = true;
      if (result.error) log.line(`##[error]${result.error}`);
      log.line("##[endgroup]");
      return record;
    };

    let run: boolean;
    let scope = this.scope(ctx);
    try {
      run = evaluateCondition(step.if, scope);
    } catch (error) {
      log.line(`##[group]${name}`);
      return done({ outcome: "failure", error: `The step's condition could not be evaluated: ${(error as Error).message}` });
    }
    if (!run) {
      ctx.steps[id] = { outputs: {}, outcome: "skipped", conclusion: "skipped" };
      record.completedAt = record.startedAt;
      return record;
    }
    log.line(`##[group]${name}`);
    // A step that starts after the job was cancelled (an `if: always()` one) is not interrupted by it.
    const signal = job.cancelled ? new AbortController().signal : job.abort.signal;
    scope = this.scope(ctx);
    let inputs: Record<string, string>;
    let stepEnv: Record<string, string>;
    let continueOnError: boolean;
    try {
      const ownEnv: Record<string, string> = {};
      for (const [key, value] of Object.entries((step.env ?? {}) as Record<string, unknown>)) ownEnv[key] = renderTemplate(value, scope);
      stepEnv = { ...ctx.env, ...ownEnv };
      scope = this.scope(ctx, ownEnv);
      const withMap = (step.with ?? {}) as Record<string, unknown>;
      inputs = Object.fromEntries(Object.entries(withMap).map(([k, v]) => [k, renderTemplate(v, scope)]));
      const coe = step["continue-on-error"];
      continueOnError = coe === true || (typeof coe === "string" && renderTemplate(coe, scope) === "true");
    } catch (error) {
      const message = error instanceof ExpressionError ? `The template is not valid. ${ctx.workflowFile}: ${error.message}` : String(error);
      return done({ outcome: "failure", error: message });
    }
    record.inputs = inputs;
    const knownKeys = new Set(["name", "id", "if", "uses", "with", "env", "run", "shell", "working-directory", "continue-on-error", "timeout-minutes"]);
    const extra = Object.keys(step).filter((k) => !knownKeys.has(k));
    if (extra.length > 0) {
      this.violation(`run ${exec.run.id}: step key(s) ${extra.join(", ")} are not emulated by the double`);
      return done({ outcome: "failure", error: `step key(s) ${extra.join(", ")} are not emulated by the GitHub double` });
    }

    let result: StepOutcome;
    if (uses) {
      const [target] = uses.split("@");
      const actionDir = (exec.options.actions ?? DEFAULT_ACTIONS)[target ?? ""];
      if (target === "actions/checkout") result = await this.checkout(ctx, inputs, signal);
      else if (target === "actions/upload-artifact") result = await this.upload(ctx, inputs);
      else if (actionDir) result = await this.javascriptAction(ctx, actionDir, inputs, stepEnv, signal);
      else {
        this.violation(`run ${exec.run.id}: uses: ${uses} is not emulated by the double`);
        result = { outcome: "failure", error: `uses: ${uses} is not emulated by the GitHub double` };
      }
    } else if (typeof step.run === "string") {
      let script: string;
      try {
        script = renderTemplate(step.run, scope);
      } catch (error) {
        return done({ outcome: "failure", error: `The template is not valid. ${ctx.workflowFile}: ${(error as Error).message}` });
      }
      result = await this.script(ctx, script, step.shell, step["working-directory"], stepEnv, signal);
    } else {
      result = { outcome: "failure", error: "a step needs `uses` or `run`" };
    }
    if (signal.aborted && result.outcome !== "success") result.outcome = "cancelled";
    return done(result, continueOnError);
  }

  /** Runs a process in its own group, logging its output; a cancellation signals the group. */
  private process(
    ctx: JobContext,
    file: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    signal: AbortSignal,
    onStart?: () => void,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const { exec } = ctx;
    const log = ctx.job.log;
    return new Promise((resolve) => {
      const child = spawn(file, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      const timers: NodeJS.Timeout[] = [];
      const onAbort = () => {
        log.line("##[error]The operation was canceled.");
        if (!child.pid) return;
        const pid = child.pid;
        if (this.closing) {
          signalGroup(pid, "SIGKILL");
          return;
        }
        signalGroup(pid, "SIGINT");
        const grace = exec.options.cancelGraceMs ?? 7500;
        timers.push(setTimeout(() => signalGroup(pid, "SIGTERM"), grace));
        timers.push(setTimeout(() => signalGroup(pid, "SIGKILL"), grace + 2500));
      };
      child.stdout.on("data", (chunk: Buffer) => log.append(chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => log.append(chunk.toString("utf8")));
      let settled = false;
      const settle = (code: number | null, sig: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        for (const t of timers) clearTimeout(t);
        if (child.pid) signalGroup(child.pid, "SIGKILL");
        resolve({ code, signal: sig });
      };
      child.on("error", (error) => {
        log.line(`##[error]${error.message}`);
        settle(null, null);
      });
      // Wait for the output to drain, but not for descendants that keep the pipes open.
      child.on("exit", (code, sig) => {
        const drained = setTimeout(() => settle(code, sig), 1000);
        child.on("close", () => {
          clearTimeout(drained);
          settle(code, sig);
        });
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      onStart?.();
    });
  }

  /** Step files a runner hands each step (GITHUB_OUTPUT, GITHUB_ENV, …), created empty. */
  private async fileCommands(ctx: JobContext): Promise<Record<string, string>> {
    const dir = path.join(ctx.temp, "_runner_file_commands");
    await mkdir(dir, { recursive: true });
    const files: Record<string, string> = {};
    const suffix = randomUUID();
    for (const [variable, name] of [
      ["GITHUB_OUTPUT", "set_output"],
      ["GITHUB_ENV", "set_env"],
      ["GITHUB_PATH", "add_path"],
      ["GITHUB_STATE", "save_state"],
      ["GITHUB_STEP_SUMMARY", "step_summary"],
    ] as const) {
      files[variable] = path.join(dir, `${name}_${suffix}`);
      await writeFile(files[variable], "");
    }
    return files;
  }

  /** Applies a step's file commands: outputs returned, env and path carried to later steps. */
  private async readFileCommands(ctx: JobContext, files: Record<string, string>): Promise<{ outputs: Record<string, string>; summary: string }> {
    const read = (v: string) => readFile(files[v]!, "utf8").catch(() => "");
    const [output, env, addPath, summary] = await Promise.all([read("GITHUB_OUTPUT"), read("GITHUB_ENV"), read("GITHUB_PATH"), read("GITHUB_STEP_SUMMARY")]);
    const exported = parseFileCommands(env);
    Object.assign(ctx.env, exported);
    Object.assign(ctx.envContext, exported);
    const extraPath = addPath.split(/\r?\n/).filter(Boolean);
    if (extraPath.length > 0) ctx.env.PATH = [...extraPath.reverse(), ctx.env.PATH].join(path.delimiter);
    return { outputs: parseFileCommands(output), summary };
  }

  /**
   * `actions/checkout`: a commit in a fresh workspace, fetched from the double's repository. The
   * run's commit on its branch or tag by default; with `ref: <40-hex sha>` that commit, detached
   * (checkout's refspec is then the bare sha: `git fetch --depth=1 origin <sha>`, a shallow clone
   * of that one commit). `fetch-depth: 0` fetches every branch and tag.
   */
  private async checkout(ctx: JobContext, inputs: Record<string, string>, signal: AbortSignal): Promise<StepOutcome> {
    const { exec } = ctx;
    const log = ctx.job.log;
    const { run, repo } = exec;
    const refuse = (what: string): StepOutcome => {
      this.violation(`run ${run.id}: actions/checkout with ${what} is not emulated by the double`);
      return { outcome: "failure", error: `actions/checkout with ${what} is not emulated by the GitHub double` };
    };
    if (inputs.repository && inputs.repository.toLowerCase() !== fullNameOf(repo).toLowerCase()) return refuse(`repository: ${inputs.repository}`);
    if (inputs.path) return refuse(`path: ${inputs.path}`);
    // checkout takes a 40-hex ref for a commit (input-helper: `ref` becomes `commit`).
    const commit = inputs.ref && /^[0-9a-f]{40}$/i.test(inputs.ref) ? inputs.ref.toLowerCase() : null;
    if (inputs.ref && !commit) return refuse(`ref: ${inputs.ref} (only a full commit sha is)`);
    const depthText = inputs["fetch-depth"] ?? "1";
    const depth = Number(depthText);
    if (!Number.isInteger(depth) || depth < 0) return { outcome: "failure", error: `The value '${depthText}' is not valid for 'fetch-depth'` };
    const env = { PATH: ctx.env.PATH, HOME: ctx.home, LANG: "C.UTF-8", GIT_TERMINAL_PROMPT: "0", RUNNER_TRACKING_ID: ctx.job.trackingId };
    const resolved = await resolveBranchOrTag(repo.path, run.ref);
    const isTag = resolved?.prefix === "refs/tags/";
    const remoteRef = isTag ? `refs/tags/${run.headBranch}` : `refs/remotes/origin/${run.headBranch}`;
    const url = `file://${path.resolve(repo.path)}`;
    const allHistory = [
      "-c",
      "protocol.version=2",
      "fetch",
      "--prune",
      "--no-recurse-submodules",
      "--quiet",
      "origin",
      "+refs/heads/*:refs/remotes/origin/*",
      "+refs/tags/*:refs/tags/*",
    ];
    const shallow = (refspec: string) => [
      "-c",
      "protocol.version=2",
      "fetch",
      "--no-tags",
      "--prune",
      "--no-recurse-submodules",
      "--quiet",
      `--depth=${depth}`,
      "origin",
      refspec,
    ];
    const commands: string[][] = [
      ["init", "--quiet", ctx.workspace],
      ["remote", "add", "origin", url],
    ];
    if (commit) {
      commands.push(depth === 0 ? allHistory : shallow(commit), ["checkout", "--quiet", "--force", commit]);
    } else {
      commands.push(
        depth === 0 ? allHistory : shallow(`+${run.headSha}:${remoteRef}`),
        // The run's commit even when the branch moved since the dispatch (checkout's testRef).
        ["update-ref", remoteRef, run.headSha],
        isTag ? ["checkout", "--quiet", "--force", remoteRef] : ["checkout", "--quiet", "--force", "-B", run.headBranch, remoteRef],
      );
    }
    for (const args of commands) {
      log.line(`[command]/usr/bin/git ${args.join(" ")}`);
      const outcome = await git(ctx.workspace, args, env, signal);
      if (outcome.output) log.append(outcome.output);
      if (signal.aborted) return { outcome: "cancelled" };
      if (outcome.code !== 0) return { outcome: "failure", error: `git ${args[0] === "-c" ? args[2] : args[0]} failed with exit code ${outcome.code}` };
    }
    return { outcome: "success" };
  }

  /** A JavaScript action, as the runner runs one: `node <main>` with INPUT_* and the runner's variables. */
  private async javascriptAction(
    ctx: JobContext,
    dir: string,
    withInputs: Record<string, string>,
    stepEnv: Record<string, string>,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const { exec } = ctx;
    const meta = actionMeta(dir);
    if (!/^node\d+$/.test(meta.using) || !meta.main)
      return { outcome: "failure", error: `${dir}/action.yml: runs.using '${meta.using}' is not a JavaScript action` };
    const declared = Object.keys(meta.inputs);
    const unexpected = Object.keys(withInputs).filter((k) => !declared.some((d) => d.toLowerCase() === k.toLowerCase()));
    if (unexpected.length > 0)
      ctx.job.log.line(
        `##[warning]Unexpected input(s) ${unexpected.map((k) => `'${k}'`).join(", ")}, valid inputs are [${declared.map((k) => `'${k}'`).join(", ")}]`,
      );
    const inputEnv: Record<string, string> = {};
    const scope = this.scope(ctx);
    for (const [name, spec] of Object.entries(meta.inputs)) {
      if (spec?.default !== undefined) inputEnv[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = renderTemplate(spec.default, scope);
    }
    for (const [name, value] of Object.entries(withInputs)) inputEnv[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
    const files = await this.fileCommands(ctx);
    const env = { ...stepEnv, ...inputEnv, ...files, RUNNER_TRACKING_ID: ctx.job.trackingId };
    // cancelRun: GitHub cancels the whole run once the first job's Action started.
    const onStart = () => {
      if (!exec.cancelRun) return;
      exec.cancelRun = false;
      setTimeout(() => this.cancel(exec.run.id), ctx.cancelAfterMs);
    };
    const { code, signal: killedBy } = await this.process(ctx, process.execPath, [path.join(dir, meta.main)], ctx.workspace, env, signal, onStart);
    const { outputs, summary } = await this.readFileCommands(ctx, files);
    if (code === 0) return { outcome: "success", outputs, exitCode: 0, summary };
    return {
      outcome: "failure",
      outputs,
      exitCode: code,
      summary,
      ...(code === null ? { error: `The action was stopped (${killedBy ?? "unknown signal"}).` } : {}),
    };
  }

  /** A `run:` step: bash (`--noprofile --norc -eo pipefail`, the default) or sh. */
  private async script(
    ctx: JobContext,
    script: string,
    shell: unknown,
    workingDirectory: unknown,
    stepEnv: Record<string, string>,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const file = path.join(ctx.temp, `${randomUUID()}.sh`);
    await writeFile(file, script);
    const shellName = shell === undefined ? "bash" : workflowText(shell);
    const argv = shellName === "bash" ? ["bash", "--noprofile", "--norc", "-eo", "pipefail", file] : shellName === "sh" ? ["sh", "-e", file] : null;
    if (!argv) {
      this.violation(`run ${ctx.exec.run.id}: shell: ${shellName} is not emulated by the double`);
      return { outcome: "failure", error: `shell: ${shellName} is not emulated by the GitHub double` };
    }
    const cwd = typeof workingDirectory === "string" && workingDirectory ? path.resolve(ctx.workspace, workingDirectory) : ctx.workspace;
    const files = await this.fileCommands(ctx);
    const { code } = await this.process(ctx, argv[0]!, argv.slice(1), cwd, { ...stepEnv, ...files, RUNNER_TRACKING_ID: ctx.job.trackingId }, signal);
    const { outputs, summary } = await this.readFileCommands(ctx, files);
    if (code === 0) return { outcome: "success", outputs, exitCode: 0, summary };
    return { outcome: "failure", outputs, exitCode: code, summary, error: `Process completed with exit code ${code ?? "(killed)"}.` };
  }

  /** `actions/upload-artifact` v4: the files of `path` in one zip, named relative to their common directory. */
  private async upload(ctx: JobContext, inputs: Record<string, string>): Promise<StepOutcome> {
    const { exec } = ctx;
    const name = inputs.name || "artifact";
    if (INVALID_ARTIFACT_NAME.test(name)) {
      return {
        outcome: "failure",
        error: `The artifact name is not valid: ${name}. Contains the following character: ${INVALID_ARTIFACT_NAME.exec(name)![0]}`,
      };
    }
    const ifNoFiles = inputs["if-no-files-found"] || "warn";
    const patterns = (inputs.path ?? "")
      .split(/\r?\n/)
      .map((p) => p.trim())
      .filter(Boolean);
    if (patterns.length === 0) return { outcome: "failure", error: "Input required and not supplied: path" };
    const files: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const info = await stat(p).catch(() => null);
      if (!info) return;
      if (info.isDirectory()) {
        for (const entry of await readdir(p)) await walk(path.join(p, entry));
      } else if (info.isFile()) {
        files.push(p);
      }
    };
    for (const pattern of patterns) {
      if (pattern.startsWith("!") || /[*?[]/.test(pattern)) {
        this.violation(`run ${exec.run.id}: upload-artifact path pattern '${pattern}' is not emulated by the double`);
        return { outcome: "failure", error: `upload-artifact path pattern '${pattern}' is not emulated by the GitHub double` };
      }
      await walk(path.resolve(ctx.workspace, pattern));
    }
    if (files.length === 0) {
      const message = `No files were found with the provided path: ${patterns.join("\n")}. No artifacts will be uploaded.`;
      if (ifNoFiles === "error") return { outcome: "failure", error: message };
      ctx.job.log.line(ifNoFiles === "warn" ? `##[warning]${message}` : message);
      return { outcome: "success" };
    }
    // Entries are named relative to the deepest directory holding every file (a lone file: its base name).
    let root = path.dirname(files[0]!);
    for (const f of files) while (!f.startsWith(`${root}${path.sep}`)) root = path.dirname(root);
    const entries = await Promise.all(files.sort().map(async (f) => ({ name: path.relative(root, f).split(path.sep).join("/"), data: await readFile(f) })));
    const overwrite = inputs.overwrite === "true";
    const existing = this.parts.state.artifacts.find((a) => a.runId === exec.run.id && a.name === name);
    if (existing && !overwrite) {
      return {
        outcome: "failure",
        error: `Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: an artifact with this name already exists on the workflow run`,
      };
    }
    if (ctx.loseArtifact) {
      ctx.job.log.line(`Artifact ${name} has been successfully uploaded! (fault: it is lost)`);
      return { outcome: "success" };
    }
    const artifact = addArtifact(this.parts.state, exec.run, { name, zip: makeZip(entries), overwrite });
    ctx.job.log.line(`Artifact ${name} has been successfully uploaded! Final size is ${artifact.sizeInBytes} bytes. Artifact ID is ${artifact.id}`);
    return {
      outcome: "success",
      outputs: {
        "artifact-id": String(artifact.id),
        "artifact-url": `${this.parts.state.url}/${exec.run.repository}/actions/runs/${exec.run.id}/artifacts/${artifact.id}`,
        "artifact-digest": String(artifact.digest ?? "").replace(/^sha256:/, ""),
      },
    };
  }
}
