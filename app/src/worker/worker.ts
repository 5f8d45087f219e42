import type { Logger } from "probot";
import type { Octokit } from "../github/octokit.js";
import type { AppMetrics } from "../metrics.js";
import type { Settings } from "../settings.js";
import { POOL_TIMEOUTS } from "../store/sql-client.js";
import type { ClaimedJob, ClaimedTask, Store } from "../store/store.js";
import { runJob } from "./run-job.js";
import { runTask } from "./run-task.js";

export interface WorkerDeps {
  store: Store;
  settings: Settings;
  workerId: string;
  /** An installation's Octokit; tokens are fetched (and refreshed) per use. Its request log lines go to `log` when given. */
  octokitFor(installationId: number, log?: Logger): Promise<Octokit>;
  /** Bound per item to its job, task, delivery and repository (see WorkKind.logFields). */
  log: Logger;
  /** Where the worker reports dispatch latency and job durations (absent in tests that drive pieces by hand). */
  metrics?: AppMetrics | undefined;
}

/**
 * A loop whose tick has not ended for this long is stuck (liveness fails). A tick's two claims
 * each end within the pool's query time-out even when the database does not answer, so a database
 * outage alone never makes the process look dead (restarting it would not help).
 */
const LOOP_STALL_MS = 2 * POOL_TIMEOUTS.queryTimeoutMs + 10_000;

/** Passes the loop makes because of wakes are at least this far apart. */
const WAKE_GAP_MS = 10;

/** How long SIGTERM waits for in-flight GitHub calls before giving the leases back. */
export const DRAIN_MS = 10_000;

/** Something a claim leased: its key for logs, and the fencing token it holds. */
interface Leased {
  id: number;
  token: number;
}

/** One kind of work the loop claims: how much of the room it may take, how to claim it, how to do it. */
interface WorkKind<T extends Leased> {
  name: string;
  /** The share of the free room it may claim in one tick (at least one item). */
  share: number;
  claim(deps: WorkerDeps, limit: number): Promise<T[]>;
  run(item: T, deps: WorkerDeps): Promise<void>;
  /** What every log line about the item carries: its id, its job, its delivery, its repository. */
  logFields(item: T): Record<string, string | number>;
  /** Whether its end may have queued more work (a task turns a command into a job or a reply): the loop looks at once. */
  wakesOnEnd: boolean;
}

const tasks: WorkKind<ClaimedTask> = {
  name: "task",
  // Tasks (mostly comments arriving) get at most half the room, so a burst of comments never
  // starves the jobs already accepted, which are claimed next with what is left.
  share: 0.5,
  claim: ({ store, settings, workerId }, limit) => store.call("claimTasks", { worker: workerId, limit, leaseSeconds: settings.LEASE_SECONDS }),
  run: runTask,
  wakesOnEnd: true,
  logFields: (task) => ({
    task: task.id,
    kind: task.kind,
    repository: task.repository,
    ...(task.delivery_id === null ? {} : { delivery: task.delivery_id }),
    ...(task.job_id === null ? {} : { job: task.job_id }),
  }),
};

const jobs: WorkKind<ClaimedJob> = {
  name: "job",
  share: 1,
  claim: ({ store, settings, workerId }, limit) =>
    store.call("claimJobs", { worker: workerId, limit, leaseSeconds: settings.LEASE_SECONDS, maxActive: settings.MAX_CONCURRENT_JOBS }),
  run: runJob,
  wakesOnEnd: false,
  logFields: (job) => ({ job: job.id, repository: job.repository, delivery: job.delivery_id }),
};

/**
 * The loop every instance runs: claim due work from the store — tasks (commands to check and
 * turn into jobs or replies, replies to post, queued jobs to announce) and jobs (to dispatch or
 * check on) — and do the GitHub side of it. All state lives in the store; a claim's lease and
 * fencing token make sure only one instance acts on anything at a time, the lease is kept alive
 * while the work runs, and a dead instance's work is taken over when its lease expires.
 */
export class Worker {
  private timer: NodeJS.Timeout | undefined;
  private readonly inflight = new Map<string, { promise: Promise<void>; token: number; keeper: NodeJS.Timeout }>();
  private stopping = false;
  private lastTickAt = 0;
  /** When a tick last ended, well or not (the loop goes round even while the database is down). */
  private lastLoopAt = 0;
  private running = false;
  private ticking: Promise<void> | undefined;
  /** When the planned pass is due (ms since the epoch), while `timer` is set. */
  private timerAt = 0;
  private lastPassAt = 0;
  /** A wake came during a pass: another pass follows it. */
  private wanted = false;
  /** Kinds whose last claim took all the room it was given: there may be more waiting. */
  private readonly saturated = new Set<string>();
  /** Counters for /metrics. */
  readonly counters = { ticks: 0, claims: 0, errors: 0 };

  constructor(private readonly deps: WorkerDeps) {}

  start(): void {
    this.running = true;
    this.lastLoopAt = Date.now();
    this.schedule(0);
  }

  /**
   * Something may be due now (a command was stored here, a task ended and may have queued a job or
   * a reply, room freed up after a claim that took all it could): the next pass comes at once
   * instead of after WORKER_POLL_MS. Wakes that come while a pass runs make one more pass after
   * it; passes are at least WAKE_GAP_MS apart, so a burst of wakes costs one pass, not one each.
   */
  wake(): void {
    if (!this.running || this.stopping) return;
    if (this.ticking) {
      this.wanted = true;
      return;
    }
    this.schedule(Math.max(0, this.lastPassAt + WAKE_GAP_MS - Date.now()));
  }

  /** The next pass in `ms` (sooner than one already planned, never a second one). */
  private schedule(ms: number): void {
    const at = Date.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.pass(), ms);
  }

  private async pass(): Promise<void> {
    this.timer = undefined;
    if (this.stopping) return;
    this.wanted = false;
    this.lastPassAt = Date.now();
    this.ticking = this.tick().catch((error: unknown) => {
      this.counters.errors++;
      this.deps.log.error({ err: error }, "worker tick failed");
    });
    await this.ticking;
    this.ticking = undefined;
    this.lastLoopAt = Date.now();
    if (this.stopping) return;
    this.schedule(this.wanted ? Math.max(0, this.lastPassAt + WAKE_GAP_MS - Date.now()) : this.deps.settings.WORKER_POLL_MS);
  }

  /** Alive: not stopping, and a tick ended recently (a stuck loop or database fails this). */
  get alive(): boolean {
    return !this.stopping && Date.now() - this.lastTickAt < Math.max(30_000, 3 * this.deps.settings.WORKER_POLL_MS);
  }

  /** Whether the loop was started (tests may drive ticks by hand instead). */
  get started(): boolean {
    return this.running;
  }

  /**
   * Live: the loop goes round — a tick ended, well or not, recently (a hung tick fails this; a
   * database that refuses does not: restarting the process would not bring it back). A loop driven
   * by hand counts when a tick succeeded recently.
   */
  get looping(): boolean {
    return Date.now() - Math.max(this.lastLoopAt, this.lastTickAt) < Math.max(LOOP_STALL_MS, 3 * this.deps.settings.WORKER_POLL_MS);
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Tasks and jobs this instance is working on right now. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** One pass: claims as much due work as there is room for, kind by kind, and starts it. */
  async tick(): Promise<void> {
    await this.claimAndStart(tasks);
    await this.claimAndStart(jobs);
    this.counters.ticks++;
    this.lastTickAt = Date.now();
  }

  private async claimAndStart<T extends Leased>(kind: WorkKind<T>): Promise<void> {
    const room = this.deps.settings.WORKER_CONCURRENCY - this.inflight.size;
    if (room <= 0 || this.stopping) return;
    const limit = Math.max(1, Math.floor(room * kind.share));
    const claimed = await kind.claim(this.deps, limit);
    if (claimed.length >= limit) this.saturated.add(kind.name);
    else this.saturated.delete(kind.name);
    for (const item of claimed) {
      // Every line about the item carries its ids and repository, whoever writes it.
      const log = this.deps.log.child(kind.logFields(item));
      const octokitFor = (installationId: number) => this.deps.octokitFor(installationId, log);
      this.track(`${kind.name}:${item.id}`, item.token, log, kind.run(item, { ...this.deps, log, octokitFor }), kind.wakesOnEnd);
    }
  }

  private track(key: string, token: number, log: Logger, work: Promise<void>, wakesOnEnd: boolean): void {
    this.counters.claims++;
    // While the work runs (GitHub calls can wait out a rate limit), its lease is kept alive, so no
    // other worker takes it over and does it a second time meanwhile.
    const { store, settings } = this.deps;
    const keeper = setInterval(
      () => {
        store
          .call("extendLease", { token, leaseSeconds: settings.LEASE_SECONDS })
          .catch((error: unknown) => log.warn({ err: error }, "could not extend a lease"));
      },
      (settings.LEASE_SECONDS * 1000) / 3,
    );
    keeper.unref();
    const promise = work
      .catch((error: unknown) => {
        this.counters.errors++;
        log.error({ err: error }, "worker task failed");
      })
      .finally(() => {
        clearInterval(keeper);
        this.inflight.delete(key);
        // Its slot is free: work that did not fit the last claim, or that this one queued, goes now.
        if (wakesOnEnd || this.saturated.size > 0) this.wake();
      });
    this.inflight.set(key, { promise, token, keeper });
  }

  /** Waits until nothing is in flight (for tests and shutdown). */
  async idle(): Promise<void> {
    await this.ticking;
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()].map((t) => t.promise));
  }

  /**
   * Graceful shutdown: stop claiming at once, let in-flight GitHub calls finish within
   * `drainMs`, then give back the leases of whatever is still held (not counted as an attempt).
   */
  async stop(drainMs = DRAIN_MS): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const drained = Promise.all([this.ticking, ...[...this.inflight.values()].map((t) => t.promise)]);
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    // What is still running gives up its lease: its keeper stops, and the lease goes back.
    for (const t of this.inflight.values()) clearInterval(t.keeper);
    await Promise.all([...this.inflight.values()].map((t) => this.deps.store.call("releaseLease", { token: t.token }).catch(() => false)));
  }
}
