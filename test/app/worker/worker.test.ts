/**
 * The worker loop with a real store (PGlite) and a GitHub that never answers: whatever it claimed —
 * a task or a job — keeps its lease while the GitHub call hangs, so no other worker takes it over;
 * on stop it gives everything back uncounted, and it claims nothing more once stopping.
 */
import { Probot, type Logger } from "probot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { readSettings } from "../../../app/src/settings.js";
import type { Store } from "../../../app/src/store/store.js";
import { Worker } from "../../../app/src/worker/worker.js";
import { newJob } from "../../support/jobs.js";
import { openTestStore, type TestStore } from "../../support/store.js";

const LEASE_SECONDS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Probot's own logger (it exists once an app is loaded), quiet. */
async function silentLog(): Promise<Logger> {
  const probot = new Probot({ appId: 1, privateKey: "unused", logLevel: "fatal" });
  await probot.load(() => undefined);
  return probot.log;
}

let t: TestStore;
let store: Store;
/** GitHub calls that never return, as during an outage that hangs instead of failing. */
let hung = 0;
let worker: Worker;

beforeEach(async () => {
  t = await openTestStore("pglite");
  store = t.store;
  hung = 0;
  worker = new Worker({
    store,
    settings: readSettings({ LEASE_SECONDS: String(LEASE_SECONDS), WORKER_POLL_MS: "60000" }),
    workerId: "worker-under-test",
    octokitFor: () => {
      hung++;
      return new Promise(() => undefined);
    },
    log: await silentLog(),
  });
});
afterEach(() => t?.close());

function command(commentId: number) {
  return store.call("enqueueTask", {
    kind: "command",
    deliveryId: `delivery-${commentId}`,
    repository: "octo-org/widgets",
    repositoryId: 5_000_000_001,
    installationId: 7_000_000_001,
    issueNumber: 42,
    commentId,
    payload: { body: "/bisect v1.4..main -- npm test", requester: "octocat", isPullRequest: false, commentedAt: "2026-12-01T12:00:00Z" },
  });
}

async function row(table: "bisect_tasks" | "bisect_jobs", id: number) {
  const { rows } = await t.admin.query<{ state: string; attempts: number; locked_by: string | null; live: boolean }>(
    `select state, attempts, locked_by, coalesce(lease_expires_at > now(), false) as live from public.${table} where id = $1`,
    [id],
  );
  return rows[0];
}

describe("the worker loop", () => {
  it("keeps a claimed task's lease alive while its GitHub call hangs, then gives it back on stop, uncounted", async () => {
    const { task_id } = await command(3_000_000_001);
    await worker.tick();
    expect(worker.inflightCount).toBe(1);
    expect(hung).toBe(1);

    // Past two lease lengths: without the keeper another worker would take it over.
    await sleep(LEASE_SECONDS * 2_000 + 500);
    expect(await row("bisect_tasks", task_id)).toEqual({ state: "pending", attempts: 1, locked_by: "worker-under-test", live: true });
    expect(await store.call("claimTasks", { worker: "another-worker", limit: 10, leaseSeconds: 30 })).toEqual([]);

    await worker.stop(100);
    expect(await row("bisect_tasks", task_id)).toEqual({ state: "pending", attempts: 0, locked_by: null, live: false });
    // Given back: the next worker takes it at once.
    expect(await store.call("claimTasks", { worker: "another-worker", limit: 10, leaseSeconds: 30 })).toMatchObject([{ id: task_id, attempts: 1 }]);
  });

  it("keeps a claimed job's lease while its dispatch hangs, and on stop puts it back in the queue with its attempt uncounted", async () => {
    const { job_id } = await store.call("createJob", newJob());
    await worker.tick();
    expect(hung).toBe(1);
    await sleep(LEASE_SECONDS * 2_000 + 500);
    expect(await row("bisect_jobs", job_id)).toEqual({ state: "dispatching", attempts: 1, locked_by: "worker-under-test", live: true });
    expect(await store.call("claimJobs", { worker: "another-worker", limit: 10, leaseSeconds: 30, maxActive: 4 })).toEqual([]);

    await worker.stop(100);
    expect(await row("bisect_jobs", job_id)).toEqual({ state: "queued", attempts: 0, locked_by: null, live: false });
  });

  it("claims nothing once it is stopping", async () => {
    await worker.stop(100);
    const { task_id } = await command(3_000_000_002);
    const { job_id } = await store.call("createJob", newJob());
    await worker.tick();
    expect(worker.inflightCount).toBe(0);
    expect(hung).toBe(0);
    expect(await row("bisect_tasks", task_id)).toMatchObject({ attempts: 0, locked_by: null });
    expect(await row("bisect_jobs", job_id)).toMatchObject({ state: "queued", attempts: 0, locked_by: null });
  });

  describe("passes come when work does, not at the next poll (a minute away here)", () => {
    /** A worker whose GitHub calls fail at once (the installation is gone): each item ends quickly. */
    async function failingWorker(concurrency: number) {
      const calls: number[] = [];
      const w = new Worker({
        store,
        settings: readSettings({ LEASE_SECONDS: "30", WORKER_POLL_MS: "60000", WORKER_CONCURRENCY: String(concurrency) }),
        workerId: "waking-worker",
        octokitFor: () => {
          calls.push(Date.now());
          return Promise.reject(new Error("installation gone"));
        },
        log: await silentLog(),
      });
      return { w, calls };
    }

    it("a command stored while the loop sleeps is claimed when the loop is woken", async () => {
      const { w, calls } = await failingWorker(4);
      w.start();
      await vi.waitFor(() => expect(w.alive).toBe(true));
      await command(3_000_000_010);
      w.wake();
      await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 10_000 });
      await w.stop(100);
    });

    it("when an item ends and the last claim took all the room, the next is claimed without waiting", async () => {
      const { w, calls } = await failingWorker(1);
      for (const id of [3_000_000_011, 3_000_000_012, 3_000_000_013]) await command(id);
      w.start();
      await vi.waitFor(() => expect(calls).toHaveLength(3), { timeout: 10_000 });
      await w.stop(100);
    });
  });
});
