/**
 * An infrastructure error (exit 128 or more, a signal, a step timeout) says nothing about the
 * commit: the commit is tested once more, and a second error counts it as skipped, never as bad.
 *
 * @example
 * const retry = new InfrastructureRetry();
 * retry.onError("c3"); // "retry": c3 waits for a free worktree
 * retry.take();        // "c3"
 * retry.onError("c3"); // "skip"
 */
export class InfrastructureRetry {
  /** Commits that have had their one retry. */
  private readonly retried = new Set<string>();
  /** Retries waiting for a free worktree, oldest first. */
  private readonly waiting: string[] = [];

  /** After an infrastructure error on `sha`: `retry` the first time (it waits in line), `skip` after that. */
  onError(sha: string): "retry" | "skip" {
    if (this.retried.has(sha)) return "skip";
    this.retried.add(sha);
    this.waiting.push(sha);
    return "retry";
  }

  /** Whether a retry is waiting to start. */
  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** The oldest waiting retry, now started; undefined when none waits. */
  take(): string | undefined {
    return this.waiting.shift();
  }
}
