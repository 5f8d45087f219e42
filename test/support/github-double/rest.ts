/**
 * The REST operations the double serves, keyed by the description's route template. Each handler
 * gets an already validated, authenticated request and answers from git and the double's state.
 */
import { z } from "zod";
import { mintToken } from "./auth.js";
import { changedFiles, commitInfos, commitsBetween, countBetween, defaultBranchOf, isoSeconds, lsTree, mergeBase, resolveCommit } from "./git-data.js";
import { grantBlob } from "./artifacts.js";
import { listHookDeliveries, redeliverHookDelivery } from "./deliveries.js";
import {
  artifactJson,
  INSTALLATION_PERMISSIONS,
  issueComment,
  issueJson,
  jobRecordJson,
  reaction,
  restCommit,
  simpleUser,
  workflowJobJson,
  workflowRun,
} from "./objects.js";
import { dispatch, DispatchError, listRuns, workflowFile, type RunFilter } from "./runs.js";
import {
  fullNameOf,
  issueKey,
  type ArtifactRecord,
  type DoubleRepository,
  type DoubleState,
  type IssueRecord,
  type LabelRecord,
  type Role,
  type WorkflowRunRecord,
} from "./state.js";

export interface RestRequest {
  state: DoubleState;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Validated against the operation's schema before a handler sees it; handlers parse what they read. */
  body: unknown;
  /** The installation whose token authenticated the request (the app id for token exchanges). */
  installationId: number;
  /** Request URL path below `/api/v3`, with query string, for pagination links. */
  url: URL;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Called once the answer has been sent (e.g. a dispatched run starts after the dispatch answered). */
  after?: () => void;
}

/** Answers a request; handlers that read git or wait on the state answer later. */
type Handler = (req: RestRequest) => Reply | Promise<Reply>;

/** Thrown by helpers to answer early (404s, mostly). */
export class ReplyError extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

/** The parts of request bodies the handlers read. */
const reactionBodySchema = z.object({ content: z.string() });
const commentBodySchema = z.object({ body: z.string() });
const dispatchBodySchema = z.object({ ref: z.string(), inputs: z.record(z.string(), z.unknown()).optional(), return_run_details: z.boolean().optional() });
/** A label as issue bodies give it: its name, or an object naming it (or giving its id). */
const labelRefSchema = z.union([z.string(), z.object({ id: z.number().optional(), name: z.string().optional() })]);
const issueFields = {
  body: z.string().nullish(),
  labels: z.array(labelRefSchema).optional(),
  assignees: z.array(z.string()).optional(),
  assignee: z.string().nullish(),
  // Not modelled: the handlers refuse to pretend they were applied.
  milestone: z.unknown().optional(),
  type: z.unknown().optional(),
  issue_field_values: z.unknown().optional(),
};
const issueCreateSchema = z.object({ title: z.union([z.string(), z.number()]), ...issueFields });
const issueUpdateSchema = z.object({
  title: z.union([z.string(), z.number()]).nullish(),
  state: z.enum(["open", "closed"]).optional(),
  state_reason: z.enum(["completed", "not_planned", "duplicate", "reopened"]).nullish(),
  duplicate_issue_id: z.unknown().optional(),
  ...issueFields,
});

/** GitHub's limit on an issue's body, in characters. */
export const MAX_ISSUE_BODY = 65_536;

const notFound = (): ReplyError => new ReplyError({ status: 404, body: { message: "Not Found" } });

/** The repository of `{owner}/{repo}`; 404 when unknown or not in the token's installation, as GitHub hides it. */
function repoOf(req: RestRequest): DoubleRepository {
  const repo = req.state.repository(`${req.params.owner}/${req.params.repo}`);
  if (!repo || repo.installationId !== req.installationId) throw notFound();
  return repo;
}

/** `per_page` / `page` with GitHub's defaults and cap. */
function paging(query: Record<string, string>, defaultPerPage = 30, maxPerPage = 100): { perPage: number; page: number } {
  const perPage = Math.min(Math.max(Number(query.per_page ?? defaultPerPage) || defaultPerPage, 1), maxPerPage);
  const page = Math.max(Number(query.page ?? 1) || 1, 1);
  return { perPage, page };
}

/** A `Link` header (`next`, `last`, `first`, `prev`) as octokit's paginate follows it. */
function linkHeader(req: RestRequest, page: number, perPage: number, total: number): Record<string, string> {
  const last = Math.max(Math.ceil(total / perPage), 1);
  const at = (p: number) => {
    const url = new URL(req.url);
    url.searchParams.set("per_page", String(perPage));
    url.searchParams.set("page", String(p));
    return `<${req.state.api}${url.pathname}${url.search}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`);
  return links.length > 0 ? { link: links.join(", ") } : {};
}

/** GitHub's 422 for a body it refuses field by field (`validation-error`). */
function validationFailed(resource: string, field: string, code: string, message?: string): ReplyError {
  return new ReplyError({ status: 422, body: { message: "Validation Failed", errors: [{ resource, field, code, ...(message ? { message } : {}) }] } });
}

/** Throws for body fields the double does not model, so a test cannot pass on a silently dropped one. */
function refuseUnmodelled(body: { milestone?: unknown; type?: unknown; issue_field_values?: unknown; duplicate_issue_id?: unknown }): void {
  for (const [key, value] of Object.entries(body)) {
    if (["milestone", "type", "issue_field_values", "duplicate_issue_id"].includes(key) && value !== null && value !== undefined) {
      throw new Error(`the double does not model the issue field "${key}"`);
    }
  }
}

/**
 * The names of the repository's labels an issue body refers to, in order, without repeats. Names
 * match case-insensitively; a name the repository lacks creates the label (color `ededed`), as
 * GitHub does for a writer such as the app's installation. A label object naming none answers 422
 * unless its `id` is a label of the repository.
 */
function labelsOf(state: DoubleState, repo: DoubleRepository, given: z.infer<typeof labelRefSchema>[]): string[] {
  const key = fullNameOf(repo).toLowerCase();
  const labels = state.labels.get(key) ?? [];
  state.labels.set(key, labels);
  const names: string[] = [];
  for (const ref of given) {
    let label: LabelRecord | undefined;
    const name = typeof ref === "string" ? ref : ref.name;
    if (name === undefined) {
      label = labels.find((l) => l.id === (ref as { id?: number }).id);
      if (!label) throw validationFailed("Label", "id", "invalid");
    } else {
      if (name.trim() === "") throw validationFailed("Label", "name", "missing_field");
      label = labels.find((l) => l.name.toLowerCase() === name.toLowerCase());
      if (!label) {
        label = { id: state.nextLabelId++, repository: fullNameOf(repo), name, color: "ededed", description: null };
        labels.push(label);
      }
    }
    if (!names.some((n) => n.toLowerCase() === label.name.toLowerCase())) names.push(label.name);
  }
  return names;
}

/** Assignees of an issue body (`assignees`, else the closing-down `assignee`), without repeats. */
function assigneesOf(state: DoubleState, body: { assignees?: string[]; assignee?: string | null }): string[] | undefined {
  const logins = body.assignees ?? (body.assignee === undefined ? undefined : body.assignee === null ? [] : [body.assignee]);
  if (logins === undefined) return undefined;
  const unique = [...new Map(logins.map((login) => [login.toLowerCase(), login])).values()];
  for (const login of unique) state.user(login);
  return unique;
}

/** The issue `{issue_number}` opened through the API; 404 otherwise (pull requests included: the double serves them through GraphQL only). */
function issueOf(req: RestRequest, repo: DoubleRepository): IssueRecord {
  const issue = req.state.issue(fullNameOf(repo), Number(req.params.issue_number));
  if (!issue) throw notFound();
  return issue;
}

/** Legacy base permission for a role: maintain maps to write, triage to read (GitHub's docs). */
const BASE_PERMISSION: Record<Role, string> = { admin: "admin", maintain: "write", write: "write", triage: "read", read: "read", none: "none" };
const RANK: Role[] = ["none", "read", "triage", "write", "maintain", "admin"];

async function runsJson(state: DoubleState, repo: DoubleRepository, runs: WorkflowRunRecord[]): Promise<unknown[]> {
  const shas = [...new Set(runs.map((r) => r.headSha))];
  const infos = new Map((await commitInfos(repo.path, shas)).map((c) => [c.oid, c]));
  const branch = await defaultBranchOf(repo);
  return runs.map((run) => {
    const head = infos.get(run.headSha);
    if (!head) throw new Error(`run ${run.id}: head ${run.headSha} is not in ${repo.path}`);
    return workflowRun(state, repo, run, head, branch);
  });
}

function runOf(req: RestRequest, repo: DoubleRepository): WorkflowRunRecord {
  const run = req.state.runs.find((r) => r.id === Number(req.params.run_id) && r.repository.toLowerCase() === fullNameOf(repo).toLowerCase());
  if (!run) throw notFound();
  return run;
}

function commentOf(req: RestRequest, repo: DoubleRepository) {
  const comment = req.state.commentsById.get(Number(req.params.comment_id)).find((c) => c.repository.toLowerCase() === fullNameOf(repo).toLowerCase());
  if (!comment) throw notFound();
  return comment;
}

/** The artifact `{artifact_id}` of the repository, with its run; 404 otherwise. */
function artifactOf(req: RestRequest, repo: DoubleRepository): { artifact: ArtifactRecord; run: WorkflowRunRecord } {
  const artifact = req.state.artifacts.find((a) => a.id === Number(req.params.artifact_id) && a.repository.toLowerCase() === fullNameOf(repo).toLowerCase());
  const run = artifact && req.state.runs.find((r) => r.id === artifact.runId);
  if (!artifact || !run) throw notFound();
  return { artifact, run };
}

async function listRunsReply(req: RestRequest, repo: DoubleRepository, filter: RunFilter): Promise<Reply> {
  let runs: WorkflowRunRecord[];
  try {
    runs = listRuns(req.state, repo, {
      ...filter,
      event: req.query.event,
      status: req.query.status,
      branch: req.query.branch,
      actor: req.query.actor,
      created: req.query.created,
      head_sha: req.query.head_sha,
    });
  } catch (error) {
    if (error instanceof DispatchError) return { status: error.status, body: { message: error.message } };
    throw error;
  }
  const { perPage, page } = paging(req.query);
  const slice = runs.slice((page - 1) * perPage, page * perPage);
  return {
    status: 200,
    body: { total_count: runs.length, workflow_runs: await runsJson(req.state, repo, slice) },
    headers: linkHeader(req, page, perPage, runs.length),
  };
}

export const handlers: Record<string, Handler> = {
  // The App's webhook log (deliveries.ts); authenticated with the App's JWT.
  "GET /app/hook/deliveries": listHookDeliveries,
  "POST /app/hook/deliveries/{delivery_id}/attempts": redeliverHookDelivery,

  "POST /app/installations/{installation_id}/access_tokens": (req) => {
    const installationId = Number(req.params.installation_id);
    if (![...req.state.repositories.values()].some((r) => r.installationId === installationId)) throw notFound();
    const { token, record } = mintToken(req.state, installationId);
    return {
      status: 201,
      body: { token, expires_at: isoSeconds(record.expiresAt), permissions: INSTALLATION_PERMISSIONS, repository_selection: "all" },
    };
  },

  "GET /repos/{owner}/{repo}/collaborators/{username}/permission": (req) => {
    const repo = repoOf(req);
    const login = req.params.username ?? "";
    // Without an explicit role: everyone can read a public repository, no one a private one.
    const role = req.state.role(fullNameOf(repo), login) ?? (repo.private ? "none" : "read");
    const at = RANK.indexOf(role);
    return {
      status: 200,
      body: {
        permission: BASE_PERMISSION[role],
        role_name: role,
        user: {
          ...simpleUser(req.state, req.state.user(login)),
          permissions: { pull: at >= 1, triage: at >= 2, push: at >= 3, maintain: at >= 4, admin: at >= 5 },
          role_name: role,
        },
      },
    };
  },

  "GET /repos/{owner}/{repo}/commits/{ref}": async (req) => {
    const repo = repoOf(req);
    const oid = await resolveCommit(repo.path, req.params.ref ?? "");
    if (!oid) return { status: 422, body: { message: `No commit found for SHA: ${req.params.ref ?? ""}` } };
    const [info] = await commitInfos(repo.path, [oid]);
    const files = await changedFiles(repo.path, oid, info!.parents[0]);
    const full = fullNameOf(repo);
    // GitHub lists at most 300 files on a page (per_page for more).
    const listed = files.slice(0, 300).map((f) => ({
      sha: oid,
      filename: f.filename,
      status: f.status,
      additions: f.additions,
      deletions: f.deletions,
      changes: f.additions + f.deletions,
      blob_url: `${req.state.url}/${full}/blob/${oid}/${encodeURI(f.filename)}`,
      raw_url: `${req.state.url}/${full}/raw/${oid}/${encodeURI(f.filename)}`,
      contents_url: `${req.state.api}/repos/${full}/contents/${encodeURI(f.filename)}?ref=${oid}`,
      ...(f.previousFilename !== undefined ? { previous_filename: f.previousFilename } : {}),
    }));
    const additions = files.reduce((n, f) => n + f.additions, 0);
    const deletions = files.reduce((n, f) => n + f.deletions, 0);
    return {
      status: 200,
      body: { ...(restCommit(req.state, repo, info!) as object), stats: { additions, deletions, total: additions + deletions }, files: listed },
    };
  },

  "GET /repos/{owner}/{repo}/compare/{basehead}": async (req) => {
    const repo = repoOf(req);
    const basehead = req.params.basehead ?? "";
    const split = basehead.indexOf("...");
    if (split <= 0) throw notFound();
    const baseName = basehead.slice(0, split);
    const headName = basehead.slice(split + 3);
    const [base, head] = await Promise.all([resolveCommit(repo.path, baseName), resolveCommit(repo.path, headName)]);
    if (!base || !head) throw notFound();
    const mb = await mergeBase(repo.path, base, head);
    if (!mb) return { status: 404, body: { message: `No common ancestor between ${baseName} and ${headName}.` } };
    const [ahead, behind, all] = await Promise.all([
      countBetween(repo.path, base, head),
      countBetween(repo.path, head, base),
      commitsBetween(repo.path, base, head),
    ]);
    const paginated = req.query.per_page !== undefined || req.query.page !== undefined;
    // Without pagination parameters the compare API lists up to 250 commits.
    const { perPage, page } = paginated ? paging(req.query, 30, 250) : { perPage: 250, page: 1 };
    const listed = all.slice((page - 1) * perPage, page * perPage);
    const infos = new Map((await commitInfos(repo.path, [...new Set([base, mb, ...listed])])).map((c) => [c.oid, c]));
    const json = (oid: string) => restCommit(req.state, repo, infos.get(oid)!);
    const full = fullNameOf(repo);
    const status = ahead === 0 && behind === 0 ? "identical" : behind === 0 ? "ahead" : ahead === 0 ? "behind" : "diverged";
    return {
      status: 200,
      headers: paginated ? linkHeader(req, page, perPage, all.length) : {},
      body: {
        url: `${req.state.api}/repos/${full}/compare/${encodeURI(basehead)}`,
        html_url: `${req.state.url}/${full}/compare/${encodeURI(basehead)}`,
        permalink_url: `${req.state.url}/${full}/compare/${repo.owner}:${base}...${repo.owner}:${head}`,
        diff_url: `${req.state.url}/${full}/compare/${encodeURI(basehead)}.diff`,
        patch_url: `${req.state.url}/${full}/compare/${encodeURI(basehead)}.patch`,
        base_commit: json(base),
        merge_base_commit: json(mb),
        status,
        ahead_by: ahead,
        behind_by: behind,
        total_commits: ahead,
        commits: listed.map(json),
        files: [],
      },
    };
  },

  "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": (req) => {
    const repo = repoOf(req);
    const comment = commentOf(req, repo);
    const { content } = reactionBodySchema.parse(req.body);
    const state = req.state;
    // GitHub answers 200 with the existing reaction when this user already reacted so.
    const existing = state.reactionsByComment.get(comment.id).find((r) => r.content === content && r.user === state.botLogin);
    if (existing) return { status: 200, body: reaction(state, existing) };
    const record = { id: state.nextReactionId++, commentId: comment.id, content, user: state.botLogin, createdAt: isoSeconds(Date.now()) };
    state.reactionList.push(record);
    return { status: 201, body: reaction(state, record) };
  },

  "POST /repos/{owner}/{repo}/issues/{issue_number}/comments": (req) => {
    const repo = repoOf(req);
    const now = isoSeconds(Date.now());
    const { body } = commentBodySchema.parse(req.body);
    const comment = {
      id: req.state.nextCommentId++,
      repository: fullNameOf(repo),
      issueNumber: Number(req.params.issue_number),
      body,
      user: req.state.botLogin,
      history: [body],
      createdAt: now,
      updatedAt: now,
    };
    req.state.commentList.push(comment);
    // A comment moves its issue's `updated_at` (what `since` of the issue list filters on).
    const issue = req.state.issue(fullNameOf(repo), comment.issueNumber);
    if (issue) issue.updatedAt = now;
    const json = issueComment(req.state, repo, comment);
    return { status: 201, body: json, headers: { location: String(json.url) } };
  },

  "GET /repos/{owner}/{repo}/issues/{issue_number}/comments": (req) => {
    const repo = repoOf(req);
    // `since`: only comments updated at or after it; GitHub lists them by ascending id.
    const since = req.query.since === undefined ? null : Date.parse(req.query.since);
    const all = req.state.commentList
      .filter(
        (c) =>
          c.repository.toLowerCase() === fullNameOf(repo).toLowerCase() &&
          c.issueNumber === Number(req.params.issue_number) &&
          (since === null || Date.parse(c.updatedAt) >= since),
      )
      .sort((a, b) => a.id - b.id);
    const { perPage, page } = paging(req.query);
    const listed = all.slice((page - 1) * perPage, page * perPage);
    return { status: 200, headers: linkHeader(req, page, perPage, all.length), body: listed.map((c) => issueComment(req.state, repo, c)) };
  },

  "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": (req) => {
    const repo = repoOf(req);
    const comment = commentOf(req, repo);
    comment.body = commentBodySchema.parse(req.body).body;
    comment.history.push(comment.body);
    comment.updatedAt = isoSeconds(Date.now());
    return { status: 200, body: issueComment(req.state, repo, comment) };
  },

  "GET /repos/{owner}/{repo}/issues/comments/{comment_id}": (req) => {
    const repo = repoOf(req);
    return { status: 200, body: issueComment(req.state, repo, commentOf(req, repo)) };
  },

  "POST /repos/{owner}/{repo}/issues": (req) => {
    const repo = repoOf(req);
    const state = req.state;
    const body = issueCreateSchema.parse(req.body);
    refuseUnmodelled(body);
    const title = String(body.title);
    if (title.trim() === "") throw validationFailed("Issue", "title", "missing_field");
    if ((body.body ?? "").length > MAX_ISSUE_BODY) {
      throw validationFailed("Issue", "body", "custom", `body is too long (maximum is ${MAX_ISSUE_BODY} characters)`);
    }
    const now = isoSeconds(Date.now());
    const issue: IssueRecord = {
      id: state.nextIssueId++,
      repository: fullNameOf(repo),
      number: state.nextIssueNumber(fullNameOf(repo)),
      title,
      body: body.body ?? null,
      labels: labelsOf(state, repo, body.labels ?? []),
      assignees: assigneesOf(state, body) ?? [],
      user: state.botLogin,
      state: "open",
      stateReason: null,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
    };
    state.issueList.push(issue);
    const json = issueJson(state, repo, issue);
    return { status: 201, body: json, headers: { location: String(json.url) } };
  },

  "GET /repos/{owner}/{repo}/issues": (req) => {
    const repo = repoOf(req);
    const q = req.query;
    for (const key of ["milestone", "mentioned", "type", "issue_field_values"]) {
      if (q[key] !== undefined) throw new Error(`the double does not filter issues by ${key}`);
    }
    const wantedState = q.state ?? "open";
    const labels = (q.labels ?? "")
      .split(",")
      .map((l) => l.trim().toLowerCase())
      .filter((l) => l !== "");
    const since = q.since === undefined ? null : Date.parse(q.since);
    if (since !== null && Number.isNaN(since)) throw validationFailed("Issue", "since", "invalid");
    const full = fullNameOf(repo).toLowerCase();
    const comments = (issue: IssueRecord) => req.state.commentsByIssue.get(issueKey(full, issue.number)).length;
    // `sort` (created by default, updated, comments) and `direction` (desc by default); ties by number.
    const sortKey = (issue: IssueRecord) =>
      q.sort === "updated" ? Date.parse(issue.updatedAt) : q.sort === "comments" ? comments(issue) : Date.parse(issue.createdAt);
    const direction = q.direction === "asc" ? 1 : -1;
    const all = req.state.issueList
      .filter((i) => i.repository.toLowerCase() === full)
      .filter((i) => wantedState === "all" || i.state === wantedState)
      .filter((i) => labels.every((wanted) => i.labels.some((l) => l.toLowerCase() === wanted)))
      .filter((i) => q.creator === undefined || i.user.toLowerCase() === q.creator.toLowerCase())
      .filter((i) => {
        // A login, `none` (no one assigned) or `*` (anyone).
        if (q.assignee === undefined) return true;
        if (q.assignee === "none") return i.assignees.length === 0;
        if (q.assignee === "*") return i.assignees.length > 0;
        return i.assignees.some((a) => a.toLowerCase() === q.assignee!.toLowerCase());
      })
      .filter((i) => since === null || Date.parse(i.updatedAt) >= since)
      .sort((a, b) => direction * (sortKey(a) - sortKey(b) || a.number - b.number));
    const { perPage, page } = paging(q);
    const listed = all.slice((page - 1) * perPage, page * perPage);
    return { status: 200, headers: linkHeader(req, page, perPage, all.length), body: listed.map((i) => issueJson(req.state, repo, i)) };
  },

  "GET /repos/{owner}/{repo}/issues/{issue_number}": (req) => {
    const repo = repoOf(req);
    return { status: 200, body: issueJson(req.state, repo, issueOf(req, repo)) };
  },

  "PATCH /repos/{owner}/{repo}/issues/{issue_number}": (req) => {
    const repo = repoOf(req);
    const issue = issueOf(req, repo);
    const body = issueUpdateSchema.parse(req.body ?? {});
    refuseUnmodelled(body);
    const now = isoSeconds(Date.now());
    if (body.title !== undefined && body.title !== null) {
      if (String(body.title).trim() === "") throw validationFailed("Issue", "title", "missing_field");
      issue.title = String(body.title);
    }
    if (body.body !== undefined) {
      if ((body.body ?? "").length > MAX_ISSUE_BODY) {
        throw validationFailed("Issue", "body", "custom", `body is too long (maximum is ${MAX_ISSUE_BODY} characters)`);
      }
      issue.body = body.body;
    }
    // `labels` replaces the issue's labels (creating unknown ones); `[]` clears them.
    if (body.labels !== undefined) issue.labels = labelsOf(req.state, repo, body.labels);
    const assignees = assigneesOf(req.state, body);
    if (assignees !== undefined) issue.assignees = assignees;
    // `state_reason` counts only with a change of state, as GitHub documents.
    if (body.state === "closed" && issue.state === "open") {
      issue.state = "closed";
      issue.stateReason = body.state_reason && body.state_reason !== "reopened" ? body.state_reason : "completed";
      issue.closedAt = now;
    } else if (body.state === "open" && issue.state === "closed") {
      issue.state = "open";
      issue.stateReason = "reopened";
      issue.closedAt = null;
    }
    issue.updatedAt = now;
    return { status: 200, body: issueJson(req.state, repo, issue) };
  },

  "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches": async (req) => {
    const repo = repoOf(req);
    const body = dispatchBodySchema.parse(req.body);
    let run: WorkflowRunRecord;
    try {
      run = await dispatch(req.state, repo, req.params.workflow_id ?? "", body);
    } catch (error) {
      if (error instanceof DispatchError) return { status: error.status, body: { message: error.message } };
      throw error;
    }
    const after = req.state.runHooks?.dispatched(run);
    if (body.return_run_details !== true) return { status: 204, ...(after ? { after } : {}) };
    const full = fullNameOf(repo);
    return {
      status: 200,
      body: {
        workflow_run_id: run.id,
        run_url: `${req.state.api}/repos/${full}/actions/runs/${run.id}`,
        html_url: `${req.state.url}/${full}/actions/runs/${run.id}`,
      },
      ...(after ? { after } : {}),
    };
  },

  "GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs": async (req) => {
    const repo = repoOf(req);
    const file = workflowFile(req.state, repo, req.params.workflow_id ?? "");
    if (!file) throw notFound();
    let workflowId = req.state.workflowIds.get(`${fullNameOf(repo).toLowerCase()}:${file}`);
    if (workflowId === undefined) {
      // Never dispatched: GitHub still knows a workflow that exists on the default branch.
      const [entry] = await lsTree(repo.path, await defaultBranchOf(repo), `.github/workflows/${file}`);
      if (!entry) throw notFound();
      workflowId = req.state.nextWorkflowId++;
      req.state.workflowIds.set(`${fullNameOf(repo).toLowerCase()}:${file}`, workflowId);
    }
    return listRunsReply(req, repo, { workflowId });
  },

  "GET /repos/{owner}/{repo}/actions/runs": async (req) => listRunsReply(req, repoOf(req), {}),

  "GET /repos/{owner}/{repo}/actions/runs/{run_id}": async (req) => {
    const repo = repoOf(req);
    const [json] = await runsJson(req.state, repo, [runOf(req, repo)]);
    return { status: 200, body: json };
  },

  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts": (req) => {
    const repo = repoOf(req);
    const run = runOf(req, repo);
    const direction = req.query.direction === "asc" ? 1 : -1;
    const artifacts = req.state.artifacts
      .filter((a) => a.runId === run.id && (req.query.name === undefined || a.name === req.query.name))
      .sort((a, b) => direction * (a.id - b.id));
    const { perPage, page } = paging(req.query);
    const slice = artifacts.slice((page - 1) * perPage, page * perPage);
    return {
      status: 200,
      body: { total_count: artifacts.length, artifacts: slice.map((a) => artifactJson(req.state, repo, a, run)) },
      headers: linkHeader(req, page, perPage, artifacts.length),
    };
  },

  "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}": (req) => {
    const repo = repoOf(req);
    const { artifact, run } = artifactOf(req, repo);
    return { status: 200, body: artifactJson(req.state, repo, artifact, run) };
  },

  "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}": (req) => {
    const repo = repoOf(req);
    const { artifact } = artifactOf(req, repo);
    // "The :archive_format must be zip."
    if (req.params.archive_format !== "zip") throw notFound();
    if (artifact.expired) return { status: 410, body: { message: "Artifact has expired" } };
    return { status: 302, headers: { location: grantBlob(req.state, artifact) } };
  },

  "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs": (req) => {
    const repo = repoOf(req);
    const run = runOf(req, repo);
    // The jobs the runner ran (matrix jobs one by one, skipped ones too), else one `bisect` job
    // mirroring the run. Earlier attempts are not kept, so `filter=all` lists the latest only.
    const bases = { api: req.state.api, web: req.state.url, fullName: fullNameOf(repo) };
    const jobs = run.jobs ? [...run.jobs].sort((a, b) => a.id - b.id).map((job) => jobRecordJson(run, job, bases)) : [workflowJobJson(run, bases)];
    const { perPage, page } = paging(req.query);
    return {
      status: 200,
      body: { total_count: jobs.length, jobs: jobs.slice((page - 1) * perPage, page * perPage) },
      headers: linkHeader(req, page, perPage, jobs.length),
    };
  },

  "POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel": (req) => {
    const repo = repoOf(req);
    const run = runOf(req, repo);
    if (run.status === "completed") return { status: 409, body: { message: "Cannot cancel a workflow run that is completed." } };
    // A run the runner executes stays in progress until its `if: always()` steps are done.
    if (req.state.runHooks?.cancel(run)) return { status: 202, body: {} };
    run.status = "completed";
    run.conclusion = "cancelled";
    run.updatedAt = isoSeconds(Date.now());
    return { status: 202, body: {} };
  },
};
