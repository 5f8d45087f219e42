import { Bisection, type BisectStatus, type TestVerdict } from "../bisect/index.js";
import type { GitRepository } from "./git.js";
import type { Probe, ResultDocument } from "../result-document.js";
import { runTest, type TestRun } from "./run-test.js";
import { WorktreePool } from "./worktree-pool.js";

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
  stepTimeoutMs?: number;
  known?: readonly KnownVerdict[];
  jobId?: string;
  /** Where worktrees are created (default: the system temp directory). */
  worktreeDir?: string;
  /** Receives progress; never throws into the runner. */
  onEvent?: (event: RunnerEvent) => void;
  /** Receives the test command's output, per probe. Default: discarded. */
  onOutput?: (sha: string, chunk: Buffer) => void;
  /**
   * Probe mode: test exactly these commits (the App's parallel rounds) instead of bisecting; the
   * result's probes carry their verdicts and its verdict says where the bisection stands.
   */
  probeOnly?: readonly string[];
  /** Aborts the bisection (Ctrl-C): running tests are killed, worktrees removed. */
  signal?: AbortSignal;
}

export type RunnerEvent =
  | { type: "start"; rangeSize: number; estimatedTests: number; mergeBases: readonly string[] }
  | { type: "probe-start"; sha: string; worker: number; round: number; purpose: "bisect" | "merge-base" | "good-check" | "retry" }
  | { type: "probe-end"; sha: string; worker: number; probe: Probe; note?: string; status: BisectStatus }
  | { type: "probe-stopped"; sha: string; worker: number }
  | { type: "warning"; message: string };

interface Running {
  sha: string;
  round: number;
  purpose: "bisect" | "merge-base" | "good-check" | "retry";
  abort: AbortController;
  done: Promise<Finished>;
  /** When the test command started (after the checkout), for batching verdicts. */
  startedAt?: number;
}

interface Finished {
  running: Running;
  run: TestRun;
  worker: number;
}

const keyOf = (r: Running) => (r.purpose === "good-check" ? `good-check:${r.sha}` : r.sha);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Verdicts that arrive together are planned together. Probes that started about when this one did
 * will likely finish about as long after: wait for those (at most a fifth of its duration, and
 * 250 ms), so the next probes are not chosen on half the news and then stopped.
 */
async function awaitCompanions(first: Finished, running: ReadonlyMap<string, Running>, finished: readonly Finished[]) {
  const duration = first.run.durationMs;
  const deadline = performance.now() + Math.min(250, duration / 5);
  const done = new Set(finished.map((f) => f.running));
  const companions = [...running.values()].filter(
    (r) => !done.has(r) && r.startedAt !== undefined && r.startedAt + duration <= deadline,
  );
  if (companions.length === 0) return;
  await Promise.race([Promise.allSettled(companions.map((r) => r.done)), sleep(deadline - performance.now())]);
}

/** Exit 126/127: the command was not executable or not found (`git bisect run` re-checks these). */
const notRunnable = (exitCode: number | null) => exitCode === 126 || exitCode === 127;

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
  const git = settings.git;
  const pool = new WorktreePool(git, parallel, settings.worktreeDir);
  pool.warm(settings.bad); // check out the worktrees while the history is read
  try {
    return await bisectInPool(settings, pool, parallel, emit);
  } finally {
    await pool.dispose();
  }
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
  });

  const probes: Probe[] = [];
  for (const k of settings.known ?? []) {
    if (bisection.knows(k.sha)) bisection.record(k.sha, k.verdict);
  }
  const initial = bisection.status();
  emit({
    type: "start",
    rangeSize: bisection.rangeSize,
    estimatedTests: initial.state === "searching" ? initial.estimatedTests : 0,
    mergeBases: bisection.mergeBases,
  });

  const running = new Map<string, Running>();
  const finished: Finished[] = [];
  let wake: (() => void) | undefined;
  const retried = new Set<string>();
  const retryQueue: string[] = [];
  let held: { finished: Finished; probe: Probe } | undefined; // a 126/127 waiting for the good-check
  let goodChecked = false;
  let latestRound = 0;
  let fatal: string | undefined;
  let warningsSeen = 0;
  const probeQueue = settings.probeOnly ? [...new Set(settings.probeOnly)] : undefined;

  const start = (sha: string, purpose: Running["purpose"]) => {
    const abort = new AbortController();
    const entry: Running = { sha, round: latestRound + 1, purpose, abort, done: undefined as never };
    entry.done = (async () => {
      const worktree = await pool.acquire(sha);
      emit({ type: "probe-start", sha, worker: worktree.id, round: entry.round, purpose });
      entry.startedAt = performance.now();
      try {
        const run = await runTest({
          argv: settings.command,
          cwd: worktree.path,
          ...(settings.stepTimeoutMs ? { timeoutMs: settings.stepTimeoutMs } : {}),
          signal: abort.signal,
          ...(settings.onOutput ? { output: (chunk: Buffer) => settings.onOutput!(sha, chunk) } : {}),
        });
        return { running: entry, run, worker: worktree.id };
      } finally {
        pool.release(worktree);
      }
    })();
    entry.done.then(
      (f) => {
        finished.push(f);
        wake?.();
      },
      (error: Error) => {
        fatal ??= `Could not run a probe of ${sha}: ${error.message}`;
        finished.push({ running: entry, run: { verdict: "error", exitCode: null, durationMs: 0, stopped: true }, worker: -1 });
        wake?.();
      },
    );
    running.set(keyOf(entry), entry);
  };
  const onAbort = () => running.forEach((r) => r.abort.abort());
  settings.signal?.addEventListener("abort", onAbort);
  const pendingShas = () => [...running.values()].filter((r) => r.purpose !== "good-check").map((r) => r.sha);
  const toProbe = (f: Finished): Probe => ({
    sha: f.running.sha,
    verdict: f.run.verdict,
    exitCode: f.run.exitCode,
    durationMs: f.run.durationMs,
    round: f.running.round,
  });

  /** Applies one finished run: records its verdict, retries an infrastructure error once, or holds a first 126/127 for the good-check. */
  const apply = (f: Finished): void => {
    const { running: done, run, worker } = f;
    if (run.stopped) {
      if (worker >= 0) emit({ type: "probe-stopped", sha: done.sha, worker });
      return;
    }
    const probe = toProbe(f);
    probes.push(probe);
    latestRound = Math.max(latestRound, done.round);

    if (done.purpose === "good-check") {
      emit({ type: "probe-end", sha: done.sha, worker, probe, note: "re-check of exit 126/127 on a good commit", status: bisection.status() });
      const first = held!;
      held = undefined;
      if (notRunnable(run.exitCode)) {
        fatal =
          `The command '${settings.command.join(" ")}' exits ${run.exitCode} on the good commit ${done.sha} too: ` +
          `it was ${run.exitCode === 127 ? "not found" : "not executable"}, so no commit can be blamed. ` +
          "Check the command and that it is installed (each probe runs in a fresh worktree of the commit).";
        return;
      }
      record(first.finished, first.probe, "bad", first.finished.run.note);
      return;
    }

    if (run.verdict === "error") {
      if (!retried.has(done.sha)) {
        retried.add(done.sha);
        retryQueue.push(done.sha);
        emit({ type: "probe-end", sha: done.sha, worker, probe, note: `${run.note ?? "infrastructure error"}; retrying once`, status: bisection.status() });
        return;
      }
      record(f, probe, "skip", `${run.note ?? "infrastructure error"} twice; treated as skip`);
      return;
    }
    if (run.verdict === "bad" && notRunnable(run.exitCode) && !goodChecked) {
      // As git >= 2.36: a first 126/127 is re-checked on a good commit before anything is blamed.
      goodChecked = true;
      held = { finished: f, probe };
      start(settings.good[0]!, "good-check");
      return;
    }
    goodChecked ||= run.verdict === "good";
    record(f, probe, run.verdict, run.note);
  };

  const record = (f: Finished, probe: Probe, verdict: TestVerdict, note: string | undefined) => {
    if (bisection.knows(f.running.sha)) bisection.record(f.running.sha, verdict);
    for (const w of bisection.warnings.slice(warningsSeen)) emit({ type: "warning", message: w });
    warningsSeen = bisection.warnings.length;
    emit({ type: "probe-end", sha: f.running.sha, worker: f.worker, probe, ...(note ? { note } : {}), status: bisection.status(pendingShas()) });
  };

  try {
    while (!settings.signal?.aborted && !fatal) {
      if (probeQueue) {
        // Probe mode: exactly the given commits, however the verdicts come out.
        if (!held && probeQueue.length === 0 && retryQueue.length === 0 && running.size === 0) break;
      } else if (!held && bisection.status(pendingShas()).state !== "searching") {
        break;
      }
      if (!held) {
        while (running.size < parallel && retryQueue.length > 0) start(retryQueue.shift()!, "retry");
        const free = parallel - running.size;
        const chosen = probeQueue ? probeQueue.splice(0, free) : bisection.next(free, [...running.values()].map((r) => r.sha));
        for (const sha of chosen) start(sha, bisection.mergeBases.includes(sha) ? "merge-base" : "bisect");
      }
      if (running.size === 0) {
        fatal = "The engine has no probe to run but has not reached a verdict (this is a bug).";
        break;
      }

      if (finished.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      await awaitCompanions(finished[0]!, running, finished);
      for (const f of finished.splice(0)) {
        running.delete(keyOf(f.running));
        apply(f);
      }
      // Stop probes whose verdict no longer matters.
      for (const r of running.values()) {
        if (!probeQueue && r.purpose !== "good-check" && !bisection.isInformative(r.sha)) r.abort.abort();
      }
    }
  } finally {
    settings.signal?.removeEventListener("abort", onAbort);
    running.forEach((r) => r.abort.abort());
    await Promise.allSettled([...running.values()].map((r) => r.done));
  }

  if (settings.signal?.aborted) throw new Error("Interrupted: the bisection was stopped and its worktrees removed.");
  const status = bisection.status();
  return toResultDocument(settings, bisection, status, probes, fatal);
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

function toResultDocument(
  settings: RunnerSettings,
  bisection: Bisection,
  status: BisectStatus,
  probes: Probe[],
  fatal: string | undefined,
): ResultDocument {
  const base = {
    schema: 1 as const,
    ...(settings.jobId !== undefined ? { jobId: settings.jobId } : {}),
    range: { good: [...settings.good], bad: settings.bad, size: bisection.rangeSize },
    probes,
    tested: probes.length,
    rounds: probes.reduce((m, p) => Math.max(m, p.round), 0),
  };
  if (fatal) return { ...base, verdict: "error", candidates: [], error: fatal };
  switch (status.state) {
    case "culprit":
      return { ...base, verdict: "culprit", culprit: { sha: status.sha, confidence: status.confidence }, candidates: [status.sha] };
    case "ambiguous":
      return { ...base, verdict: "ambiguous", candidates: status.candidates };
    case "no-culprit":
      return { ...base, verdict: "no-culprit", candidates: [], error: status.reason };
    case "error":
      return { ...base, verdict: "error", candidates: [], error: status.message };
    case "searching":
      // Probe mode ends before the bisection does: the commits that can still hold the culprit.
      if (settings.probeOnly) return { ...base, verdict: "ambiguous", candidates: bisection.candidates() };
      return { ...base, verdict: "error", candidates: [], error: "The bisection stopped before reaching a verdict." };
  }
}
