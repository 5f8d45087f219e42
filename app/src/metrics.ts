import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import { rateLimitHeaders } from "./github/budget.js";
import { httpStatus, type Octokit } from "./github/octokit.js";
import type { JobRow, Store } from "./store/store.js";
import type { ResultOf } from "./store/store.js";

/**
 * How long the instance that exports the cluster-wide metrics stays the one, without being scraped
 * again. Longer than any sane scrape interval (Prometheus' default is 1 min), so the reporter does
 * not move between instances while they are all scraped; short enough that when it dies another
 * instance takes over within two minutes.
 */
export const REPORTER_LEASE_SECONDS = 120;

/**
 * How long a scrape waits for the database (Prometheus gives a scrape 10 s by default): past it,
 * the cluster's numbers are left out of this scrape, and the reporter lease is not renewed.
 */
export const DATABASE_WAIT_MS = 2_000;

/** The promise's value, or `fallback` when it fails or takes longer than `ms`. */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Webhook acknowledgement buckets: GitHub waits 10 s, and the App answers in milliseconds. */
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Comment to dispatch: seconds under load, minutes while a repository's slots are full. */
const DISPATCH_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 600, 1800];
/** A bisect: minutes to hours (the time limit is 1 min to 6 h). */
const DURATION_BUCKETS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400, 21_600, 43_200];

/** The X-GitHub-Event names a label may hold: GitHub's are lower-case words; anything else is "unknown". */
const EVENT_NAME = /^[a-z_]{1,64}$/;

/** The request options the GitHub counter reads: the route template, never the filled URL. */
const requestOptionsSchema = z.object({ method: z.string(), url: z.string() });

/**
 * A request's route as a label: the template the App called (`POST /repos/{owner}/{repo}/…`).
 * A URL that came filled in (a full URL, or a path without placeholders) has its owner, repository
 * and ids replaced, so no label ever holds a repository or user name.
 */
export function routeLabel(options: unknown): string {
  const parsed = requestOptionsSchema.safeParse(options);
  if (!parsed.success) return "unknown";
  const { method, url } = parsed.data;
  let path = url;
  if (/^https?:\/\//.test(path)) {
    try {
      // GitHub Enterprise Server: REST under /api/v3, GraphQL at /api/graphql.
      path = new URL(path).pathname.replace(/^\/api\/v3(?=\/)/, "").replace(/^\/api\/graphql$/, "/graphql");
    } catch {
      return `${method} unknown`;
    }
  }
  path = path.split("?")[0] ?? path;
  path = path
    .replace(/^\/repos\/[^/{}]+\/[^/{}]+/, "/repos/{owner}/{repo}")
    .replace(/^\/(users|orgs)\/[^/{}]+/, "/$1/{name}")
    .replace(/\/\d+(?=\/|$)/g, "/{id}");
  return `${method} ${path}`;
}

/** Where the metrics of the cluster come from, and what the instance knows of itself. */
export interface MetricsDeps {
  store: Store;
  workerId: string;
  /** Ready for traffic: the database answers and the instance is not draining. */
  ready(): Promise<boolean>;
  /** The worker loop's counters (ticks, claims, errors), while there is a worker. */
  workerEvents(): Record<string, number>;
}

type Snapshot = ResultOf<"metricsSnapshot">;

/**
 * The App's Prometheus metrics, on a registry of its own (several servers share a test process):
 * process metrics, the webhook acknowledgement, GitHub requests and rate limits, jobs' latency and
 * duration, the pool, and the cluster-wide numbers (queue depth, jobs by state, jobs overdue) that
 * only the instance holding the reporter lease exports.
 *
 * @example
 * const metrics = new AppMetrics({ store, workerId, ready: async () => true, workerEvents: () => ({}) });
 * const octokit = metrics.instrument(await app.auth(installationId), installationId);
 * const { contentType, body } = await metrics.scrape();
 */
export class AppMetrics {
  readonly registry = new Registry();
  private readonly webhookAck: Histogram<"event" | "status">;
  private readonly githubRequests: Counter<"route" | "status">;
  private readonly rateLimitRemaining: Gauge<"installation">;
  private readonly commentToDispatch: Histogram;
  private readonly jobDuration: Histogram<"state">;
  /** The snapshot of the scrape under way: the three cluster gauges read it once. */
  private snapshotting: Promise<Snapshot | null> | undefined;

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.webhookAck = new Histogram({
      name: "bisect_webhook_ack_seconds",
      help: "Time from a webhook request's arrival to the App's answer, by event (X-GitHub-Event; invalid: bad signature; unknown: refused before it was read or without a name) and HTTP status.",
      labelNames: ["event", "status"],
      buckets: ACK_BUCKETS,
      registers,
    });
    this.githubRequests = new Counter({
      name: "bisect_github_requests_total",
      help: "Requests this instance made to GitHub (REST and GraphQL), by route template and HTTP status (error: no answer).",
      labelNames: ["route", "status"],
      registers,
    });
    this.rateLimitRemaining = new Gauge({
      name: "bisect_github_rate_limit_remaining",
      help: "Requests left in the installation's hourly quota, as GitHub's last answer to this instance said (x-ratelimit-remaining).",
      labelNames: ["installation"],
      registers,
    });
    this.commentToDispatch = new Histogram({
      name: "bisect_comment_to_dispatch_seconds",
      help: "Time from a job's creation (its /bisect comment accepted) to its first workflow run recorded, for jobs this instance dispatched.",
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.jobDuration = new Histogram({
      name: "bisect_job_duration_seconds",
      help: "Time from a job's creation to its end, by the state it ended in, for jobs this instance ended.",
      labelNames: ["state"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    const { store } = deps;
    new Gauge({
      name: "bisect_db_pool_connections",
      help: "This instance's database connections: total open, idle among them, and callers waiting for one (absent without a pool: PGlite, Supabase's API).",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        const pool = store.poolStats();
        if (pool === null) return;
        this.set({ state: "total" }, pool.total);
        this.set({ state: "idle" }, pool.idle);
        this.set({ state: "waiting" }, pool.waiting);
      },
    });
    new Gauge({
      name: "bisect_ready",
      help: "1 when this instance is ready for traffic (the database answers, not draining), else 0.",
      registers,
      collect: async function (this: Gauge) {
        this.set((await deps.ready().catch(() => false)) ? 1 : 0);
      },
    });
    new Counter({
      name: "bisect_worker_events_total",
      help: "This instance's worker loop: ticks, claims (tasks and jobs taken) and errors.",
      labelNames: ["event"],
      registers,
      collect() {
        this.reset();
        for (const [event, count] of Object.entries(deps.workerEvents())) this.inc({ event }, count);
      },
    });
    const snapshot = () => this.snapshot();
    /** A cluster gauge with one label: its series from the scrape's snapshot, none when this instance is not the reporter. */
    const clusterGauge = (name: string, help: string, label: string, pick: (s: Snapshot) => Record<string, number | null>) =>
      new Gauge<string>({
        name,
        help,
        labelNames: [label],
        registers,
        collect: async function (this: Gauge<string>) {
          const s = await snapshot();
          this.reset();
          if (s === null) return;
          for (const [value, n] of Object.entries(pick(s))) if (n !== null) this.set({ [label]: value }, n);
        },
      });
    clusterGauge(
      "bisect_queue_depth",
      "Work waiting for a worker, cluster-wide: due tasks per kind (command, reply, announce) and jobs waiting to be dispatched (dispatch). Exported by one instance at a time.",
      "queue",
      (s) => ({ command: s.command_tasks, reply: s.reply_tasks, announce: s.announce_tasks, dispatch: s.queued_jobs }),
    );
    clusterGauge(
      "bisect_jobs",
      "Unfinished jobs by state (queued, dispatching, dispatched, running), cluster-wide. Exported by one instance at a time.",
      "state",
      (s) => ({ queued: s.queued_jobs, dispatching: s.dispatching_jobs, dispatched: s.dispatched_jobs, running: s.running_jobs }),
    );
    new Gauge({
      name: "bisect_jobs_overdue",
      help: "Dispatched or running jobs whose run is past the job's time limit, cluster-wide (the worker should have ended them). Exported by one instance at a time.",
      registers,
      collect: async function (this: Gauge) {
        const s = await snapshot();
        if (s !== null && s.overdue_jobs !== null) this.set(s.overdue_jobs);
        else this.remove();
      },
    });
  }

  /** The text Prometheus reads, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** A webhook request was answered `status` after `seconds`. */
  observeWebhookAck(event: string, status: number, seconds: number): void {
    this.webhookAck.observe({ event: event === "invalid" || EVENT_NAME.test(event) ? event : "unknown", status: String(status) }, seconds);
  }

  /**
   * Counts every request the Octokit makes (route template and status) and keeps the installation's
   * rate limit left. Added before the cluster's budget wraps it, so a request the budget holds back
   * (never sent) is not counted; retries of Probot's Octokit are inside, so a request counts once.
   */
  instrument(octokit: Octokit, installationId: number | null): Octokit {
    const installation = installationId === null ? "app" : String(installationId);
    const note = (options: unknown, status: string, headersOrError: unknown) => {
      this.githubRequests.inc({ route: routeLabel(options), status });
      const { remaining } = rateLimitHeaders(headersOrError);
      if (remaining !== undefined) this.rateLimitRemaining.set({ installation }, remaining);
    };
    octokit.hook.after("request", (response, options) => note(options, String(response.status), response.headers));
    octokit.hook.error("request", (error, options) => {
      note(options, String(httpStatus(error) ?? "error"), error);
      throw error;
    });
    return octokit;
  }

  /** A job's first run was recorded: the time since the job was created. */
  observeDispatch(job: Pick<JobRow, "created_at" | "attempts">, now = Date.now()): void {
    if (job.attempts !== 1) return;
    this.commentToDispatch.observe(Math.max(0, (now - job.created_at.getTime()) / 1000));
  }

  /** This instance ended a job in `state`: the time since it was created. */
  observeJobEnd(job: Pick<JobRow, "created_at">, state: string, now = Date.now()): void {
    this.jobDuration.observe({ state }, Math.max(0, (now - job.created_at.getTime()) / 1000));
  }

  /** Gives up the reporter lease (shutting down): the next instance scraped reports at once. */
  async releaseReporter(): Promise<void> {
    await this.deps.store.call("releaseMetricsReporter", { worker: this.deps.workerId });
  }

  /**
   * One snapshot per scrape, shared by the gauges that read it: null when another instance is the
   * reporter, or when the database did not answer (the series are then absent, never a false 0).
   */
  private snapshot(): Promise<Snapshot | null> {
    this.snapshotting ??= within(
      this.deps.store.call("metricsSnapshot", { worker: this.deps.workerId, leaseSeconds: REPORTER_LEASE_SECONDS }),
      DATABASE_WAIT_MS,
      null,
    )
      .then((s) => (s?.reporter ? s : null))
      .finally(() => {
        this.snapshotting = undefined;
      });
    return this.snapshotting;
  }
}
