import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DATABASE_WAIT_MS, within, type AppMetrics } from "../metrics.js";
import type { JobRow, Store } from "../store/store.js";
import type { Worker } from "../worker/worker.js";

export interface RoutesDeps {
  store: Store;
  worker: () => Worker | undefined;
  workerId: string;
  /** When set, /stats, /job/:id and /metrics need `Authorization: Bearer <token>`; else loopback only. */
  adminToken: string | undefined;
  metrics: AppMetrics;
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): true {
  const text = type === "application/json" ? JSON.stringify(body) : String(body);
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" });
  res.end(text);
  return true;
}

function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? "";
  // A reverse proxy on the same host connects from loopback on behalf of anyone: what it
  // forwards is not local.
  const forwarded = req.headers["x-forwarded-for"] !== undefined || req.headers.forwarded !== undefined || req.headers["x-real-ip"] !== undefined;
  return !forwarded && (address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1");
}

/** Operators' routes show job data (repository names may be private): not for the open internet. */
function authorized(req: IncomingMessage, adminToken: string | undefined): boolean {
  if (adminToken === undefined) return isLoopback(req);
  const given = Buffer.from(req.headers.authorization ?? "");
  const expected = Buffer.from(`Bearer ${adminToken}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The fields of a job an operator may see: state, attempts, run, worker, times, culprit. */
function jobView(job: JobRow) {
  return {
    id: job.id,
    repository: job.repository,
    issue_number: job.issue_number,
    requester: job.requester,
    good: job.good_refs.map((ref, i) => ({ ref, sha: job.good_shas[i] })),
    bad: { ref: job.bad_ref, sha: job.bad_sha },
    state: job.state,
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    run_id: job.run_id,
    run_url: job.run_url,
    worker: job.locked_by,
    lease_expires_at: job.lease_expires_at,
    verdict: job.verdict,
    culprit_sha: job.culprit_sha,
    confidence: job.confidence,
    tested: job.tested,
    rounds: job.rounds,
    reason: job.reason,
    error: job.error,
    cancelled_by: job.cancelled_by,
    created_at: job.created_at,
    started_at: job.started_at,
    updated_at: job.updated_at,
    finished_at: job.finished_at,
  };
}

/** What /health/ready reports: the database answers, and the instance is not draining. */
export interface Readiness {
  ready: boolean;
  database: "reachable" | "unreachable" | "not checked";
  draining: boolean;
}

/**
 * Whether the database answers: a primary-key read of a job that cannot exist (id 0), cheap on
 * any number of rows, through the same store (and pool) the App uses; no answer within
 * `DATABASE_WAIT_MS` counts as unreachable.
 */
export function databaseAnswers(store: Store, timeoutMs = DATABASE_WAIT_MS): Promise<boolean> {
  return within(
    store.call("getJob", { jobId: 0 }).then(() => true),
    timeoutMs,
    false,
  );
}

/** Ready for traffic: not draining (then the database is not asked), and the database answers. */
export async function readiness(deps: Pick<RoutesDeps, "store" | "worker">): Promise<Readiness> {
  if (deps.worker()?.isStopping) return { ready: false, database: "not checked", draining: true };
  const reachable = await databaseAnswers(deps.store);
  return { ready: reachable, database: reachable ? "reachable" : "unreachable", draining: false };
}

/**
 * GET /health/live, /health/ready, /health, /stats, /job/:id, /metrics — as a raw Node handler
 * (Probot's `addHandler`): answers true when it handled the request.
 *
 * - /health/live: the process answers and its worker loop goes round (a failing database does
 *   not make it fail: restarting the process would not help); draining counts as alive.
 * - /health/ready: the database answers and the instance is not draining (503 otherwise, saying which).
 * - /health: both, as a load balancer's single check (its body kept from before the split).
 */
export function routes(deps: RoutesDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/health/live") {
      const worker = deps.worker();
      if (worker?.isStopping) return send(res, 200, { status: "ok", worker: "stopping" });
      if (!worker?.looping) return send(res, 503, { status: "unavailable", worker: worker?.started ? "stuck" : "not running" });
      return send(res, 200, { status: "ok", worker: "running" });
    }
    if (path === "/health/ready") {
      const state = await readiness(deps);
      return send(res, state.ready ? 200 : 503, { status: state.ready ? "ok" : "unavailable", database: state.database, draining: state.draining });
    }
    if (path === "/health") {
      const worker = deps.worker();
      if (!worker || !worker.alive)
        return send(res, 503, { status: "unavailable", database: "unknown", worker: worker?.isStopping ? "stopping" : "not running" });
      if (!(await databaseAnswers(deps.store))) return send(res, 503, { status: "unavailable", database: "unreachable", worker: "running" });
      return send(res, 200, { status: "ok", database: "reachable", worker: "running" });
    }
    const job = /^\/job\/(\d{1,15})$/.exec(path);
    if (path !== "/stats" && path !== "/metrics" && !job && !path.startsWith("/job/")) return false;
    if (!authorized(req, deps.adminToken))
      return send(res, 401, { error: "Set ADMIN_TOKEN and send it as 'Authorization: Bearer <token>' (without it, only loopback requests are answered)." });
    if (path === "/stats") {
      const s = await deps.store.call("stats", { worker: deps.workerId });
      return send(res, 200, {
        pending: s.pending,
        running: s.running,
        completed: s.completed,
        failed: s.failed,
        cancelled: s.cancelled,
        running_on_this_instance: s.running_on_this_instance,
      });
    }
    if (path === "/metrics") return sendMetrics(res, deps.metrics);
    if (!job) return send(res, 404, { error: "Expected /job/<numeric id>." });
    const row = await deps.store.call("getJob", { jobId: Number(job[1]) });
    if (!row) return send(res, 404, { error: `No job ${job[1]}.` });
    return send(res, 200, jobView(row));
  };
}

/** Answers a scrape: Prometheus' text format. */
export async function sendMetrics(res: ServerResponse, metrics: AppMetrics): Promise<true> {
  const { contentType, body } = await metrics.scrape();
  res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
  return true;
}

/**
 * The metrics listener (METRICS_PORT): GET /metrics only, without the admin token, for Prometheus
 * to scrape at the pod's address. It shows no job data: no label holds a repository or user name.
 */
export function metricsOnly(metrics: AppMetrics) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/metrics") {
      send(res, 404, { error: "This port serves GET /metrics only." });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, { error: "GET /metrics." });
      return;
    }
    await sendMetrics(res, metrics);
  };
}
