/**
 * What Prometheus and a load balancer see of the App: the metrics listener (METRICS_PORT) after a
 * real webhook and a real bisect dispatched against the GitHub double, on PostgreSQL, with two
 * instances sharing the database; and /health/live and /health/ready while an instance drains and
 * while its database stops answering.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routeLabel } from "../../app/src/metrics.js";
import { startServer, type RunningServer } from "../../app/src/server.js";
import { pgClient } from "../../app/src/store/sql-client.js";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store } from "../../app/src/store/store.js";
import { FastRetryOctokit, INSTALLATION_ID, OWNER, REPO, startHarness, type Harness } from "../support/app-harness.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

/** A port nobody listens on now (the system's choice, given back at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (address !== null && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** One sample of Prometheus' text format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, samples: parseMetrics(text) };
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

describe("routeLabel", () => {
  it("keeps route templates, and blanks owner, repository and ids out of a URL that came filled in", () => {
    const route = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
    expect(routeLabel({ method: "POST", url: "/repos/{owner}/{repo}/issues/{issue_number}/comments" })).toBe(route);
    expect(routeLabel({ method: "GET", url: "https://ghe.example.com/api/v3/repos/octo-org/widgets/actions/runs/123/artifacts?per_page=10" })).toBe(
      "GET /repos/{owner}/{repo}/actions/runs/{id}/artifacts",
    );
    expect(routeLabel({ method: "POST", url: "https://ghe.example.com/api/graphql" })).toBe("POST /graphql");
    expect(routeLabel({ method: "GET", url: "/users/octocat" })).toBe("GET /users/{name}");
    expect(routeLabel("not options")).toBe("unknown");
  });
});

let h: Harness;
let second: RunningServer;
let secondStore: Store;

beforeAll(async () => {
  h = await startHarness({ backend: "postgres", env: { METRICS_PORT: String(await freePort()) } });
  // A second instance of the cluster, on the same database through its own pool.
  secondStore = new Store(sqlTransport(pgClient(h.db.url!, { max: 2 })));
  second = await startServer({ ...h.env, METRICS_PORT: String(await freePort()) }, { store: secondStore, startWorker: false, Octokit: FastRetryOctokit });
});

afterAll(async () => {
  await second?.close();
  await secondStore?.close();
  await h?.close();
});

describe("the metrics listener after a webhook and a dispatch", () => {
  let samples: Sample[];
  let text: string;

  beforeAll(async () => {
    // GitHub answers one request with an error and its quota left (as it does on every answer).
    h.double.failNext("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", 422, 1, { "x-ratelimit-remaining": "4321" });
    const delivered = await h.comment("/bisect v1.0..main -- npm test");
    expect(delivered.status).toBe(200);
    await h.settle();
    const job = await h.store.call("latestJob", { repositoryId: 5_000_000_101, issueNumber: 42 });
    expect(job).toMatchObject({ state: "dispatched" });
    ({ text, samples } = await scrape(h.server.metricsUrl!));
  });

  it("counts the webhook's acknowledgement by event and status", () => {
    expect(find(samples, "bisect_webhook_ack_seconds_count", { event: "issue_comment", status: "200" })).toEqual([expect.objectContaining({ value: 1 })]);
    // Fine buckets under 100 ms: the ack of a stored delivery is a few milliseconds.
    const buckets = find(samples, "bisect_webhook_ack_seconds_bucket", { event: "issue_comment" }).map((s) => Number(s.labels.le));
    expect(buckets.filter((le) => le < 0.1).length).toBeGreaterThanOrEqual(6);
  });

  it("counts GitHub requests by route template and status, and keeps the installation's quota left", () => {
    const requests = find(samples, "bisect_github_requests_total");
    expect(find(requests, "bisect_github_requests_total", { route: "POST /graphql", status: "200" })[0]?.value).toBeGreaterThanOrEqual(1);
    const dispatch = requests.filter((s) => s.labels.route === "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches");
    expect(dispatch.map((s) => s.labels.status)).toEqual([expect.stringMatching(/^2\d\d$/)]);
    expect(
      find(requests, "bisect_github_requests_total", { route: "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", status: "422" }),
    ).toEqual([expect.objectContaining({ value: 1 })]);
    // Every route is a template: no filled-in path.
    for (const s of requests) expect(s.labels.route).toMatch(/^(GET|POST|PATCH|PUT|DELETE) \/[a-z_/{}-]*$/);
    expect(find(samples, "bisect_github_rate_limit_remaining", { installation: String(INSTALLATION_ID) })).toEqual([expect.objectContaining({ value: 4321 })]);
  });

  it("measures comment to dispatch for the one job dispatched", () => {
    expect(find(samples, "bisect_comment_to_dispatch_seconds_count")).toEqual([expect.objectContaining({ value: 1 })]);
  });

  it("has process metrics, readiness, the pool and the worker's counters", () => {
    expect(find(samples, "process_resident_memory_bytes")[0]?.value).toBeGreaterThan(0);
    expect(find(samples, "bisect_ready")).toEqual([expect.objectContaining({ value: 1 })]);
    expect(find(samples, "bisect_worker_events_total", { event: "claims" })[0]?.value).toBeGreaterThanOrEqual(2);
    // The harness's store is a pg pool: its connections are counted.
    expect(find(samples, "bisect_db_pool_connections", { state: "total" })[0]?.value).toBeGreaterThanOrEqual(1);
    expect(find(samples, "bisect_db_pool_connections", { state: "waiting" })).toEqual([expect.objectContaining({ value: 0 })]);
  });

  it("no label holds a repository, owner or user name", () => {
    expect(samples.length).toBeGreaterThan(50);
    for (const s of samples) for (const value of Object.values(s.labels)) expect(value).not.toMatch(new RegExp(`${OWNER}|${REPO}|maintainer`));
    expect(text).not.toContain(OWNER);
    expect(text).not.toContain(REPO);
  });

  it("serves /metrics and nothing else there, without the admin token", async () => {
    for (const path of ["/stats", "/job/1", "/health", "/api/github/webhooks"]) expect((await fetch(`${h.server.metricsUrl}${path}`)).status).toBe(404);
    // On the main port, /metrics is the operators' route (loopback or the admin token), same text.
    const main = await fetch(`${h.server.url}/metrics`);
    expect(main.status).toBe(200);
    expect(await main.text()).toMatch(/^bisect_webhook_ack_seconds_count\{event="issue_comment",status="200"\} 1$/m);
    expect((await fetch(`${h.server.url}/metrics`, { headers: { "x-forwarded-for": "203.0.113.7" } })).status).toBe(401);
  });

  it("a refused delivery is timed too, without trusting its headers for the label", async () => {
    const response = await fetch(`${h.server.url}/api/github/webhooks`, {
      method: "POST",
      headers: { "x-github-event": "made_up_event", "x-hub-signature-256": "sha256=00", "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(401);
    const after = (await scrape(h.server.metricsUrl!)).samples;
    expect(find(after, "bisect_webhook_ack_seconds_count", { event: "invalid", status: "401" })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(after.some((s) => Object.values(s.labels).includes("made_up_event"))).toBe(false);
  });
});

describe("starting", () => {
  it("a METRICS_PORT already taken stops the start with a message naming it and the fix", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    const port = address !== null && typeof address === "object" ? address.port : 0;
    try {
      await expect(
        startServer({ ...h.env, METRICS_PORT: String(port) }, { store: secondStore, startWorker: false, Octokit: FastRetryOctokit }),
      ).rejects.toThrow(new RegExp(`^METRICS_PORT=${port}: .*EADDRINUSE.*Set METRICS_PORT to a free port, or to 0 to turn the metrics listener off\\.$`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe("cluster-wide numbers: one instance exports them", () => {
  it("queue depth, jobs by state and jobs overdue come from exactly one of two instances, and move when it leaves", async () => {
    const [first, other] = await Promise.all([scrape(h.server.metricsUrl!), scrape(second.metricsUrl!)]);
    const exporting = [first, other].filter((s) => find(s.samples, "bisect_jobs").length > 0);
    expect(exporting).toHaveLength(1);
    const reporter = exporting[0]!.samples;
    const silent = (exporting[0] === first ? other : first).samples;
    for (const name of ["bisect_queue_depth", "bisect_jobs", "bisect_jobs_overdue"]) expect(find(silent, name), name).toEqual([]);
    expect(find(reporter, "bisect_jobs", { state: "dispatched" })).toEqual([expect.objectContaining({ value: 1 })]);
    expect(find(reporter, "bisect_jobs", { state: "queued" })).toEqual([expect.objectContaining({ value: 0 })]);
    expect(
      find(reporter, "bisect_queue_depth")
        .map((s) => s.labels.queue)
        .sort(),
    ).toEqual(["announce", "command", "dispatch", "reply"]);
    expect(find(reporter, "bisect_jobs_overdue")).toEqual([expect.objectContaining({ value: 0 })]);

    // A job whose run has gone past its time limit (dispatched 31 minutes ago, limit 30) is overdue.
    await h.db.client.query("update public.bisect_jobs set dispatched_at = now() - interval '31 minutes' where state = 'dispatched'");
    // Scraped again and again, the reporter stays the reporter: the sum over instances is right.
    const again = await Promise.all([scrape(h.server.metricsUrl!), scrape(second.metricsUrl!)]);
    expect(again.flatMap((s) => find(s.samples, "bisect_jobs_overdue").map((o) => o.value))).toEqual([1]);
    expect(again.flatMap((s) => find(s.samples, "bisect_jobs", { state: "dispatched" }).map((o) => o.value))).toEqual([1]);
  });

  it("an instance that shuts down gives the reporter lease to the next one scraped", async () => {
    const third = await startServer(
      { ...h.env, METRICS_PORT: String(await freePort()) },
      { store: secondStore, startWorker: false, Octokit: FastRetryOctokit },
    );
    // Whoever reports now, the third instance takes over once both others have given it up.
    await h.store.call("releaseMetricsReporter", { worker: h.server.workerId });
    await h.store.call("releaseMetricsReporter", { worker: second.workerId });
    expect(find((await scrape(third.metricsUrl!)).samples, "bisect_jobs").length).toBe(4);
    expect(find((await scrape(h.server.metricsUrl!)).samples, "bisect_jobs")).toEqual([]);
    await third.close();
    // Gone: the lease went with it, and the next instance scraped reports.
    expect(find((await scrape(h.server.metricsUrl!)).samples, "bisect_jobs").length).toBe(4);
  });
});

describe("health", () => {
  it("/health/live and /health/ready answer 200 while the loop goes round and the database answers", async () => {
    await h.settle();
    const live = await fetch(`${h.server.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok", worker: "running" });
    const ready = await fetch(`${h.server.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok", database: "reachable", draining: false });
    // Load balancers and probes come through proxies: health needs no token.
    expect((await fetch(`${h.server.url}/health/ready`, { headers: { "x-forwarded-for": "203.0.113.7" } })).status).toBe(200);
  });

  it("/health/ready is 503 while the instance drains (live stays 200: it is finishing its work)", async () => {
    const draining = await startServer({ ...h.env, METRICS_PORT: "0" }, { store: secondStore, startWorker: false, Octokit: FastRetryOctokit });
    await draining.app.worker!.tick();
    expect((await fetch(`${draining.url}/health/ready`)).status).toBe(200);
    await draining.app.stop();
    const ready = await fetch(`${draining.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "unavailable", database: "not checked", draining: true });
    const live = await fetch(`${draining.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "ok", worker: "stopping" });
    expect((await scrape(draining.url)).samples.find((s) => s.name === "bisect_ready")?.value).toBe(0);
    await draining.close();
  });

  describe("with the database unreachable", () => {
    let proxy: TcpProxy;
    let cut: RunningServer;
    let cutStore: Store;

    beforeAll(async () => {
      const url = new URL(h.db.url!);
      proxy = await startTcpProxy(Number(url.port));
      url.port = String(proxy.port);
      // Short client time-outs, so closing this instance after the cut does not wait 35 s.
      cutStore = new Store(sqlTransport(pgClient(url.toString(), { max: 2, timeouts: { queryTimeoutMs: 3_000, connectionTimeoutMs: 3_000 } })));
      cut = await startServer({ ...h.env, METRICS_PORT: "0" }, { store: cutStore, startWorker: false, Octokit: FastRetryOctokit });
    });

    afterAll(async () => {
      await cut?.close();
      await cutStore?.close().catch(() => undefined);
      await proxy?.close();
    });

    it("/health/ready is 503 and says the database is unreachable; /health/live stays 200: a restart would not help", async () => {
      await cut.app.worker!.tick();
      expect((await fetch(`${cut.url}/health/ready`)).status).toBe(200);
      // Every packet dropped: the database never answers (a failed-over host, a lost route).
      proxy.blackhole();
      const ready = await fetch(`${cut.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: "unavailable", database: "unreachable", draining: false });
      expect((await fetch(`${cut.url}/health/live`)).status).toBe(200);
      const health = await fetch(`${cut.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: "unavailable", database: "unreachable", worker: "running" });
      // The scrape still answers: readiness 0, and the cluster's numbers absent rather than wrong.
      const { samples } = await scrape(cut.url);
      expect(samples.find((s) => s.name === "bisect_ready")?.value).toBe(0);
      expect(find(samples, "bisect_jobs")).toEqual([]);
    });
  });
});

describe("the snapshot's cost", () => {
  it("reads unfinished jobs and pending tasks through their partial indexes, never scanning finished rows", async () => {
    // Many finished jobs and tasks, as a busy installation leaves behind within the retention.
    await h.db.client.exec(`
      insert into public.bisect_jobs (delivery_id, repository, repository_id, installation_id, issue_number, comment_id, requester,
        good_refs, bad_ref, good_shas, bad_sha, command, state, finished_at)
      select 'finished-' || g, 'octo-org/widgets', 5000000101, 700000055, 7, 4000000000 + g, 'maintainer',
        '{v1.0}', 'main', '{aaaa}', 'bbbb', 'npm test', 'succeeded', now()
      from generate_series(1, 20000) g;
      insert into public.bisect_tasks (kind, repository, repository_id, issue_number, comment_id, state, finished_at)
      select 'reply', 'octo-org/widgets', 5000000101, 7, 4000000000 + g, 'done', now() from generate_series(1, 20000) g;
      analyze public.bisect_jobs;
      analyze public.bisect_tasks;`);
    const scans = await h.db.client.withSession(async (session) => {
      await session.exec("begin");
      try {
        await session.query("select * from public.bisect_metrics_snapshot(p_worker => $1, p_lease_seconds => 120)", [h.server.workerId]);
        // This transaction's own table accesses.
        return (
          await session.query<{ relname: string; seq_scan: string; idx_scan: string }>(
            "select relname, seq_scan::text, idx_scan::text from pg_catalog.pg_stat_xact_user_tables where relname in ('bisect_jobs', 'bisect_tasks') order by relname",
          )
        ).rows;
      } finally {
        await session.exec("rollback");
      }
    });
    expect(scans).toEqual([
      { relname: "bisect_jobs", seq_scan: "0", idx_scan: "1" },
      { relname: "bisect_tasks", seq_scan: "0", idx_scan: "1" },
    ]);
  });
});
