/**
 * What the GitHub double remembers between requests: repositories, users, permissions, pull
 * requests, issues and their labels, comments, reactions, workflow runs, tokens. Plain records,
 * so tests can read and change them directly.
 */

export interface DoubleRepository {
  owner: string;
  name: string;
  id: number;
  /** A git work tree or bare repository. */
  path: string;
  /** Default: the repository's HEAD branch. */
  defaultBranch?: string;
  installationId: number;
  private?: boolean;
  /**
   * The history at `path` never changes while this process runs (for benches): the double asks
   * git each question once and reuses the answer (git-data.ts, freezeRepository). Default false.
   */
  frozen?: boolean;
}

export type Role = "admin" | "maintain" | "write" | "triage" | "read" | "none";

export interface PullRequestRecord {
  number: number;
  baseRef: string;
  headRef: string;
  title?: string;
  /** The merge commit of a merged pull request; makes `associatedPullRequests` of that commit list it. */
  mergeCommitSha?: string;
  /** Login of the author (default: the repository owner). */
  author?: string;
  /** Default: MERGED with `mergeCommitSha`, else OPEN. */
  state?: "OPEN" | "CLOSED" | "MERGED";
}

export interface CommentRecord {
  id: number;
  repository: string;
  issueNumber: number;
  body: string;
  user: string;
  /** Every body the comment has had, oldest first (the current one last). */
  history: string[];
  createdAt: string;
  updatedAt: string;
}

/** An issue opened through `POST /repos/{owner}/{repo}/issues` (pull requests are PullRequestRecords). */
export interface IssueRecord {
  /** Unique among all issues of the double (GitHub's issue ids are global). */
  id: number;
  /** `owner/name`. */
  repository: string;
  /** Unique in the repository among issues, pull requests and the numbers comments were seeded on. */
  number: number;
  title: string;
  body: string | null;
  /** Names of the repository's labels (LabelRecord), as spelt when the label was created. */
  labels: string[];
  /** Logins. */
  assignees: string[];
  /** Login of the author (the app's bot for issues the app opens). */
  user: string;
  state: "open" | "closed";
  stateReason: "completed" | "not_planned" | "duplicate" | "reopened" | null;
  createdAt: string;
  /** Also moved by a new comment on the issue, as on GitHub (`since` filters on it). */
  updatedAt: string;
  closedAt: string | null;
}

/** A label of a repository; issues the app opens with unknown labels create them, as GitHub does for users with push access. */
export interface LabelRecord {
  id: number;
  /** `owner/name`. */
  repository: string;
  /** Unique in the repository, case-insensitively. */
  name: string;
  /** 6 hex digits without `#`; GitHub gives labels created on the fly `ededed`. */
  color: string;
  description: string | null;
}

export interface ReactionRecord {
  id: number;
  commentId: number;
  content: string;
  user: string;
  createdAt: string;
}

export type RunStatus = "requested" | "queued" | "pending" | "waiting" | "in_progress" | "completed";

export interface WorkflowRunRecord {
  id: number;
  /** `owner/name`. */
  repository: string;
  /** The workflow file name, e.g. `bisect.yml`. */
  workflow: string;
  workflowId: number;
  /** `.github/workflows/<file>`. */
  path: string;
  /** The workflow's `name:` (or its path). */
  name: string;
  /** The rendered `run-name:` (or the workflow name). */
  displayTitle: string;
  /** The ref as dispatched (branch or tag, short or qualified). */
  ref: string;
  /** Branch or tag short name. */
  headBranch: string;
  headSha: string;
  inputs: Record<string, string>;
  event: string;
  status: RunStatus;
  conclusion: string | null;
  runNumber: number;
  runAttempt: number;
  /** Login of the actor (the app's bot for dispatches). */
  actor: string;
  createdAt: string;
  updatedAt: string;
  runStartedAt: string;
  /**
   * The log (steps' output, capped), when the double's runner ran the run: its job's when one job
   * ran, else every job's log one after the other (each under a `##[group]Job <name>` line).
   */
  log?: string;
  /** The steps of the run's job as the double's runner ran them, when one job ran (else see `jobs`). */
  steps?: RunStepRecord[];
  /**
   * The jobs of the current attempt as the double's runner ran them (each matrix combination is a
   * job; a job whose `if` was false is listed `skipped`). Absent for runs tests move along by hand:
   * the API then shows one `bisect` job mirroring the run (objects.ts, workflowJobJson).
   */
  jobs?: WorkflowJobRecord[];
}

/** One job of a run as the double's runner ran it (a matrix combination is a job of its own). */
export interface WorkflowJobRecord {
  /** Unique among all jobs (GitHub's job ids are check run ids). */
  id: number;
  runId: number;
  runAttempt: number;
  /** The job's key in the workflow (`bisect`, `probe`). */
  key: string;
  /** As GitHub shows it: the job's `name:` or key, and a matrix job's values: `probe (<sha>)`. */
  name: string;
  /** The matrix combination (`matrix` context) of a matrix job. */
  matrix?: Record<string, unknown>;
  /** `strategy.job-index` and `strategy.job-total` (0 and 1 outside a matrix). */
  index: number;
  total: number;
  status: "queued" | "in_progress" | "completed";
  conclusion: "success" | "failure" | "cancelled" | "skipped" | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  /** The runner that took the job (null while queued, and for a job that never ran). */
  runnerId: number | null;
  runnerName: string | null;
  /** The names of the job's steps, in order (those not run yet are listed `queued`). */
  stepNames: string[];
  /** The steps run (or skipped) so far. */
  steps: RunStepRecord[];
  /** The job's log (capped), as the runner wrote it. */
  log: string;
}

/** One step of a run executed by the double's runner. */
export interface RunStepRecord {
  number: number;
  name: string;
  uses?: string;
  /** `with:` as the step received it (expressions evaluated). */
  inputs?: Record<string, string>;
  outcome: "success" | "failure" | "cancelled" | "skipped";
  /** As `outcome`, except a failure with `continue-on-error` concludes `success`. */
  conclusion: "success" | "failure" | "cancelled" | "skipped";
  exitCode?: number | null;
  error?: string;
  /** What the step wrote to GITHUB_STEP_SUMMARY. */
  summary?: string;
  /** ISO times (seconds) the step started and completed (a skipped step: both when it was skipped). */
  startedAt?: string;
  completedAt?: string;
}

/** How the REST routes hand dispatched and cancelled runs to the runner (runner.ts). */
export interface RunHooks {
  /**
   * A run was dispatched; called before the dispatch is answered (so `idle()` already waits for
   * it). Answers a function to call once the answer has been sent, which starts the run.
   */
  dispatched(run: WorkflowRunRecord): (() => void) | undefined;
  /** A cancel request for a run that is not completed; true when the runner takes care of it. */
  cancel(run: WorkflowRunRecord): boolean;
}

export interface DispatchRecord {
  repository: string;
  workflow: string;
  ref: string;
  inputs: Record<string, string>;
  returnRunDetails: boolean;
  status: number;
}

/**
 * An artifact of a workflow run, as `actions/upload-artifact` leaves it: one zip. Tests may make
 * it lie (`sizeInBytes` other than the zip's length, `serveBytes` other than the zip) or expire.
 */
export interface ArtifactRecord {
  id: number;
  runId: number;
  /** `owner/name` of the run's repository. */
  repository: string;
  /** Attempt of the run that uploaded it. */
  runAttempt: number;
  name: string;
  /** The archive as uploaded; `digest` is its SHA-256. */
  zip: Buffer;
  /** What the download URL serves instead of `zip` (hostile tests). */
  serveBytes?: Buffer;
  /** `size_in_bytes` as listed: the zip's length unless overridden. */
  sizeInBytes: number;
  /** `sha256:<hex>` of `zip`, or null as for artifacts of upload-artifact before v4. */
  digest: string | null;
  /** Expired artifacts are still listed (`expired: true`) but answer 410 on download. */
  expired: boolean;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
}

/** A short-lived download URL handed out by the archive route, as GitHub's signed storage URLs. */
export interface BlobGrant {
  artifactId: number;
  expiresAt: number;
}

export interface TokenRecord {
  installationId: number;
  expiresAt: number;
}

export interface UserRecord {
  login: string;
  id: number;
  type: "User" | "Bot" | "Organization";
}

/**
 * The items of an append-only list grouped by a key, indexed as the list grows: tests may push to
 * the list directly, and a list that shrank is indexed again from the start. Keeps lookups by id
 * constant-time when a bench holds tens of thousands of comments.
 */
export class GrowingIndex<T, K> {
  private readonly groups = new Map<K, T[]>();
  private indexed = 0;

  constructor(
    private readonly list: readonly T[],
    private readonly key: (item: T) => K,
  ) {}

  /** The items with this key, in list order. */
  get(key: K): readonly T[] {
    if (this.list.length < this.indexed) {
      this.groups.clear();
      this.indexed = 0;
    }
    for (; this.indexed < this.list.length; this.indexed++) {
      const item = this.list[this.indexed]!;
      const k = this.key(item);
      const group = this.groups.get(k);
      if (group) group.push(item);
      else this.groups.set(k, [item]);
    }
    return this.groups.get(key) ?? [];
  }
}

export class DoubleState {
  readonly repositories = new Map<string, DoubleRepository>();
  readonly permissions = new Map<string, Map<string, Role>>();
  readonly usersByLogin = new Map<string, UserRecord>();
  readonly loginsByEmail = new Map<string, string>();
  readonly pullRequests = new Map<string, PullRequestRecord[]>();
  readonly commentList: CommentRecord[] = [];
  readonly reactionList: ReactionRecord[] = [];
  /** `commentList` by comment id. */
  readonly commentsById = new GrowingIndex(this.commentList, (c) => c.id);
  /** `reactionList` by the id of the comment reacted to. */
  readonly reactionsByComment = new GrowingIndex(this.reactionList, (r) => r.commentId);
  /** `commentList` by `issueKey(repository, issueNumber)` (an issue's `comments` count). */
  readonly commentsByIssue = new GrowingIndex(this.commentList, (c) => issueKey(c.repository, c.issueNumber));
  readonly issueList: IssueRecord[] = [];
  /** `issueList` by `issueKey(repository, number)`. */
  readonly issuesByKey = new GrowingIndex(this.issueList, (i) => issueKey(i.repository, i.number));
  /** Lower-case `owner/name` -> the repository's labels. */
  readonly labels = new Map<string, LabelRecord[]>();
  /** Lower-case `owner/name` -> the last issue number handed out there (see `nextIssueNumber`). */
  readonly issueNumbers = new Map<string, number>();
  readonly runs: WorkflowRunRecord[] = [];
  readonly dispatches: DispatchRecord[] = [];
  readonly tokens = new Map<string, TokenRecord>();
  /** `owner/name` + file -> workflow id, assigned on first dispatch (GitHub's ids are numeric). */
  readonly workflowIds = new Map<string, number>();
  readonly artifacts: ArtifactRecord[] = [];
  /** Download token -> grant; see `blobUrl`. */
  readonly blobs = new Map<string, BlobGrant>();
  /** Origin of the storage server the archive route redirects to (another port: another origin). */
  blobUrl = "";
  nextArtifactId = 9000;
  nextCommentId = 1000;
  nextIssueId = 3_000_001;
  nextLabelId = 400_001;
  nextRunId = 5000;
  nextReactionId = 1;
  nextUserId = 100;
  nextWorkflowId = 700;
  /** Ids of the jobs the runner runs (far from `jobIdOf`'s ids of runs moved by hand). */
  nextJobId = 80_000_001;
  ghes: boolean;
  readonly botLogin: string;
  /** Set by the runner; without it dispatched runs stay queued and cancels complete at once. */
  runHooks?: RunHooks;

  constructor(
    /** `http://127.0.0.1:PORT`. */
    public url: string,
    readonly appId: number,
    readonly appSlug: string,
    ghes: boolean,
    readonly tokenTtlSeconds: number,
  ) {
    this.ghes = ghes;
    this.botLogin = `${appSlug}[bot]`;
    this.user(this.botLogin, "Bot");
  }

  get api(): string {
    return `${this.url}/api/v3`;
  }

  /** The user with this login, created on first mention with the next id. */
  user(login: string, type: UserRecord["type"] = "User"): UserRecord {
    let user = this.usersByLogin.get(login);
    if (!user) {
      user = { login, id: this.nextUserId++, type: login.endsWith("[bot]") ? "Bot" : type };
      this.usersByLogin.set(login, user);
    }
    return user;
  }

  repository(fullName: string): DoubleRepository | undefined {
    return this.repositories.get(fullName.toLowerCase());
  }

  role(fullName: string, login: string): Role | undefined {
    return this.permissions.get(fullName.toLowerCase())?.get(login.toLowerCase());
  }

  /**
   * The number for a new issue of the repository: above every number it knows there (issues,
   * pull requests, issues that comments were seeded or posted on), since issues and pull requests
   * share one sequence on GitHub. Remembered, so numbers only go up.
   */
  nextIssueNumber(fullName: string): number {
    const key = fullName.toLowerCase();
    let last = this.issueNumbers.get(key) ?? 0;
    for (const pr of this.pullRequests.get(key) ?? []) last = Math.max(last, pr.number);
    for (const c of this.commentList) if (c.repository.toLowerCase() === key) last = Math.max(last, c.issueNumber);
    for (const i of this.issueList) if (i.repository.toLowerCase() === key) last = Math.max(last, i.number);
    this.issueNumbers.set(key, last + 1);
    return last + 1;
  }

  /** The issue opened through the API with this number, if any. */
  issue(fullName: string, issueNumber: number): IssueRecord | undefined {
    return this.issuesByKey.get(issueKey(fullName, issueNumber))[0];
  }
}

/** The key of an issue (or pull request) number in a repository, for the indexes by issue. */
export function issueKey(fullName: string, issueNumber: number): string {
  return `${fullName.toLowerCase()}#${issueNumber}`;
}

export function fullNameOf(repo: DoubleRepository): string {
  return `${repo.owner}/${repo.name}`;
}
