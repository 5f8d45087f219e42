/**
 * Workflow dispatch and runs, as GitHub Actions answers them: the workflow file is read from the
 * dispatched ref in git, its `workflow_dispatch` inputs are checked the way GitHub checks them,
 * and each accepted dispatch becomes a queued run record that tests then move along. Runs GitHub
 * starts on its own (CI on a push) are added by tests with `addCiRun`.
 */
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import { gitEnv } from "../dag-repo.js";
import { commitInfo, isoSeconds, readFileAt, resolveBranchOrTag, resolveCommit } from "./git-data.js";
import { addArtifact, type ArtifactOptions } from "./artifacts.js";
import { renderTemplate, workflowText, type ExprValue } from "./expressions.js";
import { fullNameOf, type ArtifactRecord, type DoubleRepository, type DoubleState, type RunStatus, type WorkflowRunRecord } from "./state.js";

/** GitHub refuses `inputs` whose JSON is longer than this. */
export const MAX_INPUTS_JSON = 65_535;

interface WorkflowInput {
  required?: boolean;
  default?: unknown;
  type?: string;
  options?: unknown[];
}

interface WorkflowFile {
  name?: string;
  "run-name"?: unknown;
  on?: unknown;
}

/** A refusal with GitHub's status and message. */
export class DispatchError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The `workflow_dispatch` trigger's config (`{}` when declared bare), or null when absent. */
function dispatchTrigger(on: unknown): { inputs?: Record<string, WorkflowInput> } | null {
  if (on === "workflow_dispatch") return {};
  if (Array.isArray(on)) return on.includes("workflow_dispatch") ? {} : null;
  if (on && typeof on === "object" && "workflow_dispatch" in on) {
    const trigger = (on as Record<string, unknown>).workflow_dispatch;
    return trigger && typeof trigger === "object" ? trigger : {};
  }
  return null;
}

/**
 * Renders `run-name` as GitHub does, with the expression evaluator (`format(…)`, `&&`, `||`,
 * `fromJSON`…) in the contexts GitHub allows there: `github`, `inputs` (typed as declared) and
 * `vars`. One that cannot be evaluated names the run after its workflow (the double's choice).
 */
function renderRunName(
  template: unknown,
  fallback: string,
  declared: Record<string, WorkflowInput>,
  inputs: Record<string, string>,
  github: Record<string, ExprValue>,
): string {
  const typed: Record<string, ExprValue> = {};
  for (const [key, value] of Object.entries(inputs)) {
    const type = declared[key]?.type;
    typed[key] = type === "boolean" ? value === "true" : type === "number" ? Number(value) : value;
  }
  try {
    return renderTemplate(template, { contexts: { github, inputs: typed, vars: {} } }) || fallback;
  } catch {
    return fallback;
  }
}

/** Resolves the `workflow_id` path parameter (file name or numeric id) to a file name. */
export function workflowFile(state: DoubleState, repo: DoubleRepository, workflowId: string): string | null {
  if (/^\d+$/.test(workflowId)) {
    for (const [key, id] of state.workflowIds) {
      if (id === Number(workflowId) && key.startsWith(`${fullNameOf(repo).toLowerCase()}:`)) return key.slice(key.indexOf(":") + 1);
    }
    return null;
  }
  return workflowId.includes("/") ? null : workflowId;
}

function workflowIdFor(state: DoubleState, repo: DoubleRepository, file: string): number {
  const key = `${fullNameOf(repo).toLowerCase()}:${file}`;
  let id = state.workflowIds.get(key);
  if (id === undefined) {
    id = state.nextWorkflowId++;
    state.workflowIds.set(key, id);
  }
  return id;
}

/**
 * Validates a dispatch like GitHub does and creates the run. Messages are GitHub's where known
 * ("No ref found for: x", "Unexpected inputs provided: [...]", "inputs are too large.").
 */
export async function dispatch(
  state: DoubleState,
  repo: DoubleRepository,
  workflowId: string,
  body: { ref: string; inputs?: Record<string, unknown> },
): Promise<WorkflowRunRecord> {
  const file = workflowFile(state, repo, workflowId);
  const ref = await resolveBranchOrTag(repo.path, body.ref);
  if (!ref) throw new DispatchError(422, `No ref found for: ${body.ref}`);
  const path = `.github/workflows/${file ?? ""}`;
  const content = file ? await readFileAt(repo.path, ref.oid, path) : null;
  if (!file || content === null) throw new DispatchError(404, "Not Found");
  const workflow = (parse(content) ?? {}) as WorkflowFile;
  const trigger = dispatchTrigger(workflow.on);
  if (!trigger) throw new DispatchError(422, "Workflow does not have 'workflow_dispatch' trigger");

  const given = body.inputs ?? {};
  for (const [key, value] of Object.entries(given)) {
    if (typeof value !== "string") throw new DispatchError(422, `Invalid request.\n\nFor 'properties/${key}', ${JSON.stringify(value)} is not a string.`);
  }
  if (JSON.stringify(given).length > MAX_INPUTS_JSON) throw new DispatchError(422, "inputs are too large.");
  const declared = trigger.inputs ?? {};
  const unexpected = Object.keys(given).filter((key) => !(key in declared));
  if (unexpected.length > 0) throw new DispatchError(422, `Unexpected inputs provided: [${unexpected.map((k) => JSON.stringify(k)).join(", ")}]`);
  const inputs: Record<string, string> = {};
  for (const [key, spec] of Object.entries(declared)) {
    const value = given[key] as string | undefined;
    if (value === undefined && spec?.required && spec.default === undefined) throw new DispatchError(422, `Required input '${key}' not provided`);
    const effective = value ?? (spec?.default === undefined ? undefined : workflowText(spec.default));
    // GitHub's wording for a value outside a choice input's options is not documented; this is close.
    if (value !== undefined && spec?.type === "choice" && Array.isArray(spec.options) && !spec.options.map(String).includes(value)) {
      throw new DispatchError(422, `Provided value '${value}' for input '${key}' not in the list of allowed values`);
    }
    if (effective !== undefined) inputs[key] = effective;
  }

  // A dispatch on an annotated tag runs at the tagged commit.
  const head = await commitInfo(repo.path, (await resolveCommit(repo.path, ref.oid)) ?? ref.oid);
  const numericId = workflowIdFor(state, repo, file);
  const now = isoSeconds(Date.now());
  const name = workflow.name ?? path;
  const id = state.nextRunId++;
  const runNumber = state.runs.filter((r) => r.workflowId === numericId).length + 1;
  const github: Record<string, ExprValue> = {
    event_name: "workflow_dispatch",
    event: { inputs: { ...inputs }, ref: `${ref.prefix}${ref.name}`, workflow: path },
    ref: `${ref.prefix}${ref.name}`,
    ref_name: ref.name,
    ref_type: ref.prefix === "refs/tags/" ? "tag" : "branch",
    sha: head.oid,
    repository: fullNameOf(repo),
    repository_owner: repo.owner,
    actor: state.botLogin,
    triggering_actor: state.botLogin,
    workflow: name,
    run_id: String(id),
    run_number: String(runNumber),
    run_attempt: "1",
    server_url: state.url,
    api_url: state.api,
  };
  const run: WorkflowRunRecord = {
    id,
    repository: fullNameOf(repo),
    workflow: file,
    workflowId: numericId,
    path,
    name,
    displayTitle: workflow["run-name"] ? renderRunName(workflow["run-name"], name, declared, inputs, github) : name,
    ref: body.ref,
    headBranch: ref.name,
    headSha: head.oid,
    inputs,
    event: "workflow_dispatch",
    status: "queued",
    conclusion: null,
    runNumber,
    runAttempt: 1,
    actor: state.botLogin,
    createdAt: now,
    updatedAt: now,
    runStartedAt: now,
  };
  state.runs.push(run);
  return run;
}

/** A run GitHub started on its own (CI on a push, a schedule…), not one the app dispatched. */
export interface CiRunOptions {
  /** The workflow's file name under `.github/workflows`, e.g. `ci.yml`. */
  workflow: string;
  /** The commit it ran on: a sha (or any revision naming a commit; the full sha is stored). */
  headSha: string;
  /** The run's conclusion; null: still `in_progress`. */
  conclusion: RunConclusion | null;
  /** Default `push`. */
  event?: string;
  /** Default: the repository's default branch. */
  branch?: string;
  /** Login of whoever pushed. Default `pusher`. */
  actor?: string;
}

/** Runs git in `dir` synchronously (`addCiRun` answers at once): stdout, or null on a non-zero exit. */
function gitSync(dir: string, args: string[]): string | null {
  const result = spawnSync("git", args, { cwd: dir, env: gitEnv(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result.status === 0 ? result.stdout : null;
}

/**
 * Records a run GitHub started itself (no dispatch, no inputs), as the list and get run endpoints
 * then serve it: named by the workflow file's `name:` at the head commit (its path when the file
 * is not there or does not parse, as GitHub shows it), titled by the head commit's subject line,
 * numbered after the workflow's earlier runs, `completed` with the conclusion or `in_progress`.
 *
 * `created_at` is after every earlier run of the repository: a run added in the same second as the
 * latest one is dated a second later, so ordering by creation time is never a tie (the double's
 * clock may then run a few seconds ahead). Throws when the head commit is not in the repository.
 */
export function addCiRun(state: DoubleState, repo: DoubleRepository, options: CiRunOptions): WorkflowRunRecord {
  const file = options.workflow;
  if (file === "" || file.includes("/")) throw new Error(`workflow: a file name under .github/workflows, not ${JSON.stringify(file)}`);
  const headSha = gitSync(repo.path, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${options.headSha}^{commit}`])?.trim();
  if (!headSha) throw new Error(`${fullNameOf(repo)} has no commit ${options.headSha} (in ${repo.path})`);
  const path = `.github/workflows/${file}`;
  const content = gitSync(repo.path, ["cat-file", "blob", `${headSha}:${path}`]);
  let name = path;
  if (content !== null) {
    try {
      const workflow = parse(content) as WorkflowFile | null;
      if (typeof workflow?.name === "string" && workflow.name !== "") name = workflow.name;
    } catch {
      // An invalid workflow file: GitHub names the run after its path.
    }
  }
  const subject = (gitSync(repo.path, ["log", "-1", "--format=%B", headSha, "--"]) ?? "").split("\n")[0] ?? "";
  const branch = options.branch ?? repo.defaultBranch ?? (gitSync(repo.path, ["symbolic-ref", "--quiet", "--short", "HEAD"])?.trim() || "main");
  const full = fullNameOf(repo);
  let latest = -Infinity;
  for (const run of state.runs) if (run.repository.toLowerCase() === full.toLowerCase()) latest = Math.max(latest, Date.parse(run.createdAt));
  const now = isoSeconds(Math.max(Date.now(), latest + 1000));
  const workflowId = workflowIdFor(state, repo, file);
  const actor = options.actor ?? "pusher";
  state.user(actor);
  const run: WorkflowRunRecord = {
    id: state.nextRunId++,
    repository: full,
    workflow: file,
    workflowId,
    path,
    name,
    displayTitle: subject,
    ref: branch,
    headBranch: branch,
    headSha,
    inputs: {},
    event: options.event ?? "push",
    status: options.conclusion === null ? "in_progress" : "completed",
    conclusion: options.conclusion,
    runNumber: state.runs.filter((r) => r.workflowId === workflowId).length + 1,
    runAttempt: 1,
    actor,
    createdAt: now,
    updatedAt: now,
    runStartedAt: now,
  };
  state.runs.push(run);
  return run;
}

/** Statuses the list API's `status` filter accepts that are really conclusions. */
const CONCLUSIONS = new Set(["action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success", "timed_out", "startup_failure"]);

/** One bound of a `created` filter (GitHub search syntax); a bare date covers the whole day. */
function parseDate(value: string, end: boolean): number {
  if (value === "*") return end ? Infinity : -Infinity;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return Date.parse(`${value}T00:00:00Z`) + (end ? 86_400_000 - 1 : 0);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new DispatchError(422, `Invalid created filter: ${value}`);
  return ms;
}

/** Parses `created` (`>=X`, `<X`, `X..Y`, `X`) into an inclusive millisecond range. */
export function createdRange(filter: string): [number, number] {
  const op = /^(>=|<=|>|<)(.*)$/.exec(filter);
  if (op) {
    const [, sign, value = ""] = op;
    if (sign === ">=") return [parseDate(value, false), Infinity];
    if (sign === ">") return [parseDate(value, true) + 1, Infinity];
    if (sign === "<=") return [-Infinity, parseDate(value, true)];
    return [-Infinity, parseDate(value, false) - 1];
  }
  const range = filter.split("..");
  if (range.length === 2) return [parseDate(range[0] ?? "*", false), parseDate(range[1] ?? "*", true)];
  return [parseDate(filter, false), parseDate(filter, true)];
}

export interface RunFilter {
  workflowId?: number;
  event?: string;
  status?: string;
  branch?: string;
  actor?: string;
  created?: string;
  head_sha?: string;
}

/** The repository's runs that pass the list API's filters, newest first. */
export function listRuns(state: DoubleState, repo: DoubleRepository, filter: RunFilter): WorkflowRunRecord[] {
  const created = filter.created ? createdRange(filter.created) : null;
  return state.runs
    .filter((run) => run.repository.toLowerCase() === fullNameOf(repo).toLowerCase())
    .filter((run) => filter.workflowId === undefined || run.workflowId === filter.workflowId)
    .filter((run) => !filter.event || run.event === filter.event)
    .filter((run) => !filter.branch || run.headBranch === filter.branch)
    .filter((run) => !filter.actor || run.actor === filter.actor)
    .filter((run) => !filter.head_sha || run.headSha === filter.head_sha)
    .filter((run) => !filter.status || (CONCLUSIONS.has(filter.status) ? run.conclusion === filter.status : run.status === filter.status))
    .filter((run) => {
      if (!created) return true;
      const at = Date.parse(run.createdAt);
      return at >= created[0] && at <= created[1];
    })
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id - a.id);
}

/** Moves a run along; `in_progress` restarts the clock as GitHub's `run_started_at` does. */
export function setRunStatus(state: DoubleState, runId: number, status: RunStatus, conclusion: string | null = null): WorkflowRunRecord {
  const run = state.runs.find((r) => r.id === runId);
  if (!run) throw new Error(`no workflow run ${runId}`);
  const now = isoSeconds(Date.now());
  if (status === "in_progress" && run.status !== "in_progress") run.runStartedAt = now;
  run.status = status;
  run.conclusion = status === "completed" ? (conclusion ?? "success") : null;
  run.updatedAt = now;
  return run;
}

/** Conclusions a completed run can have (the `workflow_run.completed` webhook's enum). */
export type RunConclusion = "success" | "failure" | "cancelled" | "timed_out" | "action_required" | "neutral" | "skipped" | "stale" | "startup_failure";

function runOrThrow(state: DoubleState, runId: number): WorkflowRunRecord {
  const run = state.runs.find((r) => r.id === runId);
  if (!run) throw new Error(`no workflow run ${runId}`);
  return run;
}

/** Moves the run to a later attempt (a re-run: same id, new jobs, `run_started_at` restarts). */
function advanceAttempt(run: WorkflowRunRecord, runAttempt: number | undefined, now: string): void {
  if (runAttempt === undefined || runAttempt === run.runAttempt) return;
  if (runAttempt < run.runAttempt) throw new Error(`run ${run.id} is at attempt ${run.runAttempt}; attempts only go up (asked for ${runAttempt})`);
  run.runAttempt = runAttempt;
  run.runStartedAt = now;
}

/** Starts the run (status `in_progress`), optionally as a later attempt. */
export function startRun(state: DoubleState, runId: number, options: { runAttempt?: number } = {}): WorkflowRunRecord {
  const run = runOrThrow(state, runId);
  const now = isoSeconds(Date.now());
  advanceAttempt(run, options.runAttempt, now);
  if (run.status !== "in_progress") run.runStartedAt = now;
  run.status = "in_progress";
  run.conclusion = null;
  run.updatedAt = now;
  return run;
}

export interface CompleteRunOptions {
  conclusion: RunConclusion;
  /** The artifact the attempt uploaded; none when omitted or null. */
  artifact?: ArtifactOptions | null;
  /** Complete a later attempt (a re-run) than the run's current one. */
  runAttempt?: number;
}

export interface CompletedRun {
  run: WorkflowRunRecord;
  /** The artifact the run lists under the uploaded name (an earlier attempt's when upload-artifact refused the new one), or null. */
  artifact: ArtifactRecord | null;
}

/** Completes the run with a conclusion and stores the artifact its attempt uploaded. */
export function completeRun(state: DoubleState, runId: number, options: CompleteRunOptions): CompletedRun {
  const run = runOrThrow(state, runId);
  const now = isoSeconds(Date.now());
  advanceAttempt(run, options.runAttempt, now);
  run.status = "completed";
  run.conclusion = options.conclusion;
  run.updatedAt = now;
  run.runStartedAt ||= now;
  const artifact = options.artifact ? addArtifact(state, run, options.artifact) : null;
  return { run, artifact };
}
