/**
 * Test support: `workflow_run` and `workflow_job` deliveries for a run of the GitHub double, built
 * from GitHub's own examples (@octokit/webhooks-examples) and checked against GitHub's webhook
 * schema, like the `issue_comment` payloads of webhooks.ts.
 *
 * A payload describes the moment of its action, not the run's current state: `requested` and
 * `in_progress` carry no conclusion even when built after the run completed, so tests can deliver
 * them late or out of order (GitHub does not order deliveries).
 */
import { z } from "zod";
import { jobRecordJson, nodeId, workflowJobJson, type LinkBases } from "./github-double/objects.js";
import type { WorkflowJobRecord, WorkflowRunRecord } from "./github-double/state.js";
import { assertWebhookPayload, example, isJsonObject, objectAt } from "./webhooks.js";

// Payloads are loosely typed JSON; they are checked against GitHub's schema before they leave.
type Payload = Record<string, unknown>;

/** What an example's repository and sender say about whose they are. */
const exampleRepositorySchema = z.object({ full_name: z.string(), owner: z.object({ login: z.string() }) });
const exampleSenderSchema = z.object({ login: z.string() });

export interface RunRepository {
  id: number;
  owner: string;
  name: string;
  /** The repository's default branch, as the payload's `repository` names it. Default `main`. */
  defaultBranch?: string;
}

export interface RunWebhookOptions {
  /**
   * Web root the payload's links use, e.g. the double's `url` (REST links then use `<url>/api/v3`,
   * as on GitHub Enterprise Server). Default `https://github.com` and `https://api.github.com`.
   */
  url?: string;
  /** Conclusion of a `completed` payload when the run record is not completed (yet). */
  conclusion?: string;
  /**
   * `workflow_job` only: the job (one the double's runner ran, e.g. a matrix job) the payload
   * describes, as it is now, at this action's moment. Default: the run's one `bisect` job.
   */
  job?: WorkflowJobRecord;
}

function bases(repository: RunRepository, options: RunWebhookOptions): LinkBases {
  const web = options.url?.replace(/\/+$/, "") ?? "https://github.com";
  return { web, api: options.url ? `${web}/api/v3` : "https://api.github.com", fullName: `${repository.owner}/${repository.name}` };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Rewrites every string of an example that names its repository, a login or GitHub's hosts to
 * ours: `from.fullName` -> `to.fullName`, a path segment `from.login` -> `to.login`, and the
 * github.com / api.github.com roots (also in git:// and ssh URLs) -> `to.web` / `to.api`.
 */
function rebase(value: unknown, from: { fullName?: string; login: string }, to: LinkBases & { login: string }): unknown {
  if (typeof value === "string") {
    const host = new URL(to.web).host;
    return (from.fullName ? value.split(from.fullName).join(to.fullName) : value)
      .replace(new RegExp(`(?<=/)${escape(from.login)}(?=[/?#{]|$)`, "g"), encodeURIComponent(to.login))
      .replace(/^https:\/\/api\.github\.com/, to.api)
      .replace(/^https:\/\/github\.com/, to.web)
      .replace(/^git:\/\/github\.com\//, `git://${host}/`)
      .replace(/^git@github\.com:/, `git@${host.replace(/:\d+$/, "")}:`);
  }
  if (Array.isArray(value)) return value.map((v) => rebase(v, from, to));
  if (isJsonObject(value)) return rebaseObject(value, from, to);
  return value;
}

/** `rebase` of an object: a copy with every value rebased. */
function rebaseObject(value: Payload, from: { fullName?: string; login: string }, to: LinkBases & { login: string }): Payload {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebase(v, from, to)]));
}

/** The example with our repository, installation and sender (the run's actor, the app's bot). */
function adapt(
  event: string,
  action: string,
  run: WorkflowRunRecord,
  installationId: number,
  repository: RunRepository,
  links: LinkBases,
): { payload: Payload; fix: (repo: Payload) => void } {
  const source = example(event, action);
  const exampleRepo = exampleRepositorySchema.parse(source.repository);
  const payload = rebaseObject(source, { fullName: exampleRepo.full_name, login: exampleRepo.owner.login }, { ...links, login: repository.owner });
  delete payload.organization; // the owner may be a user; the field is optional
  delete payload.enterprise;
  const fix = (repo: Payload) => {
    repo.id = repository.id;
    repo.node_id = nodeId("Repository", repository.id);
    repo.name = repository.name;
    repo.full_name = links.fullName;
    repo.html_url = `${links.web}/${links.fullName}`;
    repo.url = `${links.api}/repos/${links.fullName}`;
    const owner = repo.owner;
    if (isJsonObject(owner)) {
      owner.login = repository.owner;
      owner.html_url = `${links.web}/${repository.owner}`;
      owner.url = `${links.api}/users/${repository.owner}`;
    }
  };
  fix(objectAt(payload, "repository"));
  objectAt(payload, "repository").default_branch = repository.defaultBranch ?? "main";
  payload.installation = { ...objectAt(payload, "installation"), id: installationId, node_id: nodeId("Installation", installationId) };
  const bot = run.actor.endsWith("[bot]");
  const sender = objectAt(source, "sender");
  payload.sender = {
    ...rebaseObject(sender, { login: exampleSenderSchema.parse(sender).login }, { ...links, login: run.actor }),
    login: run.actor,
    type: bot ? "Bot" : "User",
    html_url: bot ? `${links.web}/apps/${run.actor.replace(/\[bot\]$/, "")}` : `${links.web}/${run.actor}`,
  };
  return { payload, fix };
}

/** Status and conclusion a payload of this action shows. */
function moment(run: WorkflowRunRecord, action: string, options: RunWebhookOptions): { status: string; conclusion: string | null } {
  if (action !== "completed") return { status: action === "in_progress" ? "in_progress" : "queued", conclusion: null };
  const conclusion = options.conclusion ?? (run.status === "completed" ? run.conclusion : null);
  if (!conclusion) throw new Error(`run ${run.id} is ${run.status}: complete it (double.completeRun) or pass options.conclusion`);
  return { status: "completed", conclusion };
}

/** A `workflow_run` delivery (`webhook-workflow-run-<action>`) for the double's run. */
export function workflowRunPayload(
  run: WorkflowRunRecord,
  action: "requested" | "in_progress" | "completed",
  installationId: number,
  repository: RunRepository,
  options: RunWebhookOptions = {},
): Record<string, unknown> {
  const links = bases(repository, options);
  // GitHub's examples have no `in_progress`; its payload is a `requested` one further along.
  const { payload, fix } = adapt("workflow_run", action === "in_progress" ? "requested" : action, run, installationId, repository, links);
  payload.action = action;
  const api = `${links.api}/repos/${links.fullName}`;
  const runUrl = `${api}/actions/runs/${run.id}`;
  const { status, conclusion } = moment(run, action, options);
  const wr = objectAt(payload, "workflow_run");
  Object.assign(wr, {
    id: run.id,
    name: run.name,
    node_id: nodeId("WorkflowRun", run.id),
    check_suite_id: run.id + 100_000,
    check_suite_node_id: nodeId("CheckSuite", run.id + 100_000),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: run.path,
    display_title: run.displayTitle,
    run_number: run.runNumber,
    run_attempt: run.runAttempt,
    event: run.event,
    status,
    conclusion,
    workflow_id: run.workflowId,
    url: runUrl,
    html_url: `${links.web}/${links.fullName}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: action === "completed" ? run.updatedAt : run.runStartedAt,
    run_started_at: run.runStartedAt,
    jobs_url: `${runUrl}/jobs`,
    logs_url: `${runUrl}/logs`,
    check_suite_url: `${api}/check-suites/${run.id + 100_000}`,
    artifacts_url: `${runUrl}/artifacts`,
    cancel_url: `${runUrl}/cancel`,
    rerun_url: `${runUrl}/rerun`,
    previous_attempt_url: run.runAttempt > 1 ? `${runUrl}/attempts/${run.runAttempt - 1}` : null,
    workflow_url: `${api}/actions/workflows/${run.workflowId}`,
    head_commit: { ...objectAt(wr, "head_commit"), id: run.headSha },
    actor: { ...objectAt(payload, "sender") },
    triggering_actor: { ...objectAt(payload, "sender") },
  });
  delete wr.referenced_workflows;
  fix(objectAt(wr, "repository"));
  fix(objectAt(wr, "head_repository"));
  Object.assign(objectAt(payload, "workflow"), {
    id: run.workflowId,
    node_id: nodeId("Workflow", run.workflowId),
    name: run.name,
    path: run.path,
    state: "active",
    url: `${api}/actions/workflows/${run.workflowId}`,
    html_url: `${links.web}/${links.fullName}/blob/${run.headBranch}/${run.path}`,
    badge_url: `${links.web}/${links.fullName}/workflows/${encodeURIComponent(run.name)}/badge.svg`,
  });
  assertWebhookPayload(`webhook-workflow-run-${action.replace(/_/g, "-")}`, payload);
  return payload;
}

/** A `workflow_job` delivery (`webhook-workflow-job-<action>`) for the `bisect` job of the double's run, or for `options.job`. */
export function workflowJobPayload(
  run: WorkflowRunRecord,
  action: "queued" | "in_progress" | "completed",
  installationId: number,
  repository: RunRepository,
  options: RunWebhookOptions = {},
): Record<string, unknown> {
  const links = bases(repository, options);
  const { payload } = adapt("workflow_job", action, run, installationId, repository, links);
  delete payload.deployment;
  // The same job as GET …/runs/{run_id}/jobs lists (same id), at this action's moment.
  if (options.job) {
    if (action === "completed" && options.job.status !== "completed")
      throw new Error(`job ${options.job.id} of run ${run.id} is ${options.job.status}: complete it first`);
    payload.workflow_job = jobRecordJson(run, options.job, links, { status: action === "in_progress" ? "in_progress" : action });
  } else {
    payload.workflow_job = workflowJobJson(run, links, moment(run, action, options));
  }
  assertWebhookPayload(`webhook-workflow-job-${action.replace(/_/g, "-")}`, payload);
  return payload;
}
