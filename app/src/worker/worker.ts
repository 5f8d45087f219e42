import type { Logger } from "probot";
import { dispatchJob } from "./dispatch-job.js";
import { announceJob } from "./announce-job.js";
import { postReply } from "./post-reply.js";
import { processCommand } from "./process-command.js";
import { checkRun } from "./check-run.js";
import type { Octokit } from "../github/octokit.js";
import type { Settings } from "../settings.js";
import type { ClaimedJob, Store } from "../store/store.js";

export interface WorkerDeps {
  store: Store;
  settings: Settings;
  workerId: string;
  /** An installation's Octokit; tokens are fetched (and refreshed) per use. */
  octokitFor(installationId: number): Promise<Octokit>;
  log: Logger;
}

/** How long SIGTERM waits for in-flight GitHub calls before giving the leases back. */
export const DRAIN_MS = 10_000;

/**
 * The loop every instance runs: claim due work from the store (commands to check and turn into
 * jobs or replies, replies to post, queued jobs to announce, jobs to dispatch or check on) and do the GitHub side of it. All state lives in the
 * store; a claim's lease and fencing token make sure only one instance acts on a job at a time,
 * and a dead instance's work is taken over when its lease expires.
 */
export class Worker {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Map<string, { promise: Promise<void>; job?: ClaimedJob }>();
  private stopping = false;
  private lastTickAt = 0;
  private ticking: Promise<void> | undefined;
  /** Counters for /metrics. */
  readonly counters = { ticks: 0, claims: 0, commands: 0, dispatches: 0, results: 0, repliesPosted: 0, announcements: 0, errors: 0 };

  constructor(private readonly deps: WorkerDeps) {}

  start(): void {
    const loop = async () => {
      if (this.stopping) return;
      this.ticking = this.tick().catch((error) => {
        this.counters.errors++;
        this.deps.log.error({ err: error }, "worker tick failed");
      });
      await this.ticking;
      if (!this.stopping) this.timer = setTimeout(loop, this.deps.settings.WORKER_POLL_MS);
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Alive: not stopping, and a tick ended recently (a stuck loop or database fails this). */
  get alive(): boolean {
    return !this.stopping && Date.now() - this.lastTickAt < Math.max(30_000, 3 * this.deps.settings.WORKER_POLL_MS);
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Jobs and replies this instance is working on right now. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** One pass: claims as much due work as there is room for and starts it. */
  async tick(): Promise<void> {
    const { store, settings, workerId } = this.deps;
    const room = () => settings.WORKER_CONCURRENCY - this.inflight.size;
    // Commands get at most half the room, so a burst of comments never starves the jobs already
    // accepted (they are claimed last, with what is left).
    if (room() > 0 && !this.stopping) {
      for (const command of await store.claimCommands(workerId, Math.max(1, Math.floor(room() / 2)), settings.LEASE_SECONDS)) {
        this.track(`command:${command.id}`, processCommand(command, this.deps).then((handled) => void (handled && this.counters.commands++)));
      }
    }
    if (room() > 0) {
      for (const reply of await store.claimReplies(workerId, room(), settings.LEASE_SECONDS)) {
        this.track(`reply:${reply.id}`, postReply(reply, this.deps).then((posted) => void (posted && this.counters.repliesPosted++)));
      }
    }
    if (room() > 0 && !this.stopping) {
      for (const claimed of await store.claimAnnouncements(workerId, room(), settings.LEASE_SECONDS, settings.MAX_CONCURRENT_JOBS)) {
        this.track(`job:${claimed.job.id}`, announceJob(claimed, this.deps).then(() => void this.counters.announcements++), claimed);
      }
    }
    if (room() > 0 && !this.stopping) {
      for (const claimed of await store.claimJobs(workerId, room(), settings.LEASE_SECONDS, settings.MAX_CONCURRENT_JOBS)) {
        this.track(`job:${claimed.job.id}`, this.work(claimed), claimed);
      }
    }
    this.counters.ticks++;
    this.lastTickAt = Date.now();
  }

  private async work(claimed: ClaimedJob): Promise<void> {
    const { store } = this.deps;
    switch (claimed.job.state) {
      case "dispatching":
        if (await dispatchJob(claimed, this.deps)) this.counters.dispatches++;
        return;
      case "dispatched":
      case "running":
        // Due because a workflow_run webhook said the run completed, or because it has been
        // quiet too long (the reconciler's look): either way, check and act.
        if ((await checkRun(claimed, this.deps)) === "result") this.counters.results++;
        return;
      default:
        await store.releaseJob(claimed.job.id, claimed.token);
    }
  }

  private track(key: string, promise: Promise<unknown>, job?: ClaimedJob): void {
    this.counters.claims++;
    // While a job's task runs (GitHub calls can wait out a rate limit), its lease is kept alive,
    // so no other worker takes the job over and dispatches a second run meanwhile.
    const { store, settings } = this.deps;
    const keeper = job
      ? setInterval(() => void store.extendLease(job.job.id, job.token, settings.LEASE_SECONDS).catch(() => false), (settings.LEASE_SECONDS * 1000) / 3)
      : undefined;
    keeper?.unref();
    const tracked = promise
      .then(() => undefined)
      .catch((error) => {
        this.counters.errors++;
        this.deps.log.error({ err: error, key }, "worker task failed");
      })
      .finally(() => {
        if (keeper) clearInterval(keeper);
        this.inflight.delete(key);
      });
    this.inflight.set(key, job ? { promise: tracked, job } : { promise: tracked });
  }

  /** Waits until nothing is in flight (for tests and shutdown). */
  async idle(): Promise<void> {
    await this.ticking;
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()].map((t) => t.promise));
  }

  /**
   * Graceful shutdown: stop claiming at once, let in-flight GitHub calls finish within
   * `drainMs`, then give back the leases of jobs still held (not counted as an attempt).
   */
  async stop(drainMs = DRAIN_MS): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const drained = Promise.all([this.ticking, ...[...this.inflight.values()].map((t) => t.promise)]);
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    await Promise.all(
      [...this.inflight.values()].flatMap((t) => (t.job ? [this.deps.store.releaseJob(t.job.job.id, t.job.token).catch(() => false)] : [])),
    );
  }
}
