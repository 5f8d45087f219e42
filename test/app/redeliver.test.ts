/**
 * Webhook recovery: GitHub does not redeliver a webhook the App failed to take, so the App finds
 * failed deliveries in its delivery log and has GitHub redeliver them. Webhooks go through the
 * GitHub double, which keeps the log as GitHub does (`GET /app/hook/deliveries`, checked against
 * GitHub's description) and redelivers on `POST …/attempts`; the App runs on a real PostgreSQL
 * database, which is made to refuse new tasks (a trigger) so that the App answers 500, as when
 * the database is down.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Settings } from "../../app/src/settings.js";
import { RedeliveryLoop, type PassReport, type RedeliveryLimits } from "../../app/src/worker/redeliver.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, startHarness, WEBHOOK_SECRET, type Harness } from "../support/app-harness.js";
import type { HookDeliveryRecord } from "../support/github-double/index.js";
import { stopTestPostgres } from "../support/postgres.js";
import { issueCommentPayload } from "../support/webhooks.js";

const FULL = `${OWNER}/${REPO}`;
const LIST = "GET /app/hook/deliveries";
const REDELIVER = "POST /app/hook/deliveries/{delivery_id}/attempts";

let h: Harness;
let webhookUrl: string;
beforeAll(async () => {
  h = await startHarness({ backend: "postgres", env: { MAX_CONCURRENT_JOBS: "256" } });
  webhookUrl = `${h.server.url}/api/github/webhooks`;
  await h.db.client.exec(`
    create function public.zz_refuse_tasks() returns trigger language plpgsql as $$
    begin
      raise exception 'the database refuses new tasks (test)';
    end $$;`);
});
afterAll(async () => {
  await h?.close();
  await stopTestPostgres();
});
beforeEach(async () => {
  // Every test starts with an empty delivery log and no recovery state.
  await h.db.client.exec("delete from public.bisect_redelivery_schedule; delete from public.bisect_redeliveries;");
  await storeFails(false);
  h.double.webhooks.holdRedeliveries = false;
  h.double.webhooks.deliveries.splice(0);
  h.double.requests.splice(0);
});
afterEach(() => {
  expect(h.double.violations).toEqual([]);
});

/** While on, the App's webhook handler cannot store anything and answers 500. */
async function storeFails(on: boolean): Promise<void> {
  await h.db.client.exec("drop trigger if exists zz_refuse_tasks on public.bisect_tasks");
  if (on)
    await h.db.client.exec("create trigger zz_refuse_tasks before insert on public.bisect_tasks for each statement execute function public.zz_refuse_tasks()");
}

let nextComment = 6_100_000_000;
let nextIssue = 2000;

interface SentComment {
  commentId: number;
  delivery: HookDeliveryRecord;
}

/** A `/bisect` comment on an issue of its own, sent through the double as GitHub sends it. */
async function sendComment(): Promise<SentComment> {
  const commentId = ++nextComment;
  const issueNumber = ++nextIssue;
  const body = "/bisect v1.0..main -- npm test";
  h.double.addComment(FULL, issueNumber, { body, user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber,
    login: "maintainer",
    commentId,
    body,
  });
  const delivery = await h.double.deliverWebhook(webhookUrl, WEBHOOK_SECRET, { event: "issue_comment", payload, guid: randomUUID() });
  return { commentId, delivery };
}

async function sendComments(n: number): Promise<SentComment[]> {
  const sent: SentComment[] = [];
  for (let i = 0; i < n; i++) sent.push(await sendComment());
  return sent;
}

/** A loop of the App, as another instance (own worker id) with these limits and settings. */
function loop(name: string, limits: Partial<RedeliveryLimits> = {}, settings: Partial<Settings> = {}): RedeliveryLoop {
  const probot = h.server.app.probot!;
  return new RedeliveryLoop({
    store: h.store,
    settings: { ...h.server.settings, ...settings },
    workerId: `${name}:${randomUUID()}`,
    appOctokit: () => probot.auth(),
    log: probot.log,
    limits,
  });
}

/** The next pass is due now (the interval passed). */
async function due(): Promise<void> {
  await h.db.client.exec("update public.bisect_redelivery_schedule set next_run_at = now()");
}

/** A pass, then the redeliveries it asked for, sent. */
async function pass(l: RedeliveryLoop): Promise<PassReport | undefined> {
  await due();
  const report = await l.pass();
  await h.double.webhooks.idle();
  return report;
}

const calls = (route: string) => h.double.callCounts()[route] ?? 0;
const attemptsOf = (guid: string) => h.double.webhooks.deliveries.filter((d) => d.guid === guid);

/** Command tasks and jobs each comment made. */
async function madeOf(commentIds: number[]): Promise<{ commands: number[]; jobs: number[] }> {
  const count = async (sql: string) => {
    const { rows } = await h.db.client.query<{ comment_id: string; n: number }>(sql, [commentIds.map(String)]);
    const by = new Map(rows.map((r) => [Number(r.comment_id), r.n]));
    return commentIds.map((id) => by.get(id) ?? 0);
  };
  return {
    commands: await count(
      "select comment_id, count(*)::int as n from public.bisect_tasks where kind = 'command' and comment_id = any ($1::bigint[]) group by comment_id",
    ),
    jobs: await count("select comment_id, count(*)::int as n from public.bisect_jobs where comment_id = any ($1::bigint[]) group by comment_id"),
  };
}

describe("webhook recovery", () => {
  it("redelivers each failed delivery once, each becomes one command and one job, and leaves successful ones alone", async () => {
    await storeFails(true);
    const failed = await sendComments(3);
    await storeFails(false);
    const ok = await sendComments(2);
    expect(failed.map((c) => c.delivery.statusCode)).toEqual([500, 500, 500]);
    expect(ok.map((c) => c.delivery.statusCode)).toEqual([200, 200]);

    const app = h.server.app.redelivery!;
    expect(await pass(app)).toMatchObject({ failed: 3, redelivered: 3, complete: true, error: null });
    expect(calls(REDELIVER)).toBe(3);
    for (const { delivery } of failed) {
      expect(attemptsOf(delivery.guid).map((d) => [d.redelivery, d.statusCode])).toEqual([
        [false, 500],
        [true, 200],
      ]);
    }
    for (const { delivery } of ok) expect(attemptsOf(delivery.guid)).toHaveLength(1);

    // Later passes find nothing more to do.
    expect(await pass(app)).toMatchObject({ failed: 0, redelivered: 0 });
    expect(calls(REDELIVER)).toBe(3);

    await h.accept();
    const ids = [...failed, ...ok].map((c) => c.commentId);
    expect(await madeOf(ids)).toEqual({ commands: [1, 1, 1, 1, 1], jobs: [1, 1, 1, 1, 1] });
  });

  it("does not redeliver a delivery whose redelivery already succeeded (by someone else)", async () => {
    await storeFails(true);
    const delivery = (await sendComments(1))[0]!.delivery;
    await storeFails(false);
    // An operator clicks "Redeliver" on GitHub.
    const octokit = await h.server.app.probot!.auth();
    await octokit.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: delivery.id });
    await h.double.webhooks.idle();
    expect(attemptsOf(delivery.guid).map((d) => d.statusCode)).toEqual([500, 200]);

    expect(await pass(loop("a"))).toMatchObject({ failed: 0, redelivered: 0 });
    expect(calls(REDELIVER)).toBe(1);
  });

  it("does not ask again while a redelivery is on its way; asks again when it failed too, at most 3 times", async () => {
    await storeFails(true);
    const delivery = (await sendComments(1))[0]!.delivery;
    const a = loop("a");
    h.double.webhooks.holdRedeliveries = true;
    expect(await pass(a)).toMatchObject({ redelivered: 1 });
    // GitHub has not sent it yet: the log shows only the failed attempt.
    expect(await pass(a)).toMatchObject({ failed: 1, redelivered: 0 });
    expect(calls(REDELIVER)).toBe(1);

    // The database is still refusing: each redelivery fails, and is asked for again, three times in all.
    h.double.webhooks.holdRedeliveries = false;
    h.double.webhooks.releaseRedeliveries();
    await h.double.webhooks.idle();
    for (let i = 0; i < 4; i++) await pass(a);
    expect(calls(REDELIVER)).toBe(3);
    expect(attemptsOf(delivery.guid).map((d) => d.statusCode)).toEqual([500, 500, 500, 500]);
  });

  it("two instances running the loop at once redeliver each delivery once", async () => {
    await storeFails(true);
    const first = await sendComments(4);
    await storeFails(false);
    const [a, b] = [loop("a"), loop("b")];
    await due();
    const reports = await Promise.all([a.pass(), b.pass()]);
    await h.double.webhooks.idle();
    // One pass per interval for the cluster: the other instance found it taken.
    expect(reports.filter((r) => r !== undefined)).toHaveLength(1);
    expect(calls(REDELIVER)).toBe(4);

    // Both scanning the same failures (the second pass due while the first runs): still once each.
    await storeFails(true);
    const second = await sendComments(3);
    await storeFails(false);
    h.double.webhooks.holdRedeliveries = true;
    await due();
    const both = await Promise.all([a.pass(), due().then(() => b.pass())]);
    h.double.webhooks.releaseRedeliveries();
    await h.double.webhooks.idle();
    expect(both.reduce((n, r) => n + (r?.redelivered ?? 0), 0)).toBe(3);
    expect(calls(REDELIVER)).toBe(7);
    for (const { delivery } of [...first, ...second]) expect(attemptsOf(delivery.guid).filter((d) => d.redelivery)).toHaveLength(1);

    await h.accept();
    const ids = [...first, ...second].map((c) => c.commentId);
    expect(await madeOf(ids)).toEqual({ commands: ids.map(() => 1), jobs: ids.map(() => 1) });
  });

  it("looks back to the last complete scan less a margin, never beyond REDELIVERY_LOOKBACK_SECONDS, and lists no further", async () => {
    await storeFails(true);
    const old = (await sendComments(1))[0]!;
    h.double.webhooks.age(2 * 3600);
    const recent = (await sendComments(1))[0]!;
    const a = loop("a", { perPage: 1 }, { REDELIVERY_LOOKBACK_SECONDS: 3600 });
    await storeFails(false);
    expect(await pass(a)).toMatchObject({ redelivered: 1, complete: true });
    expect(attemptsOf(recent.delivery.guid)).toHaveLength(2);
    expect(attemptsOf(old.delivery.guid)).toHaveLength(1);

    // 20 minutes pass; the last complete scan started 10 minutes ago, so this one looks back 15.
    await storeFails(true);
    const late = (await sendComments(1))[0]!;
    h.double.webhooks.age(20 * 60);
    const fresh = (await sendComments(1))[0]!;
    await storeFails(false);
    await h.db.client.exec("update public.bisect_redelivery_schedule set covered_through = now() - interval '10 minutes'");
    const before = calls(LIST);
    expect(await pass(a)).toMatchObject({ redelivered: 1, complete: true });
    expect(attemptsOf(fresh.delivery.guid)).toHaveLength(2);
    expect(attemptsOf(late.delivery.guid)).toHaveLength(1);
    // One delivery per page: the fresh one, then one older than the bound, and the listing stops.
    expect(calls(LIST) - before).toBe(2);
    expect(calls(REDELIVER)).toBe(2);
  });

  it("bounds each pass (pages, redeliveries) and works off a backlog over several passes, each delivery once", async () => {
    await storeFails(true);
    const sent = await sendComments(7);
    await storeFails(false);
    const a = loop("a", { perPage: 2, maxPages: 2, maxRedeliveries: 2 });
    const perPass: { list: number; redeliver: number; report: PassReport | undefined }[] = [];
    for (let i = 0; i < 12 && !perPass.at(-1)?.report?.complete; i++) {
      const [list, redeliver] = [calls(LIST), calls(REDELIVER)];
      const report = await pass(a);
      perPass.push({ list: calls(LIST) - list, redeliver: calls(REDELIVER) - redeliver, report });
    }
    expect(perPass.at(-1)?.report?.complete).toBe(true);
    for (const p of perPass) {
      expect(p.list).toBeLessThanOrEqual(2);
      expect(p.redeliver).toBeLessThanOrEqual(2);
    }
    expect(perPass.length).toBeGreaterThanOrEqual(4);
    expect(calls(REDELIVER)).toBe(7);
    for (const { delivery } of sent) expect(attemptsOf(delivery.guid).map((d) => d.statusCode)).toEqual([500, 200]);
  });

  it("GitHub failing to list or to redeliver: the pass records why, and a later pass recovers", async () => {
    await storeFails(true);
    const delivery = (await sendComments(1))[0]!.delivery;
    await storeFails(false);
    const a = loop("a");
    // Probot retries a 5xx three times: four answers fail the call.
    h.double.failNext(LIST, 500, 4);
    const failed = await pass(a);
    expect(failed).toMatchObject({ redelivered: 0, complete: false });
    expect(failed?.error).toContain("HTTP 500");
    expect(calls(LIST)).toBe(4);
    const { rows } = await h.db.client.query<{ error: string | null }>("select error from public.bisect_redelivery_schedule");
    expect(rows[0]?.error).toContain("listing the App's webhook deliveries failed");

    h.double.failNext(REDELIVER, 502, 4);
    expect(await pass(a)).toMatchObject({ failed: 1, redelivered: 0 });
    expect(attemptsOf(delivery.guid)).toHaveLength(1);

    expect(await pass(a)).toMatchObject({ failed: 1, redelivered: 1, complete: true, error: null });
    expect(attemptsOf(delivery.guid).map((d) => d.statusCode)).toEqual([500, 200]);
    // Four refused answers, then the one that went through.
    expect(calls(REDELIVER)).toBe(4 + 1);
  });
});
