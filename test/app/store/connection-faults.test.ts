/**
 * The pool's connections to PostgreSQL, broken mid-call (reliability test 18, for a store that
 * polls rather than LISTENs): a connection killed while a call runs, one left half-open (every
 * packet dropped, nothing reset), a statement that runs too long. Each time the call fails with
 * an error in bounded time, the connection is not used again, the next call works, and the job
 * the call was for is neither lost nor changed twice. Real PostgreSQL, reached through a TCP hop
 * the test can break.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../../app/src/store/migrate.js";
import { pgClient, type SqlClient } from "../../../app/src/store/sql-client.js";
import { sqlTransport } from "../../../app/src/store/sql-transport.js";
import { Store } from "../../../app/src/store/store.js";
import { newJob } from "../../support/jobs.js";
import { stopTestPostgres, testPostgres } from "../../support/postgres.js";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.js";

let admin: SqlClient;
let url: string;
let proxy: TcpProxy;
beforeAll(async () => {
  url = await (await testPostgres()).createDatabase("faults");
  admin = pgClient(url, { max: 2 });
  await migrate(admin);
  proxy = await startTcpProxy(Number(new URL(url).port));
});
afterAll(async () => {
  await admin?.close();
  await proxy?.close();
  await stopTestPostgres();
});
beforeEach(() => proxy.heal());

/** A URL that reaches the database through the proxy. */
const throughProxy = () => {
  const u = new URL(url);
  u.port = String(proxy.port);
  return u.toString();
};

/** A store with one connection, so that "the next call works" means a new connection was made. */
function oneConnectionStore(timeouts: Parameters<typeof pgClient>[1] = {}) {
  const client = pgClient(throughProxy(), { max: 1, ...timeouts });
  return { client, store: new Store(sqlTransport(client)) };
}

/** A job, claimed: its lease token. */
async function claimedJob(store: Store) {
  const { job_id: jobId } = await store.call("createJob", newJob({ deliveryId: `d-${Math.random()}`, commentId: Math.floor(Math.random() * 1e12) }));
  const claimed = await store.call("claimJobs", { worker: "w", limit: 100, leaseSeconds: 60, maxActive: 100 });
  const mine = claimed.find((j) => j.id === jobId);
  expect(mine).toBeDefined();
  return { jobId, token: mine!.token };
}

/** Holds the job's row locked on the admin connection until `release` is called. */
async function lockRow(jobId: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const session = admin.withSession(async (s) => {
    await s.exec("begin");
    await s.query("select 1 from public.bisect_jobs where id = $1 for update", [jobId]);
    locked();
    await released;
    await s.exec("commit");
  });
  await isLocked;
  return async () => {
    release();
    await session;
  };
}

/** Waits until a backend other than the admin's waits on a lock, and answers its pid. */
async function waitingBackend(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await admin.query<{ pid: number }>(
      "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%bisect_record_dispatch%'",
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no call came to wait on the lock");
}

describe("a connection broken while a call runs", () => {
  it("killed by the server mid-call (pg_terminate_backend): the call fails at once, the job is unchanged, and the same call on a new connection records it once", async () => {
    const { client, store } = oneConnectionStore();
    try {
      const { jobId, token } = await claimedJob(store);
      const unlock = await lockRow(jobId);
      const call = store.call("recordDispatch", { jobId, token, runId: 77, runUrl: "https://github.example/run/77", checkAfterSeconds: 60 });
      // Its failure is awaited from now on: it may come before pg_terminate_backend answers.
      const failed = expect(call).rejects.toThrow(/terminat/i);
      const pid = await waitingBackend();
      await admin.query("select pg_terminate_backend($1)", [pid]);
      await failed;
      await unlock();
      expect(await store.call("getJob", { jobId })).toMatchObject({ state: "dispatching", run_id: null });
      // The pool dropped the dead connection: the next call (on its only slot) gets a new one.
      expect(await store.call("recordDispatch", { jobId, token, runId: 77, runUrl: "https://github.example/run/77", checkAfterSeconds: 60 })).toBe(true);
      expect(await store.call("getJob", { jobId })).toMatchObject({ state: "dispatched", run_id: 77 });
    } finally {
      await client.close();
    }
  });

  it("reset by the network mid-call: the call fails at once; what the server had begun it finishes, once, and the next call works", async () => {
    const { client, store } = oneConnectionStore();
    try {
      const { jobId, token } = await claimedJob(store);
      const unlock = await lockRow(jobId);
      const call = store.call("recordDispatch", { jobId, token, runId: 78, runUrl: "https://github.example/run/78", checkAfterSeconds: 60 });
      await waitingBackend();
      proxy.resetAll();
      await expect(call).rejects.toThrow();
      await unlock();
      // The server only learns of the reset when it answers: the call took effect, and only once.
      // A worker that saw the error cannot know that; the job's lease and state tell its successor.
      await expect.poll(async () => (await store.call("getJob", { jobId }))?.run_id).toBe(78);
      expect(await store.call("recordDispatch", { jobId, token, runId: 99, runUrl: "https://github.example/run/99", checkAfterSeconds: 60 })).toBe(false);
      expect(await store.call("getJob", { jobId })).toMatchObject({ state: "dispatched", run_id: 78 });
    } finally {
      await client.close();
    }
  });

  it("left half-open (every packet dropped, nothing reset): the call fails after the query timeout, not TCP's minutes, and a new connection works once the network is back", async () => {
    const { client, store } = oneConnectionStore({ timeouts: { queryTimeoutMs: 1_000 } });
    try {
      const { jobId, token } = await claimedJob(store);
      proxy.blackhole();
      const started = Date.now();
      await expect(store.call("recordDispatch", { jobId, token, runId: 79, runUrl: "https://github.example/run/79", checkAfterSeconds: 60 })).rejects.toThrow(
        /timeout/i,
      );
      // Bounded by the query timeout (1 s), with room for a slow machine; TCP alone would wait minutes.
      expect(Date.now() - started).toBeLessThan(20_000);
      proxy.heal();
      expect(await store.call("recordDispatch", { jobId, token, runId: 79, runUrl: "https://github.example/run/79", checkAfterSeconds: 60 })).toBe(true);
      expect(await store.call("getJob", { jobId })).toMatchObject({ state: "dispatched", run_id: 79 });
    } finally {
      await client.close();
    }
  });
});

describe("the server's own bounds", () => {
  it("a statement past the statement timeout is cancelled by the server, and the connection serves the next call", async () => {
    const { client, store } = oneConnectionStore({ timeouts: { statementTimeoutMs: 300 } });
    try {
      await expect(client.query("select pg_sleep(5)")).rejects.toThrow(/statement timeout/);
      const { jobId } = await claimedJob(store);
      expect(await store.call("getJob", { jobId })).toMatchObject({ state: "dispatching" });
    } finally {
      await client.close();
    }
  });

  it("a session left idle inside a transaction is ended by the server: its row locks do not outlive it", async () => {
    const client = pgClient(throughProxy(), { max: 1, timeouts: { idleInTransactionMs: 300 } });
    const { client: other, store } = oneConnectionStore();
    try {
      const { jobId, token } = await claimedJob(store);
      // A client that took a lock and then went quiet (hung, or its process stopped).
      await expect(
        client.withSession(async (s) => {
          await s.exec("begin");
          await s.query("select 1 from public.bisect_jobs where id = $1 for update", [jobId]);
          await new Promise((r) => setTimeout(r, 1_000));
          await s.exec("commit");
        }),
      ).rejects.toThrow(/idle-in-transaction|terminat|connection error/i);
      expect(await store.call("recordDispatch", { jobId, token, runId: 80, runUrl: "https://github.example/run/80", checkAfterSeconds: 60 })).toBe(true);
    } finally {
      await client.close();
      await other.close();
    }
  });
});
