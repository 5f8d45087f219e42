/**
 * REST objects as GitHub (Enterprise Server) serializes them: users, repositories, commits,
 * issues, labels, comments, reactions, workflow runs. Every required field of the description is filled, with
 * URLs on the double's own host, so responses validate and links point somewhere sensible.
 */
import type { CommitInfo } from "./git-data.js";
import {
  fullNameOf,
  type ArtifactRecord,
  issueKey,
  type CommentRecord,
  type DoubleRepository,
  type DoubleState,
  type IssueRecord,
  type LabelRecord,
  type ReactionRecord,
  type UserRecord,
  type WorkflowJobRecord,
  type WorkflowRunRecord,
} from "./state.js";

type Json = Record<string, unknown>;

/** A GraphQL-style global id: base64 of `<kind>:<id>` (opaque to clients either way). */
export function nodeId(kind: string, id: number | string): string {
  return Buffer.from(`${kind}:${id}`).toString("base64").replace(/=+$/, "");
}

/** The fixed creation time of everything that predates the double (repos, the app). */
const EPOCH = "2024-01-01T00:00:00Z";

export function simpleUser(state: DoubleState, user: UserRecord): Json {
  const api = `${state.api}/users/${encodeURIComponent(user.login)}`;
  const html =
    user.type === "Bot" ? `${state.url}/apps/${encodeURIComponent(user.login.replace(/\[bot\]$/, ""))}` : `${state.url}/${encodeURIComponent(user.login)}`;
  return {
    login: user.login,
    id: user.id,
    node_id: nodeId(user.type, user.id),
    avatar_url: `${state.url}/avatars/u/${user.id}`,
    gravatar_id: "",
    url: api,
    html_url: html,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: user.type,
    user_view_type: "public",
    site_admin: false,
  };
}

export function userByLogin(state: DoubleState, login: string): Json {
  return simpleUser(state, state.user(login));
}

/** `minimal-repository`; note it requires `description`, which its `properties` never declare. */
export function minimalRepository(state: DoubleState, repo: DoubleRepository, defaultBranch: string): Json {
  const full = fullNameOf(repo);
  const api = `${state.api}/repos/${full}`;
  return {
    id: repo.id,
    node_id: nodeId("Repository", repo.id),
    name: repo.name,
    full_name: full,
    owner: userByLogin(state, repo.owner),
    private: repo.private ?? false,
    html_url: `${state.url}/${full}`,
    description: null,
    fork: false,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://${new URL(state.url).host}/${full}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@${new URL(state.url).hostname}:${full}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${state.url}/${full}.git`,
    hooks_url: `${api}/hooks`,
    default_branch: defaultBranch,
    visibility: repo.private ? "private" : "public",
    created_at: EPOCH,
    updated_at: EPOCH,
    pushed_at: EPOCH,
  };
}

/** The app as `performed_via_github_app` shows it (`integration` requires an undeclared `description`). */
export function integration(state: DoubleState): Json {
  return {
    id: state.appId,
    slug: state.appSlug,
    node_id: nodeId("Integration", state.appId),
    client_id: `Iv1.${state.appId.toString(16).padStart(16, "0")}`,
    owner: userByLogin(state, "app-owner"),
    name: state.appSlug,
    description: "Finds the commit that broke something.",
    external_url: `${state.url}/apps/${state.appSlug}`,
    html_url: `${state.url}/apps/${state.appSlug}`,
    created_at: EPOCH,
    updated_at: EPOCH,
    permissions: INSTALLATION_PERMISSIONS,
    events: ["issue_comment", "pull_request", "workflow_run"],
  };
}

/** What every installation token of the double may do (keys and values from `app-permissions`). */
export const INSTALLATION_PERMISSIONS = {
  actions: "write",
  contents: "read",
  issues: "write",
  metadata: "read",
  pull_requests: "write",
} as const;

/** `author_association` for a login on a repository, from the permission table. */
function association(state: DoubleState, repo: DoubleRepository, login: string): string {
  if (login.toLowerCase() === repo.owner.toLowerCase()) return "OWNER";
  const role = state.role(fullNameOf(repo), login);
  return role && role !== "none" ? "COLLABORATOR" : "NONE";
}

export function issueComment(state: DoubleState, repo: DoubleRepository, comment: CommentRecord): Json {
  const api = `${state.api}/repos/${fullNameOf(repo)}`;
  const url = `${api}/issues/comments/${comment.id}`;
  const counts: Record<string, number> = { "+1": 0, "-1": 0, laugh: 0, confused: 0, heart: 0, hooray: 0, eyes: 0, rocket: 0 };
  const reactions = state.reactionsByComment.get(comment.id);
  for (const r of reactions) counts[r.content] = (counts[r.content] ?? 0) + 1;
  return {
    id: comment.id,
    node_id: nodeId("IssueComment", comment.id),
    url,
    html_url: `${state.url}/${fullNameOf(repo)}/issues/${comment.issueNumber}#issuecomment-${comment.id}`,
    body: comment.body,
    user: userByLogin(state, comment.user),
    created_at: comment.createdAt,
    updated_at: comment.updatedAt,
    issue_url: `${api}/issues/${comment.issueNumber}`,
    author_association: association(state, repo, comment.user),
    performed_via_github_app: comment.user === state.botLogin ? integration(state) : null,
    reactions: { url: `${url}/reactions`, total_count: reactions.length, ...counts },
  };
}

/** A `label`, with its URL on the double. */
export function labelJson(state: DoubleState, label: LabelRecord): Json {
  return {
    id: label.id,
    node_id: nodeId("Label", label.id),
    url: `${state.api}/repos/${label.repository}/labels/${encodeURIComponent(label.name)}`,
    name: label.name,
    color: label.color,
    description: label.description,
    default: false,
  };
}

/**
 * An `issue` opened through the API: its labels as objects (as GitHub answers), the number of
 * comments on it, and `performed_via_github_app` when the app's bot opened it.
 */
export function issueJson(state: DoubleState, repo: DoubleRepository, issue: IssueRecord): Json {
  const full = fullNameOf(repo);
  const api = `${state.api}/repos/${full}`;
  const url = `${api}/issues/${issue.number}`;
  const labels = state.labels.get(full.toLowerCase()) ?? [];
  const assignees = issue.assignees.map((login) => userByLogin(state, login));
  return {
    id: issue.id,
    node_id: nodeId("Issue", issue.id),
    url,
    repository_url: api,
    labels_url: `${url}/labels{/name}`,
    comments_url: `${url}/comments`,
    events_url: `${url}/events`,
    html_url: `${state.url}/${full}/issues/${issue.number}`,
    timeline_url: `${url}/timeline`,
    number: issue.number,
    state: issue.state,
    state_reason: issue.stateReason,
    title: issue.title,
    body: issue.body,
    user: userByLogin(state, issue.user),
    labels: issue.labels.flatMap((name) => {
      const label = labels.find((l) => l.name.toLowerCase() === name.toLowerCase());
      return label ? [labelJson(state, label)] : [];
    }),
    assignee: assignees[0] ?? null,
    assignees,
    milestone: null,
    locked: false,
    active_lock_reason: null,
    comments: state.commentsByIssue.get(issueKey(full, issue.number)).length,
    closed_at: issue.closedAt,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    author_association: association(state, repo, issue.user),
    performed_via_github_app: issue.user === state.botLogin ? integration(state) : null,
    reactions: { url: `${url}/reactions`, total_count: 0, "+1": 0, "-1": 0, laugh: 0, confused: 0, heart: 0, hooray: 0, eyes: 0, rocket: 0 },
  };
}

export function reaction(state: DoubleState, record: ReactionRecord): Json {
  return {
    id: record.id,
    node_id: nodeId("Reaction", record.id),
    user: userByLogin(state, record.user),
    content: record.content,
    created_at: record.createdAt,
  };
}

/** A commit as the commits and compare APIs list it; `author`/`committer` users come from `addUser`. */
export function restCommit(state: DoubleState, repo: DoubleRepository, info: CommitInfo): Json {
  const api = `${state.api}/repos/${fullNameOf(repo)}`;
  const html = `${state.url}/${fullNameOf(repo)}`;
  const account = (email: string) => {
    const login = state.loginsByEmail.get(email.toLowerCase());
    return login ? userByLogin(state, login) : null;
  };
  return {
    sha: info.oid,
    node_id: nodeId("Commit", info.oid),
    url: `${api}/commits/${info.oid}`,
    html_url: `${html}/commit/${info.oid}`,
    comments_url: `${api}/commits/${info.oid}/comments`,
    commit: {
      url: `${api}/git/commits/${info.oid}`,
      author: { name: info.authorName, email: info.authorEmail, date: info.authorDate },
      committer: { name: info.committerName, email: info.committerEmail, date: info.committerDate },
      message: info.message,
      comment_count: 0,
      tree: { sha: info.tree, url: `${api}/git/trees/${info.tree}` },
      verification: { verified: false, reason: "unsigned", payload: null, signature: null, verified_at: null },
    },
    author: account(info.authorEmail),
    committer: account(info.committerEmail),
    parents: info.parents.map((sha) => ({ sha, url: `${api}/commits/${sha}`, html_url: `${html}/commit/${sha}` })),
  };
}

/** A `workflow-run`, rebuilt from the record on every request so tests can edit records freely. */
export function workflowRun(state: DoubleState, repo: DoubleRepository, run: WorkflowRunRecord, head: CommitInfo, defaultBranch: string): Json {
  const api = `${state.api}/repos/${fullNameOf(repo)}`;
  const runUrl = `${api}/actions/runs/${run.id}`;
  const repository = minimalRepository(state, repo, defaultBranch);
  const actor = userByLogin(state, run.actor);
  return {
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
    referenced_workflows: [],
    event: run.event,
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: run.workflowId,
    url: runUrl,
    html_url: `${state.url}/${fullNameOf(repo)}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    actor,
    triggering_actor: actor,
    run_started_at: run.runStartedAt,
    jobs_url: `${runUrl}/jobs`,
    logs_url: `${runUrl}/logs`,
    check_suite_url: `${api}/check-suites/${run.id + 100_000}`,
    artifacts_url: `${runUrl}/artifacts`,
    cancel_url: `${runUrl}/cancel`,
    rerun_url: `${runUrl}/rerun`,
    previous_attempt_url: run.runAttempt > 1 ? `${runUrl}/attempts/${run.runAttempt - 1}` : null,
    workflow_url: `${api}/actions/workflows/${run.workflowId}`,
    head_commit: {
      id: head.oid,
      tree_id: head.tree,
      message: head.message,
      timestamp: head.committerDate,
      author: { name: head.authorName, email: head.authorEmail },
      committer: { name: head.committerName, email: head.committerEmail },
    },
    repository,
    head_repository: repository,
    head_repository_id: repo.id,
  };
}

/** An `artifact`: every field the description requires, plus `digest` and `workflow_run`. */
export function artifactJson(state: DoubleState, repo: DoubleRepository, artifact: ArtifactRecord, run: WorkflowRunRecord): Json {
  const url = `${state.api}/repos/${fullNameOf(repo)}/actions/artifacts/${artifact.id}`;
  return {
    id: artifact.id,
    node_id: nodeId("Artifact", artifact.id),
    name: artifact.name,
    size_in_bytes: artifact.sizeInBytes,
    url,
    archive_download_url: `${url}/zip`,
    expired: artifact.expired,
    created_at: artifact.createdAt,
    expires_at: artifact.expiresAt,
    updated_at: artifact.updatedAt,
    digest: artifact.digest,
    workflow_run: { id: run.id, repository_id: repo.id, head_repository_id: repo.id, head_branch: run.headBranch, head_sha: run.headSha },
  };
}

/** Where a job's links point: the REST root (`…/api/v3` or `https://api.github.com`) and the web root. */
export interface LinkBases {
  api: string;
  web: string;
  /** `owner/name`. */
  fullName: string;
}

/** The steps of bisect.yml's one job, as the runner reports them. */
const STEPS = ["Set up job", "Check out the full history", "Bisect", "Upload the result for Bisect Bot", "Complete job"];
const BISECT_STEP = 2;

/** Job conclusions the description allows; a run's `stale` or `startup_failure` shows as `failure`. */
const JOB_CONCLUSIONS = new Set(["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"]);

/** The id of the run's job in its current attempt (each attempt gets new job ids, as on GitHub). */
export function jobIdOf(run: WorkflowRunRecord): number {
  return run.id * 100 + run.runAttempt;
}

/**
 * The `bisect` job of a run (REST `job`, and the `workflow_job` of webhooks), mirroring the run's
 * status unless `view` says otherwise (webhooks describe a moment, not the current state).
 */
export function workflowJobJson(run: WorkflowRunRecord, bases: LinkBases, view: { status?: string; conclusion?: string | null } = {}): Json {
  const status = view.status ?? run.status;
  const completed = status === "completed";
  const raw = completed ? (view.conclusion ?? run.conclusion ?? "success") : null;
  const conclusion = raw === null ? null : JOB_CONCLUSIONS.has(raw) ? raw : "failure";
  const id = jobIdOf(run);
  const started = run.runStartedAt;
  const finished = completed ? run.updatedAt : null;
  const stepConclusion =
    conclusion === "success" || conclusion === "failure" ? conclusion : conclusion === "cancelled" || conclusion === "timed_out" ? "cancelled" : "failure";
  const running = status === "in_progress" || completed;
  const steps = running
    ? STEPS.map((name, i) => {
        const done = completed || i < BISECT_STEP;
        const current = !completed && i === BISECT_STEP;
        return {
          name,
          status: done ? "completed" : current ? "in_progress" : "queued",
          conclusion: done ? (i === BISECT_STEP ? stepConclusion : "success") : null,
          number: i + 1,
          started_at: done || current ? started : null,
          completed_at: done ? (finished ?? started) : null,
        };
      })
    : [];
  const api = `${bases.api}/repos/${bases.fullName}`;
  return {
    id,
    run_id: run.id,
    run_url: `${api}/actions/runs/${run.id}`,
    run_attempt: run.runAttempt,
    node_id: nodeId("CheckRun", id),
    head_sha: run.headSha,
    url: `${api}/actions/jobs/${id}`,
    html_url: `${bases.web}/${bases.fullName}/actions/runs/${run.id}/job/${id}`,
    status,
    conclusion,
    created_at: started,
    started_at: started,
    completed_at: finished,
    name: "bisect",
    steps,
    check_run_url: `${api}/check-runs/${id}`,
    labels: ["ubuntu-latest"],
    runner_id: running ? 1 : null,
    runner_name: running ? "GitHub Actions 1" : null,
    runner_group_id: running ? 2 : null,
    runner_group_name: running ? "GitHub Actions" : null,
    workflow_name: run.name,
    head_branch: run.headBranch,
  };
}

/**
 * A job the double's runner ran (REST `job`, and the `workflow_job` of webhooks), as it is now,
 * or at an earlier moment of its life (`view.status`: a `queued` delivery built late still says
 * queued). Its steps are GitHub's: "Set up job", the workflow's steps, "Complete job".
 */
export function jobRecordJson(run: WorkflowRunRecord, job: WorkflowJobRecord, bases: LinkBases, view: { status?: WorkflowJobRecord["status"] } = {}): Json {
  const status = view.status ?? job.status;
  const completed = status === "completed";
  const conclusion = completed ? (job.conclusion ?? "failure") : null;
  // A job that never ran (skipped, or cancelled while queued) has no runner and no steps.
  const ran = job.runnerId !== null && status !== "queued";
  const started = status === "queued" ? job.createdAt : (job.startedAt ?? job.completedAt ?? job.createdAt);
  const finished = completed ? (job.completedAt ?? started) : null;
  const steps: Json[] = [];
  if (ran) {
    steps.push({ name: "Set up job", status: "completed", conclusion: "success", number: 1, started_at: started, completed_at: started });
    job.stepNames.forEach((name, i) => {
      const step = job.steps[i];
      const number = i + 2;
      if (step && (completed || step.completedAt !== undefined)) {
        steps.push({
          name: step.name,
          status: "completed",
          conclusion: step.conclusion,
          number,
          started_at: step.startedAt ?? started,
          completed_at: step.completedAt ?? step.startedAt ?? started,
        });
      } else if (!completed && i === job.steps.length) {
        steps.push({ name, status: "in_progress", conclusion: null, number, started_at: step?.startedAt ?? started, completed_at: null });
      } else {
        // Not reached: a job that ended early (runner lost, cancelled) leaves its other steps unrun.
        steps.push({
          name,
          status: completed ? "completed" : "queued",
          conclusion: completed ? "skipped" : null,
          number,
          started_at: null,
          completed_at: null,
        });
      }
    });
    steps.push({
      name: "Complete job",
      status: completed ? "completed" : "queued",
      conclusion: completed ? "success" : null,
      number: job.stepNames.length + 2,
      started_at: finished,
      completed_at: finished,
    });
  }
  const api = `${bases.api}/repos/${bases.fullName}`;
  return {
    id: job.id,
    run_id: run.id,
    run_url: `${api}/actions/runs/${run.id}`,
    run_attempt: job.runAttempt,
    node_id: nodeId("CheckRun", job.id),
    head_sha: run.headSha,
    url: `${api}/actions/jobs/${job.id}`,
    html_url: `${bases.web}/${bases.fullName}/actions/runs/${run.id}/job/${job.id}`,
    status,
    conclusion,
    created_at: job.createdAt,
    started_at: started,
    completed_at: finished,
    name: job.name,
    steps,
    check_run_url: `${api}/check-runs/${job.id}`,
    labels: ["ubuntu-latest"],
    runner_id: ran ? job.runnerId : null,
    runner_name: ran ? job.runnerName : null,
    runner_group_id: ran ? 2 : null,
    runner_group_name: ran ? "GitHub Actions" : null,
    workflow_name: run.name,
    head_branch: run.headBranch,
  };
}
