import { Bisection, engineVerdict, onFirstParentLine, type BisectStatus, type FlakeHistory, type TestVerdict } from "../bisect/index.js";
import type { Probe, ResultDocument } from "../result-document.js";
import { CommandCheck } from "./command-check.js";
import type { GitRepository } from "./git.js";
import { InfrastructureRetry } from "./infrastructure-retry.js";
import { BisectPlan, ConfirmPlan, ProbeListPlan, type ProbePlan } from "./probe-plan.js";
import { CheckoutError, runTest, type TestRun } from "./run-test.js";
import { endedResult, interruptedResult, resultBase, withFlakeEvidence, type RunFailure } from "./run-result.js";
import { WorktreePool } from "./worktree-pool.js";
import type { OptionValues } from "../options.js";

/** A verdict already known for a commit (an earlier attempt's), so it is not tested again. */
export interface KnownVerdict {
  sha: string;
  verdict: TestVerdict;
}

export interface RunnerSettings {
  git: GitRepository;
  /** Full shas of the good commits. */
  good: readonly string[];
  /** Full sha of the bad commit. */
  bad: string;
  /** The refs as the user wrote them, for messages (default: the shas). */
  refNames?: { good: readonly string[]; bad: string };
  command: readonly string[];
  /** Worktrees testing at once (default 1). */
  parallel?: number;
  firstParent?: boolean;
  flaky?: boolean;
  confidence?: number;
  /** Deterministic mode: test the bad commit before blaming it. */
  verifyBad?: boolean;
  /** Find the first commit where the test passes (the engine is told a pass is the new state). */
  findFix?: boolean;
  /** After a culprit is found, re-run it and its parent(s) this many times (`confirmation`). */
  confirm?: number;
  stepTimeoutMs?: number;
  /** Verdicts already recorded, not tested again (bisect mode; probe mode tests every commit it is given). */
  known?: readonly KnownVerdict[];
  /** Flaky mode: what earlier bisects of the same test measured of its flake rate (the prior on f). */
  flakeHistory?: FlakeHistory;
  jobId?: string;
  /** Where worktrees are created (default: the system temp directory). */
  worktreeDir?: string;
  /** Receives progress; never throws into the runner. */
  onEvent?: (event: RunnerEvent) => void;
  /** Receives the test command's output, per probe. Default: discarded. */
  onOutput?: (sha: string, chunk: Buffer) => void;
  /**
   * Probe mode: test exactly these commits (full shas, present in the clone) instead of bisecting:
   * the App's parallel rounds. Nothing of the range's history is read (a fan-out runner's clone
   * holds only the commit it tests), `good` and `bad` only name the range in the result, whose
   * verdict is `searching` (or `error`/`interrupted`), with `range.size` 0 and no candidates: the
   * App, which has the graph, plans the next round from the probes.
   */
  probeOnly?: readonly string[];
  /**
   * Stops the bisection (Ctrl-C, a cancelled run): running tests are killed, worktrees removed,
   * and the result is `interrupted` (reason `cancelled`) with the probes so far.
   */
  signal?: AbortSignal;
}

/**
 * The range as the runner takes it: the refs the user wrote, resolved to full shas in `git`
 * (an unknown ref throws, naming it), and kept for messages.
 */
export async function resolveRange(git: GitRepository, refs: { good: readonly string[]; bad: string }) {
  const [bad, good] = await Promise.all([git.resolveCommit(refs.bad), Promise.all(refs.good.map((ref) => git.resolveCommit(ref)))]);
  return { git, good, bad, refNames: { good: refs.good, bad: refs.bad } } satisfies Partial<RunnerSettings>;
}

/**
 * The runner's settings for the bisect options a CLI or Action user gave (the options table's
 * values): one translation for both.
 */
export function runnerOptions(
  values: Pick<OptionValues, "parallel" | "firstParent" | "flaky" | "findFix" | "confidence" | "stepTimeoutSeconds" | "confirm"> & { verify?: boolean },
) {
  return {
    parallel: values.parallel,
    firstParent: values.firstParent,
    flaky: values.flaky,
    findFix: values.findFix,
    confirm: values.confirm,
    confidence: values.confidence,
    verifyBad: values.verify ?? false,
    ...(values.stepTimeoutSeconds > 0 ? { stepTimeoutMs: values.stepTimeoutSeconds * 1000 } : {}),
  } satisfies Partial<RunnerSettings>;
}

/** Why a probe runs: chosen by the bisection, a merge base git checks first, the re-check of exit 126/127, a retry. */
export type ProbePurpose = "bisect" | "merge-base" | "good-check" | "retry";

export type RunnerEvent =
  | { type: "start"; rangeSize: number; estimatedTests: number; mergeBases: readonly string[] }
  | { type: "probe-start"; sha: string; worker: number; round: number; purpose: ProbePurpose }
  | { type: "probe-end"; sha: string; worker: number; probe: Probe; note?: string; status: BisectStatus }
  | { type: "probe-stopped"; sha: string; worker: number }
  | { type: "warning"; message: string };

/**
 * Bisects `good..bad` by running the command in worktrees, `parallel` at a time, asking the engine
 * for the next probes whenever a worktree is free (running probes count as dividers). Probes whose
 * verdict stops mattering are killed. Returns the result document; never moves the user's HEAD.
 */
export async function runBisect(settings: RunnerSettings): Promise<ResultDocument> {
  const emit = (event: RunnerEvent) => {
    try {
      settings.onEvent?.(event);
    } catch {
      // Progress reporting must not break the bisection.
    }
  };
  const parallel = Math.max(1, settings.parallel ?? 1);
  const pool = new WorktreePool(settings.git, parallel, settings.worktreeDir);
  // Register the worktrees while the history is read, at a commit the clone has: in probe mode
  // `bad` may not be in it (each probe checks out its own commit anyway).
  pool.warm(settings.probeOnly?.[0] ?? settings.bad);
  try {
    return settings.probeOnly ? await probeInPool(settings, settings.probeOnly, pool, parallel, emit) : await bisectInPool(settings, pool, parallel, emit);
  } finally {
    await pool.dispose();
  }
}

/**
 * Probe mode: tests exactly `commits`, without reading the range's history (no rev-list, no
 * merge-base: a one-commit shallow clone is enough), and without the re-check of exit 126/127
 * (see `Scheduler`). The range in the result is `good` and `bad` as given, with size 0: the
 * runner did not count it.
 */
async function probeInPool(
  settings: RunnerSettings,
  commits: readonly string[],
  pool: WorktreePool,
  parallel: number,
  emit: (e: RunnerEvent) => void,
): Promise<ResultDocument> {
  const plan = new ProbeListPlan(commits);
  emit({ type: "start", rangeSize: 0, estimatedTests: plan.status().estimatedTests, mergeBases: [] });
  const scheduler = new Scheduler(settings, plan, pool, parallel, emit);
  const failure = await scheduler.run();
  const base = resultBase(settings.jobId, { good: [...settings.good], bad: settings.bad, size: 0 }, scheduler.probes);
  if (settings.signal?.aborted) return interruptedResult(base, "cancelled");
  return endedResult(base, plan.status(), failure, { candidates: () => [] });
}

async function bisectInPool(settings: RunnerSettings, pool: WorktreePool, parallel: number, emit: (e: RunnerEvent) => void): Promise<ResultDocument> {
  const git = settings.git;
  const [mergeBases, commits] = await Promise.all([
    findMergeBases(git, settings.bad, settings.good),
    git.rangeCommits(settings.bad, settings.good, settings.firstParent ?? false),
  ]);
  if (commits.length === 0) throw new Error(await explainEmptyRange(settings));
  const bisection = Bisection.create({
    commits,
    bad: settings.bad,
    goods: settings.good,
    mergeBases,
    firstParent: settings.firstParent ?? false,
    flaky: settings.flaky ?? false,
    verifyBad: settings.verifyBad ?? false,
    ...(settings.confidence !== undefined ? { confidence: settings.confidence } : {}),
    ...(settings.flakeHistory ? { flakeHistory: settings.flakeHistory } : {}),
  });
  for (const k of settings.known ?? []) {
    if (bisection.knows(k.sha)) bisection.record(k.sha, engineVerdict(k.verdict, settings.findFix ?? false));
  }
  const initial = bisection.status();
  emit({
    type: "start",
    rangeSize: bisection.rangeSize,
    estimatedTests: initial.state === "searching" ? initial.estimatedTests : 0,
    mergeBases: bisection.mergeBases,
  });

  const scheduler = new Scheduler(settings, new BisectPlan(bisection), pool, parallel, emit);
  const failure = await scheduler.run();
  const status = bisection.status();
  const range = { good: [...settings.good], bad: settings.bad, size: bisection.rangeSize };
  if (settings.signal?.aborted) return interruptedResult(resultBase(settings.jobId, range, scheduler.probes), "cancelled");
  const runs = settings.confirm ?? 0;
  // Flaky mode measures the test's flake rate for the next bisect of it (see Bisection.flakeEvidence).
  // And a culprit off the bad commit's first-parent line is said to be (the App flags it).
  const measured = (result: ResultDocument): ResultDocument => {
    const withEvidence = withFlakeEvidence(result, bisection, { flaky: settings.flaky ?? false, findFix: settings.findFix ?? false });
    if (settings.firstParent || withEvidence.verdict !== "culprit" || !withEvidence.culprit) return withEvidence;
    return { ...withEvidence, offFirstParentLine: !onFirstParentLine(commits, settings.bad, withEvidence.culprit.sha) };
  };
  if (failure || status.state !== "culprit" || runs <= 0)
    return measured(endedResult(resultBase(settings.jobId, range, scheduler.probes), status, failure, undefined));

  // --confirm: the culprit and its parents (the first only, following first parents), n times each.
  const node = commits.find((c) => c.sha === status.sha);
  const parents = settings.firstParent ? (node?.parents.slice(0, 1) ?? []) : [...(node?.parents ?? [])];
  const confirming = new Scheduler(settings, new ConfirmPlan([status.sha, ...parents], runs), pool, parallel, emit);
  const confirmFailure = await confirming.run();
  const searchRounds = scheduler.probes.reduce((m, p) => Math.max(m, p.round), 0);
  const probes = [...scheduler.probes, ...confirming.probes.map((p) => ({ ...p, round: p.round + searchRounds }))];
  const base = resultBase(settings.jobId, range, probes);
  if (settings.signal?.aborted) return interruptedResult(base, "cancelled");
  const ended = endedResult(base, status, confirmFailure, undefined);
  if (ended.verdict !== "culprit") return ended;
  return measured({ ...ended, confirmation: confirmationOf(confirming.probes, status.sha, parents, runs, settings.findFix ?? false) });
}

/**
 * What the confirmation runs showed: how many of the culprit's showed the new state, and the
 * fewest of one parent's that showed the old one (a skip or an error shows neither).
 */
export function confirmationOf(
  probes: readonly Pick<Probe, "sha" | "verdict">[],
  culprit: string,
  parents: readonly string[],
  runs: number,
  findFix: boolean,
): NonNullable<ResultDocument["confirmation"]> {
  const showing = (sha: string, state: TestVerdict) =>
    probes.filter((p) => p.sha === sha && p.verdict !== "error" && engineVerdict(p.verdict, findFix) === state).length;
  const culpritFailed = Math.min(runs, showing(culprit, "bad"));
  const parentPassed = parents.length === 0 ? runs : Math.min(runs, ...parents.map((p) => showing(p, "good")));
  return { runs, culpritFailed, parentPassed, verdict: culpritFailed === runs && parentPassed === runs ? "confirmed" : "not-reproducible" };
}

/** One test in flight. */
interface Running {
  sha: string;
  round: number;
  purpose: ProbePurpose;
  abort: AbortController;
  /** Rejects when the test could not be run at all (no worktree). */
  done: Promise<Finished>;
  /** When the test command started (after the checkout), for batching verdicts. */
  startedAt?: number;
}

interface Finished {
  running: Running;
  run: TestRun;
  /** The worktree's id; -1 when the test could not be run at all. */
  worker: number;
}

/** A first exit 126/127, waiting for the command to be re-checked on a good commit. */
interface Held {
  finished: Finished;
  probe: Probe;
}

/** The re-check of a 126/127 runs on a good commit, which may also be probed: it has its own key. */
const keyOf = (r: Running) => (r.purpose === "good-check" ? `good-check:${r.sha}` : r.sha);

/**
 * The scheduling loop: keeps every worktree busy with the probes the plan asks for (retries
 * first), applies verdicts as they arrive (in batches, see `awaitCompanions`), and stops tests
 * whose verdict no longer matters. The policies live in their own units: `InfrastructureRetry`,
 * `CommandCheck` (exit 126/127) and the `ProbePlan` (bisect or probe mode).
 */
class Scheduler {
  /** Every verdict, in the order they arrived (stopped tests are not probes). */
  readonly probes: Probe[] = [];
  private readonly running = new Map<string, Running>();
  private readonly finished: Finished[] = [];
  /** Resolves the loop's wait when a test finishes. */
  private wake: (() => void) | undefined;
  /** The latest round whose verdict is known: a probe started now is planned in the next. */
  private latestRound = 0;
  private failure: RunFailure | undefined;
  private warningsSeen = 0;
  private readonly retry = new InfrastructureRetry();
  /**
   * The re-check of a first exit 126/127 on a good commit; none in probe mode. There the good
   * commit is not in the clone (a fan-out runner has only the commit it tests, and no credentials
   * to fetch more), and the run tests exactly the commits it was given: an exit 126/127 is
   * recorded as it is, a `bad` probe with its exit code, and the App, which sees every runner's
   * probes, decides whether the command can run at all (as the re-check would).
   */
  private readonly commandCheck: CommandCheck<Held> | undefined;

  constructor(
    private readonly settings: RunnerSettings,
    private readonly plan: ProbePlan,
    private readonly pool: WorktreePool,
    private readonly parallel: number,
    private readonly emit: (e: RunnerEvent) => void,
  ) {
    this.commandCheck = settings.probeOnly ? undefined : new CommandCheck(settings.command, settings.good[0]!);
  }

  /** Runs until the plan is over, a failure ends it, or the signal stops it. Returns the failure, if any. */
  async run(): Promise<RunFailure | undefined> {
    const signal = this.settings.signal;
    const stopAll = () => this.running.forEach((r) => r.abort.abort());
    signal?.addEventListener("abort", stopAll);
    try {
      while (!signal?.aborted && !this.failure) {
        const holding = this.commandCheck?.holding ?? false;
        if (!holding && this.plan.isOver(this.pendingShas(), this.retry.hasWaiting)) break;
        if (!holding) this.fillWorktrees();
        if (this.running.size === 0) {
          this.failure = { reason: "no-verdict", message: "The engine has no probe to run but has not reached a verdict (this is a bug)." };
          break;
        }
        if (this.finished.length === 0) await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        await awaitCompanions(this.finished[0]!, this.running, this.finished);
        for (const f of this.finished.splice(0)) {
          this.running.delete(keyOf(f.running));
          this.apply(f);
        }
        // Stop probes whose verdict no longer matters.
        for (const r of this.running.values()) {
          if (r.purpose !== "good-check" && this.plan.mayStop(r.sha)) r.abort.abort();
        }
      }
    } finally {
      signal?.removeEventListener("abort", stopAll);
      stopAll();
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    }
    return this.failure;
  }

  /** Starts waiting retries, then what the plan asks for, until every worktree is busy. */
  private fillWorktrees(): void {
    while (this.running.size < this.parallel) {
      const sha = this.retry.take();
      if (sha === undefined) break;
      this.start(sha, "retry");
    }
    const chosen = this.plan.next(
      this.parallel - this.running.size,
      [...this.running.values()].map((r) => r.sha),
    );
    for (const sha of chosen) this.start(sha, this.plan.isMergeBase(sha) ? "merge-base" : "bisect");
  }

  /** Probes still running that the bisection counts (the 126/127 re-check is not one of them). */
  private pendingShas(): string[] {
    return [...this.running.values()].filter((r) => r.purpose !== "good-check").map((r) => r.sha);
  }

  private start(sha: string, purpose: ProbePurpose): void {
    const abort = new AbortController();
    const running: Running = {
      sha,
      round: this.latestRound + 1,
      purpose,
      abort,
      done: this.test(sha, () => running).then((tested) => ({ running, ...tested })),
    };
    running.done.then(
      (f) => {
        this.finished.push(f);
        this.wake?.();
      },
      (error: Error) => {
        this.failure ??= { reason: "probe-failed", message: `Could not run a probe of ${sha}: ${error.message}` };
        this.finished.push({ running, run: { verdict: "error", exitCode: null, durationMs: 0, stopped: true }, worker: -1 });
        this.wake?.();
      },
    );
    this.running.set(keyOf(running), running);
  }

  /** Tests `sha` in a free worktree; rejects when no worktree could be had. */
  private async test(sha: string, entry: () => Running): Promise<{ run: TestRun; worker: number }> {
    const worktree = await this.pool.acquire(sha);
    const running = entry();
    this.emit({ type: "probe-start", sha, worker: worktree.id, round: running.round, purpose: running.purpose });
    running.startedAt = performance.now();
    // Killed (stopped, timed out, a signal), maybe inside its checkout: the pool clears git's lock.
    let killed = true;
    try {
      const { command, stepTimeoutMs, onOutput } = this.settings;
      const attempt = () =>
        runTest({
          argv: command,
          cwd: worktree.path,
          ...(stepTimeoutMs ? { timeoutMs: stepTimeoutMs } : {}),
          signal: running.abort.signal,
          checkout: sha,
          ...(onOutput ? { output: (chunk: Buffer) => onOutput(sha, chunk) } : {}),
        });
      // A checkout that fails is tried once more after clearing the worktree's git locks: a lock
      // left by a process the test started (and that was killed with it) is not the commit's
      // fault. A second failure (a corrupt object, a full disk) ends the bisect with git's words.
      const run = await attempt().catch(async (error: unknown) => {
        if (!(error instanceof CheckoutError) || running.abort.signal.aborted) throw error;
        this.emit({ type: "warning", message: `${error.message}; clearing the worktree's git locks and trying once more.` });
        await this.pool.clearLocks(worktree);
        return attempt();
      });
      killed = run.exitCode === null;
      return { run, worker: worktree.id };
    } finally {
      this.pool.release(worktree, killed);
    }
  }

  /**
   * Applies one finished test: an infrastructure error is retried once (then skipped), a first
   * exit 126/127 waits for the command's re-check on a good commit, any other verdict is recorded.
   */
  private apply(f: Finished): void {
    const { running: done, run, worker } = f;
    if (run.stopped) {
      if (worker >= 0) this.emit({ type: "probe-stopped", sha: done.sha, worker });
      return;
    }
    const probe: Probe = { sha: done.sha, verdict: run.verdict, exitCode: run.exitCode, durationMs: run.durationMs, round: done.round };
    this.probes.push(probe);
    this.latestRound = Math.max(this.latestRound, done.round);

    if (done.purpose === "good-check" && this.commandCheck) {
      this.emit({ type: "probe-end", sha: done.sha, worker, probe, note: "re-check of exit 126/127 on a good commit", status: this.plan.status() });
      const outcome = this.commandCheck.conclude(run);
      if ("failure" in outcome) this.failure = outcome.failure;
      else this.record(outcome.held.finished, outcome.held.probe, "bad", outcome.held.finished.run.note);
      return;
    }
    if (run.verdict === "error") {
      const note = run.note ?? "infrastructure error";
      if (this.retry.onError(done.sha) === "retry") {
        this.emit({ type: "probe-end", sha: done.sha, worker, probe, note: `${note}; retrying once`, status: this.plan.status() });
      } else {
        this.record(f, probe, "skip", `${note} twice; treated as skip`);
      }
      return;
    }
    if (this.commandCheck?.consider(run, { finished: f, probe }) === "hold") {
      this.start(this.commandCheck.goodCommit, "good-check");
      return;
    }
    this.record(f, probe, run.verdict, run.note);
  }

  /** Gives the engine a verdict and reports it, with any warning it raised. */
  private record(f: Finished, probe: Probe, verdict: TestVerdict, note: string | undefined): void {
    const sha = f.running.sha;
    this.plan.record(sha, engineVerdict(verdict, this.settings.findFix ?? false));
    for (const message of this.plan.warnings.slice(this.warningsSeen)) this.emit({ type: "warning", message });
    this.warningsSeen = this.plan.warnings.length;
    this.emit({ type: "probe-end", sha, worker: f.worker, probe, ...(note ? { note } : {}), status: this.plan.status(this.pendingShas()) });
  }
}

/**
 * Verdicts that arrive together are planned together. Probes that started about when this one did
 * will likely finish about as long after: wait for those (at most a fifth of its duration, and
 * 250 ms), so the next probes are not chosen on half the news and then stopped.
 */
async function awaitCompanions(first: Finished, running: ReadonlyMap<string, Running>, finished: readonly Finished[]) {
  const duration = first.run.durationMs;
  const deadline = performance.now() + Math.min(250, duration / 5);
  const done = new Set(finished.map((f) => f.running));
  const companions = [...running.values()].filter((r) => !done.has(r) && r.startedAt !== undefined && r.startedAt + duration <= deadline);
  if (companions.length === 0) return;
  // The timer is cleared when the companions come first: a pending one would keep the process
  // alive for up to 250 ms after the last verdict.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(companions.map((r) => r.done)), new Promise<void>((r) => (timer = setTimeout(r, deadline - performance.now())))]);
  clearTimeout(timer);
}

/** Why `bad --not goods` is empty: a good is the bad commit, or a descendant of it. */
async function explainEmptyRange(settings: RunnerSettings): Promise<string> {
  const names = settings.refNames ?? { good: settings.good, bad: settings.bad };
  const short = (sha: string) => sha.slice(0, 10);
  for (const [i, g] of settings.good.entries()) {
    if (g === settings.bad) {
      return `The good ref '${names.good[i]}' and the bad ref '${names.bad}' are the same commit (${short(g)}): there is nothing to bisect.`;
    }
    if (await settings.git.isAncestor(settings.bad, g)) {
      return (
        `The good ref '${names.good[i]}' (${short(g)}) is a descendant of the bad ref '${names.bad}' (${short(settings.bad)}): ` +
        "the range is empty. Did you swap the good and bad commits?"
      );
    }
  }
  return `The range ${names.good.join(", ")}..${names.bad} holds no commits.`;
}

/** git tests the merge bases first when some good commit is not an ancestor of bad. */
async function findMergeBases(git: GitRepository, bad: string, good: readonly string[]): Promise<string[]> {
  const ancestry = await Promise.all(good.map((g) => git.isAncestor(g, bad)));
  if (ancestry.every(Boolean)) return [];
  return (await git.mergeBases(bad, good)).filter((m) => !good.includes(m));
}
