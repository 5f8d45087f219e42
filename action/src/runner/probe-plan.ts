import type { Bisection, BisectStatus, TestVerdict } from "../bisect/index.js";

/**
 * What to test next, when to stop, and where the verdicts go: bisecting (the engine), or probe
 * mode (exactly the given commits, with no history to bisect).
 */
export interface ProbePlan {
  /** Whether the run is over, with `pending` still running and retries waiting or not. */
  isOver(pending: readonly string[], retriesWaiting: boolean): boolean;
  /** Up to `count` commits to test now; `running` are being tested. */
  next(count: number, running: readonly string[]): string[];
  /** Whether a running test may be stopped because its verdict no longer matters. */
  mayStop(sha: string): boolean;
  /** Whether `sha` is a merge base that git checks before bisecting (it is reported as such). */
  isMergeBase(sha: string): boolean;
  /** Takes a commit's verdict (a test's, or skip after infrastructure errors). */
  record(sha: string, verdict: TestVerdict): void;
  /** Where the run stands, with `pending` still running. */
  status(pending?: readonly string[]): BisectStatus;
  /** Warnings the verdicts raised so far (contradictions…), oldest first. */
  readonly warnings: readonly string[];
}

/** Bisecting: the engine chooses every probe, takes every verdict, and the run ends with its verdict. */
export class BisectPlan implements ProbePlan {
  constructor(private readonly bisection: Bisection) {}

  isOver(pending: readonly string[]): boolean {
    return this.bisection.status(pending).state !== "searching";
  }

  next(count: number, running: readonly string[]): string[] {
    return this.bisection.next(count, running);
  }

  mayStop(sha: string): boolean {
    return !this.bisection.isInformative(sha);
  }

  isMergeBase(sha: string): boolean {
    return this.bisection.mergeBases.includes(sha);
  }

  record(sha: string, verdict: TestVerdict): void {
    if (this.bisection.knows(sha)) this.bisection.record(sha, verdict);
  }

  status(pending: readonly string[] = []): BisectStatus {
    return this.bisection.status(pending);
  }

  get warnings(): readonly string[] {
    return this.bisection.warnings;
  }
}

/**
 * Probe mode (the App's parallel rounds): exactly the given commits, each once, however the
 * verdicts come out; none is stopped early, and the run ends when every one has its verdict.
 * It knows nothing of the range (a fan-out runner's clone holds only the commit it tests): the
 * verdicts only go into the result document, and the App plans the next round from them. Its
 * status is always `searching`, with no candidates counted.
 */
export class ProbeListPlan implements ProbePlan {
  readonly warnings: readonly string[] = [];
  protected readonly queue: string[];

  constructor(commits: readonly string[]) {
    this.queue = [...new Set(commits)];
  }

  isOver(pending: readonly string[], retriesWaiting: boolean): boolean {
    return this.queue.length === 0 && !retriesWaiting && pending.length === 0;
  }

  next(count: number, _running: readonly string[] = []): string[] {
    return this.queue.splice(0, Math.max(0, count));
  }

  mayStop(): boolean {
    return false;
  }

  isMergeBase(): boolean {
    return false;
  }

  record(): void {
    // The verdict is in the result's probes; the App decides what it means for the range.
  }

  /** Always searching: `estimatedTests` is the commits not tested yet, `candidates` is not counted (0). */
  status(pending: readonly string[] = []): Extract<BisectStatus, { state: "searching" }> {
    return { state: "searching", candidates: 0, estimatedTests: this.queue.length + pending.length };
  }
}

/**
 * Confirmation (`--confirm n`): after the search, the culprit and its parents, each `runs` times.
 * As probe mode (nothing stopped early, the verdicts only go into the result's probes and its
 * `confirmation`), but a commit comes back `runs` times, and is never tested twice at once.
 */
export class ConfirmPlan extends ProbeListPlan {
  constructor(commits: readonly string[], runs: number) {
    super([]);
    this.queue.push(...Array.from({ length: runs }, () => [...new Set(commits)]).flat());
  }

  override next(count: number, running: readonly string[]): string[] {
    const taken: string[] = [];
    for (let i = 0; i < this.queue.length && taken.length < count;) {
      const sha = this.queue[i]!;
      if (running.includes(sha) || taken.includes(sha)) {
        i++;
        continue;
      }
      taken.push(sha);
      this.queue.splice(i, 1);
    }
    return taken;
  }
}
