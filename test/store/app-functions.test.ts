/**
 * The store functions the App adds (supabase/migrations/20261128100000_app_functions.sql), through
 * every adapter: the SQL store on PGlite and on a real PostgreSQL server, and the Supabase store
 * over HTTP (test/support/postgrest-double.ts) on the same server. Announcing queued jobs, the
 * dispatch intent, the status comment, queue positions, lookups, stats and the reply outbox.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SqlStore } from "../../app/src/store/sql-store.js";
import type { NewReply, Store } from "../../app/src/store/store.js";
import { SupabaseStore } from "../../app/src/store/supabase-store.js";
import { newJob } from "../support/jobs.js";
import { openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";
import { startPostgrestDouble, type PostgrestDouble } from "../support/postgrest-double.js";

const SECRET_KEY = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

interface Harness {
  store: Store;
  /** Ends every lease now, as if its worker had died. */
  expireLeases(): Promise<void>;
  /** Empties the tables between tests. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

async function harness(kind: "pglite" | "postgres" | "supabase"): Promise<Harness> {
  const db: TestDatabase = await openTestDatabase(kind === "pglite" ? "pglite" : "postgres");
  let double: PostgrestDouble | undefined;
  let store: Store = new SqlStore(db.client);
  if (kind === "supabase") {
    double = await startPostgrestDouble({ databaseUrl: db.url!, secretKey: SECRET_KEY });
    store = new SupabaseStore(double.url, SECRET_KEY);
  }
  return {
    store,
    expireLeases: async () => {
      await db.client.exec("update public.bisect_jobs set lease_expires_at = now() - interval '1 minute' where lease_expires_at is not null");
      await db.client.exec("update public.bisect_replies set lease_expires_at = now() - interval '1 minute' where lease_expires_at is not null");
      await db.client.exec("update public.bisect_commands set lease_expires_at = now() - interval '1 minute' where lease_expires_at is not null");
    },
    reset: () => db.client.exec("truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit, public.bisect_replies, public.bisect_commands"),
    close: async () => {
      if (kind === "supabase") await store.close();
      await double?.close();
      await db.close();
    },
  };
}

let counter = 0;
function reply(overrides: Partial<NewReply> = {}): NewReply {
  counter++;
  return {
    deliveryId: `reply-delivery-${counter}`,
    repository: "octo-org/widgets",
    repositoryId: 5_000_000_001,
    installationId: 7_000_000_001,
    issueNumber: 42,
    commentId: 4_000_000_000 + counter,
    body: "Only people with write access can start a bisect.",
    reaction: "confused",
    cancelRunId: null,
    ...overrides,
  };
}

describe.each(["pglite", "postgres", "supabase"] as const)("app store functions on %s", (kind) => {
  let h: Harness;
  let store: Store;
  beforeAll(async () => {
    h = await harness(kind);
    store = h.store;
  });
  afterAll(async () => {
    await h?.close();
  });
  const repositoryId = 6_000_000_001;
  beforeEach(() => h.reset());

  it("announces a queued job that waits for a slot once, without starting an attempt", async () => {
    const first = await store.createJob(newJob({ repositoryId }));
    const waiting = await store.createJob(newJob({ repositoryId }));
    const [running] = await store.claimJobs("w1", 10, 30, 1);
    expect(running?.job.id).toBe(first.jobId);
    expect(await store.queuePosition(waiting.jobId)).toBe(1);

    const [announce] = await store.claimAnnouncements("w1", 10, 30, 1);
    expect(announce?.job.id).toBe(waiting.jobId);
    expect(announce?.job.state).toBe("queued");
    expect(announce?.job.attempts).toBe(0);
    // While it is leased nobody else announces it.
    expect(await store.claimAnnouncements("w2", 10, 30, 1)).toEqual([]);
    expect(await store.setStatusComment(waiting.jobId, announce!.token, 9001)).toBe(true);
    expect(await store.releaseJob(waiting.jobId, announce!.token)).toBe(true);
    // Announced once: it has its comment now, and still waits for the slot.
    expect(await store.claimAnnouncements("w2", 10, 30, 1)).toEqual([]);
    expect(await store.claimJobs("w2", 10, 30, 1)).toEqual([]);
    const after = await store.getJob(waiting.jobId);
    expect(after).toMatchObject({ state: "queued", attempts: 0, status_comment_id: 9001, locked_by: null });
  });

  it("does not announce jobs that a free slot lets start", async () => {
    await store.createJob(newJob({ repositoryId }));
    expect(await store.claimAnnouncements("w1", 10, 30, 4)).toEqual([]);
  });

  it("records the dispatch intent of the current attempt only while the lease holds", async () => {
    const { jobId } = await store.createJob(newJob({ repositoryId }));
    const [claimed] = await store.claimJobs("w1", 1, 30, 4);
    expect(claimed?.job.dispatch_intent_attempt).toBeNull();
    expect(await store.recordDispatchIntent(jobId, claimed!.token)).toBe(true);
    await h.expireLeases();
    // The successor sees that attempt 1 may already have a run.
    const [successor] = await store.claimJobs("w2", 1, 30, 4);
    expect(successor?.job).toMatchObject({ id: jobId, attempts: 1, dispatch_intent_attempt: 1 });
    // The dead worker's token changes nothing.
    expect(await store.recordDispatchIntent(jobId, claimed!.token)).toBe(false);
    expect(await store.setStatusComment(jobId, claimed!.token, 1)).toBe(false);
  });

  it("finds the latest job of an issue and whether a comment was handled", async () => {
    const a = newJob({ repositoryId, issueNumber: 7 });
    await store.createJob(a);
    const b = await store.createJob(newJob({ repositoryId, issueNumber: 7 }));
    expect((await store.latestJob(repositoryId, 7))?.id).toBe(b.jobId);
    expect(await store.latestJob(repositoryId, 8)).toBeUndefined();
    expect(await store.commentHandled(a.deliveryId, repositoryId, 1)).toBe(true);
    expect(await store.commentHandled("other", repositoryId, a.commentId)).toBe(true);
    expect(await store.commentHandled("other", repositoryId, 1)).toBe(false);
    const r = reply({ repositoryId });
    await store.enqueueReply(r);
    expect(await store.commentHandled(r.deliveryId, repositoryId, 2)).toBe(true);
  });

  it("counts jobs by state, and this instance's leases", async () => {
    const before = await store.stats("stats-worker");
    await store.createJob(newJob({ repositoryId }));
    await store.createJob(newJob({ repositoryId }));
    await store.claimJobs("stats-worker", 1, 30, 4);
    const after = await store.stats("stats-worker");
    expect(after.pending - before.pending).toBe(1);
    expect(after.running - before.running).toBe(1);
    expect(after.running_on_this_instance).toBe(1);
    expect((await store.stats("another-worker")).running_on_this_instance).toBe(0);
    await h.expireLeases();
  });

  it("keeps one reply per delivery and comment, posts it once, retries what can be retried", async () => {
    const r = reply({ repositoryId });
    const first = await store.enqueueReply(r);
    expect(first.created).toBe(true);
    expect(await store.enqueueReply(r)).toEqual({ replyId: first.replyId, created: false });
    expect(await store.enqueueReply({ ...r, deliveryId: "new-delivery-same-comment" })).toEqual({ replyId: first.replyId, created: false });

    const claimed = (await store.claimReplies("w1", 10, 30)).filter((x) => x.id === first.replyId);
    expect(claimed).toHaveLength(1);
    expect(claimed[0]).toMatchObject({ body: r.body, reaction: "confused", attempts: 1, state: "pending" });
    expect((await store.claimReplies("w2", 10, 30)).some((x) => x.id === first.replyId)).toBe(false);
    // A 502: tried again at once (0 s), by whoever claims next.
    expect(await store.finishReply(first.replyId, claimed[0]!.lease_token, null, "HTTP 502", 0)).toBe(true);
    const again = (await store.claimReplies("w2", 10, 30)).find((x) => x.id === first.replyId);
    expect(again?.attempts).toBe(2);
    // The first worker's token is spent.
    expect(await store.finishReply(first.replyId, claimed[0]!.lease_token, 77, null, null)).toBe(false);
    expect(await store.finishReply(first.replyId, again!.lease_token, 77, null, null)).toBe(true);
    expect((await store.claimReplies("w3", 10, 30)).some((x) => x.id === first.replyId)).toBe(false);
  });

  it("gives a reply up when the error cannot be fixed by retrying, or after five attempts", async () => {
    const gone = await store.enqueueReply(reply({ repositoryId }));
    const [c] = (await store.claimReplies("w1", 10, 30)).filter((x) => x.id === gone.replyId);
    expect(await store.finishReply(gone.replyId, c!.lease_token, null, "HTTP 404: issue deleted", null)).toBe(true);
    expect((await store.claimReplies("w1", 10, 30)).some((x) => x.id === gone.replyId)).toBe(false);

    const flaky = await store.enqueueReply(reply({ repositoryId }));
    let attempts = 0;
    for (;;) {
      const mine = (await store.claimReplies("w1", 10, 30)).find((x) => x.id === flaky.replyId);
      if (!mine) break;
      attempts = mine.attempts;
      await store.finishReply(flaky.replyId, mine.lease_token, null, "HTTP 500", 0);
    }
    expect(attempts).toBe(5);
  });

  it("keeps one command per delivery and comment in the inbox; a claim leases it, a failure retries it later", async () => {
    const command = {
      deliveryId: "inbox-1",
      repository: "octo-org/widgets",
      repositoryId,
      installationId: 7_000_000_001,
      issueNumber: 9,
      isPullRequest: true,
      commentId: 4_100_000_001,
      requester: "octocat",
      body: "/bisect v1.4..main -- npm test",
    };
    const first = await store.receiveCommand(command);
    expect(first.created).toBe(true);
    expect(await store.receiveCommand(command)).toEqual({ commandId: first.commandId, created: false });
    expect(await store.receiveCommand({ ...command, deliveryId: "inbox-2" })).toEqual({ commandId: first.commandId, created: false });

    const [claimed] = await store.claimCommands("w1", 10, 30);
    expect(claimed).toMatchObject({ id: first.commandId, body: command.body, is_pull_request: true, requester: "octocat", attempts: 1, state: "pending" });
    expect(await store.claimCommands("w2", 10, 30)).toEqual([]);
    // GitHub failed: tried again at once, by whoever claims next; the first lease is spent.
    expect(await store.finishCommand(first.commandId, claimed!.lease_token, null, "HTTP 502", 0)).toBe(true);
    const [again] = await store.claimCommands("w2", 10, 30);
    expect(again?.attempts).toBe(2);
    expect(await store.finishCommand(first.commandId, claimed!.lease_token, "job 1", null, null)).toBe(false);
    expect(await store.finishCommand(first.commandId, again!.lease_token, "job 1", null, null)).toBe(true);
    expect(await store.claimCommands("w3", 10, 30)).toEqual([]);
    // A dead worker's command goes to another worker when its lease ends.
    const second = await store.receiveCommand({ ...command, deliveryId: "inbox-3", commentId: 4_100_000_002 });
    expect((await store.claimCommands("w1", 10, 30)).map((c) => c.id)).toEqual([second.commandId]);
    await h.expireLeases();
    expect((await store.claimCommands("w2", 10, 30)).map((c) => c.id)).toEqual([second.commandId]);
  });

  it("hands an expired reply lease to another worker", async () => {
    const r = await store.enqueueReply(reply({ repositoryId }));
    expect((await store.claimReplies("w1", 10, 30)).some((x) => x.id === r.replyId)).toBe(true);
    await h.expireLeases();
    expect((await store.claimReplies("w2", 10, 30)).some((x) => x.id === r.replyId)).toBe(true);
  });
});

afterAll(() => stopTestPostgres());
