/**
 * The load generator of `bench/webhooks.ts`, in its own process so that its timer is not held up
 * by the GitHub double (which lives in the bench's process and works hard during the load).
 *
 * Open loop: delivery i is sent at start + i / rate whatever the answers so far; each one is a
 * signed `issue_comment` with its own delivery id and comment id, alternating between the
 * targets. Latency is measured per request from the send to the end of the response.
 * Protocol (IPC): the parent sends one LoadRequest, the child answers `{ ready: true }` once the
 * bodies are built, then one LoadResult when every request has ended, and exits.
 */
import { createHmac, randomUUID } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";

export interface LoadRequest {
  targets: string[];
  secret: string;
  rate: number;
  seconds: number;
  /** An issue_comment payload (valid against GitHub's schema); comment.id and html_url are set per delivery. */
  template: Record<string, unknown>;
  firstCommentId: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

export interface LoadResult {
  sent: number;
  ok: number;
  /** Non-2xx answers by status, and network errors / timeouts by message. */
  failures: Record<string, number>;
  /** ms, one per request that got an answer (any status). */
  latencies: number[];
  /** ms after the first send of the first and last sends. */
  firstSendMs: number;
  lastSendMs: number;
  /** Date.now() at the last send (the parent's clock differs from performance.now() here). */
  lastSendEpochMs: number;
  /** Worst lag of a send behind its schedule (ms): how well the open loop held its rate. */
  maxScheduleLagMs: number;
  commentIds: number[];
  /** CPU seconds this process used (user + system). */
  cpuSeconds: number;
}

function run(request: LoadRequest): Promise<LoadResult> {
  const total = Math.round(request.rate * request.seconds);
  const agents = request.targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1024 }));
  const templateComment = request.template.comment as { html_url: string };
  const baseUrl = templateComment.html_url.replace(/#issuecomment-\d+$/, "");
  // Every body built and signed before the clock starts.
  const deliveries = Array.from({ length: total }, (_, i) => {
    const commentId = request.firstCommentId + i;
    const payload = {
      ...request.template,
      comment: { ...(request.template.comment as object), id: commentId, html_url: `${baseUrl}#issuecomment-${commentId}` },
    };
    const body = Buffer.from(JSON.stringify(payload));
    const target = new URL(request.targets[i % request.targets.length]!);
    return {
      commentId,
      agent: agents[i % agents.length]!,
      target,
      body,
      headers: {
        "content-type": "application/json",
        "content-length": String(body.length),
        "user-agent": "GitHub-Hookshot/bisect-bench",
        "x-github-event": "issue_comment",
        "x-github-delivery": randomUUID(),
        "x-github-hook-id": "1",
        "x-hub-signature-256": `sha256=${createHmac("sha256", request.secret).update(body).digest("hex")}`,
      },
    };
  });
  process.send!({ ready: true });

  return new Promise((resolve) => {
    const result: LoadResult = {
      sent: 0,
      ok: 0,
      failures: {},
      latencies: [],
      firstSendMs: 0,
      lastSendMs: 0,
      lastSendEpochMs: 0,
      maxScheduleLagMs: 0,
      commentIds: [],
      cpuSeconds: 0,
    };
    const fail = (why: string) => (result.failures[why] = (result.failures[why] ?? 0) + 1);
    let ended = 0;
    const interval = 1000 / request.rate;
    const t0 = performance.now();
    const finish = () => {
      if (++ended < total) return;
      for (const agent of agents) agent.destroy();
      const cpu = process.cpuUsage();
      result.cpuSeconds = (cpu.user + cpu.system) / 1e6;
      resolve(result);
    };
    const send = (i: number) => {
      const d = deliveries[i]!;
      const sentAt = performance.now();
      result.maxScheduleLagMs = Math.max(result.maxScheduleLagMs, sentAt - (t0 + i * interval));
      if (i === 0) result.firstSendMs = sentAt - t0;
      result.lastSendMs = sentAt - t0;
      result.lastSendEpochMs = Date.now();
      result.sent++;
      result.commentIds.push(d.commentId);
      let done = false;
      const end = (outcome: { status?: number; error?: string }) => {
        if (done) return;
        done = true;
        if (outcome.status !== undefined) {
          result.latencies.push(performance.now() - sentAt);
          if (outcome.status >= 200 && outcome.status < 300) result.ok++;
          else fail(`HTTP ${outcome.status}`);
        } else {
          fail(outcome.error ?? "error");
        }
        finish();
      };
      const req = http.request(
        {
          host: d.target.hostname,
          port: d.target.port,
          path: d.target.pathname,
          method: "POST",
          headers: d.headers,
          agent: d.agent,
          timeout: request.timeoutMs,
        },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => end({ status: res.statusCode ?? 0 }));
          res.on("error", (error) => end({ error: `response: ${error.message}` }));
        },
      );
      req.on("timeout", () => {
        req.destroy(new Error(`no answer within ${request.timeoutMs} ms`));
      });
      req.on("error", (error: NodeJS.ErrnoException) => end({ error: error.code ?? error.message }));
      req.end(d.body);
    };
    let next = 0;
    const pump = () => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) send(next++);
      if (next < total) setTimeout(pump, Math.max(0, t0 + next * interval - performance.now()));
    };
    if (total === 0) resolve(result);
    else pump();
  });
}

process.once("message", (message) => {
  run(message as LoadRequest).then(
    (result) => process.send!(result, undefined, {}, () => process.exit(0)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
// The parent died: nothing to report to.
process.on("disconnect", () => process.exit(0));
