import type { Bisection } from "../bisect/index.js";

/** What to test next, and when to stop: bisecting, or (probe mode) exactly the given commits. */
export interface ProbePlan {
  /** Whether the run is over, with `pending` still running and retries waiting or not. */
  isOver(pending: readonly string[], retriesWaiting: boolean): boolean;
  /** Up to `count` commits to test now; `running` are being tested. */
  next(count: number, running: readonly string[]): string[];
  /** Whether a running test may be stopped because its verdict no longer matters. */
  mayStop(sha: string): boolean;
  /** Whether the bisection goes on elsewhere when this run ends (probe mode: the App plans the next round). */
  readonly partial: boolean;
}

/** Bisecting: the engine chooses every probe, and the run ends with its verdict. */
export class BisectPlan implements ProbePlan {
  readonly partial = false;

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
}

/**
 * Probe mode (the App's parallel rounds): exactly the given commits, each once, however the
 * verdicts come out; none is stopped early, and the run ends when every one has its verdict.
 */
export class ProbeListPlan implements ProbePlan {
  readonly partial = true;
  private readonly queue: string[];

  constructor(commits: readonly string[]) {
    this.queue = [...new Set(commits)];
  }

  isOver(pending: readonly string[], retriesWaiting: boolean): boolean {
    return this.queue.length === 0 && !retriesWaiting && pending.length === 0;
  }

  next(count: number): string[] {
    return this.queue.splice(0, Math.max(0, count));
  }

  mayStop(): boolean {
    return false;
  }
}
