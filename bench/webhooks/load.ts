/**
 * A load generator of `bench/webhooks.ts`, in its own process so that its timer is not held up
 * by the GitHub double (which lives in the bench's process and works hard during the load). The
 * bench may start several (BENCH_WEBHOOK_LOAD_PROCESSES): process k of P sends deliveries i with
 * i mod P = k.
 *
 * Open loop: delivery i is sent when the plan says (plan.ts: ramps, holds, soak) whatever the
 * answers so far; each one is a signed `issue_comment` with its own delivery id and comment id,
 * a `/bisect` command or a comment the App ignores, for one of the installations, alternating
 * between the targets. Latency is measured per request from the send to the end of the response.
 * Protocol (IPC): the parent sends one LoadRequest, the child answers `{ ready: true }` once the
 * templates are built, the parent sends `{ go: <epoch ms> }`, the child answers one LoadResult
 * when every request has ended, and exits.
 */
import { createHmac, randomUUID } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { deliveryKind, issueOf, schedule, targetOf, type Mix, type Stage } from "./plan.js";

/** Where a payload template has the comment id, and the issue number. */
export const COMMENT_ID_MARK = "987654321012";
export const ISSUE_MARK = "987654021";

export interface LoadRequest {
  targets: string[];
  secret: string;
  stages: Stage[];
  mix: Mix;
  /** Per installation: a command's and an ignored comment's payload as JSON text, with the marks for comment id and issue. */
  payloads: { command: string; ignored: string }[];
  /** Comment id of delivery i: firstCommentId + i. */
  firstCommentId: number;
  process: { index: number; count: number };
  /** Per-request timeout. */
  timeoutMs: number;
}

export interface StageLoad {
  sent: number;
  ok: number;
  /** Non-2xx answers by status, and network errors / timeouts by message. */
  failures: Record<string, number>;
  /** ms, one per request that got an answer (any status). */
  latencies: number[];
  /** Worst lag of a send behind its schedule (ms): how well the open loop held its rate. */
  maxScheduleLagMs: number;
}

export interface LoadResult {
  stages: StageLoad[];
  /** Commands sent: comment id, Date.now() at the send, and 1 when acknowledged with a 2xx (else 0), in triples. */
  commandSends: number[];
  /** CPU seconds this process used (user + system). */
  cpuSeconds: number;
}

const requestSchema = z.object({
  targets: z.array(z.string().url()).min(1),
  secret: z.string().min(1),
  stages: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(["ramp", "hold", "soak"]),
      fromRate: z.number().min(0),
      toRate: z.number().min(0),
      seconds: z.number().positive(),
    }),
  ),
  mix: z.object({ commandEvery: z.number().int().min(0), installations: z.number().int().positive() }),
  payloads: z.array(z.object({ command: z.string(), ignored: z.string() })).min(1),
  firstCommentId: z.number().int().positive(),
  process: z.object({ index: z.number().int().min(0), count: z.number().int().positive() }),
  timeoutMs: z.number().int().positive(),
});
const goSchema = z.object({ go: z.number() });

function run(request: LoadRequest, startEpochMs: number): Promise<LoadResult> {
  const plan = schedule(request.stages);
  const mine: number[] = [];
  for (let i = request.process.index; i < plan.at.length; i += request.process.count) mine.push(i);
  const agents = request.targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1024 }));
  const targets = request.targets.map((t) => new URL(t));
  const result: LoadResult = {
    stages: request.stages.map(() => ({ sent: 0, ok: 0, failures: {}, latencies: [], maxScheduleLagMs: 0 })),
    commandSends: [],
    cpuSeconds: 0,
  };
  // performance.now() at the plan's start: the parent's epoch start, on this process's clock.
  const t0 = performance.now() + (startEpochMs - Date.now());

  const send = (i: number) => {
    const kind = deliveryKind(i, request.mix);
    const commentId = request.firstCommentId + i;
    const template = request.payloads[kind.installation]!;
    const body = Buffer.from(
      (kind.command ? template.command : template.ignored)
        .replaceAll(COMMENT_ID_MARK, String(commentId))
        .replaceAll(ISSUE_MARK, String(kind.command ? issueOf(i / request.mix.commandEvery, request.mix) : 1)),
    );
    const stage = result.stages[plan.stage[i]!]!;
    const sentAt = performance.now();
    stage.maxScheduleLagMs = Math.max(stage.maxScheduleLagMs, sentAt - (t0 + plan.at[i]! * 1000));
    stage.sent++;
    const sentEpochMs = Date.now();
    let done = false;
    const end = (outcome: { status?: number; error?: string }) => {
      if (done) return;
      done = true;
      const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
      if (kind.command) result.commandSends.push(commentId, sentEpochMs, ok ? 1 : 0);
      if (outcome.status !== undefined) {
        stage.latencies.push(performance.now() - sentAt);
        if (ok) stage.ok++;
        else stage.failures[`HTTP ${outcome.status}`] = (stage.failures[`HTTP ${outcome.status}`] ?? 0) + 1;
      } else {
        const why = outcome.error ?? "error";
        stage.failures[why] = (stage.failures[why] ?? 0) + 1;
      }
      finish();
    };
    const target = targets[targetOf(i, request.mix, targets.length)]!;
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        agent: agents[targetOf(i, request.mix, agents.length)]!,
        timeout: request.timeoutMs,
        headers: {
          "content-type": "application/json",
          "content-length": String(body.length),
          "user-agent": "GitHub-Hookshot/bisect-bench",
          "x-github-event": "issue_comment",
          "x-github-delivery": randomUUID(),
          "x-github-hook-id": "1",
          "x-hub-signature-256": `sha256=${createHmac("sha256", request.secret).update(body).digest("hex")}`,
        },
      },
      (res) => {
        res.on("data", () => undefined);
        res.on("end", () => end({ status: res.statusCode ?? 0 }));
        res.on("error", (error) => end({ error: `response: ${error.message}` }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${request.timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) => end({ error: error.code ?? error.message }));
    req.end(body);
  };

  let ended = 0;
  let resolveAll: (result: LoadResult) => void = () => undefined;
  const finish = () => {
    if (++ended < mine.length) return;
    for (const agent of agents) agent.destroy();
    const cpu = process.cpuUsage();
    result.cpuSeconds = (cpu.user + cpu.system) / 1e6;
    resolveAll(result);
  };
  return new Promise((resolve) => {
    resolveAll = resolve;
    if (mine.length === 0) {
      finish();
      return;
    }
    let next = 0;
    const pump = () => {
      const now = performance.now();
      while (next < mine.length && t0 + plan.at[mine[next]!]! * 1000 <= now) send(mine[next++]!);
      if (next < mine.length) setTimeout(pump, Math.max(0, t0 + plan.at[mine[next]!]! * 1000 - performance.now()));
    };
    pump();
  });
}

process.once("message", (message: unknown) => {
  const request = requestSchema.parse(message);
  process.send!({ ready: true });
  process.once("message", (go: unknown) => {
    run(request, goSchema.parse(go).go).then(
      (result) => process.send!(result, undefined, {}, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
});
// The parent died: nothing to report to.
process.on("disconnect", () => process.exit(0));
