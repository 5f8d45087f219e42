/**
 * The webhook endpoint under stress, seen from the sender's side of the socket: an instance that
 * drains still stores and acknowledges what arrives (GitHub never redelivers on its own); a body
 * larger than the limit is refused unread when declared and cut off at the first byte past the
 * limit when streamed; only a few unauthenticated bodies are read at once (503 with retry-after
 * beyond, unread), and a sender that never finishes is cut off, freeing its slot.
 */
import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../app/src/server.js";
import { pgClient } from "../../app/src/store/sql-client.js";
import { Worker } from "../../app/src/worker/worker.js";
import { appEnv, FastRetryOctokit, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, startHarness, WEBHOOK_SECRET, type Harness } from "../support/app-harness.js";
import { testPostgres } from "../support/postgres.js";
import { deliver, issueCommentPayload, sign } from "../support/webhooks.js";

const FULL = `${OWNER}/${REPO}`;
const COMMAND = "/bisect v1.0..main -- npm test";
const WEBHOOK_PATH = "/api/github/webhooks";

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An HTTP/1.1 request written by hand on its own socket, so a test controls every byte the server gets. */
interface RawRequest {
  /** Writes body bytes (resolves once the socket took them). */
  write(data: string | Buffer): Promise<void>;
  /** Body bytes written so far. */
  readonly bodyBytes: number;
  /** The answer's status, as soon as its status line arrives. */
  status: Promise<number>;
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<string>;
  destroy(): void;
}

function rawPost(baseUrl: string, headers: Record<string, string>): RawRequest {
  const url = new URL(WEBHOOK_PATH, baseUrl);
  const socket: Socket = connect(Number(url.port), url.hostname);
  let received = "";
  let bodyBytes = 0;
  let gotStatus!: (status: number) => void;
  const status = new Promise<number>((resolve) => (gotStatus = resolve));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    const line = /^HTTP\/1\.1 (\d{3})/.exec(received);
    if (line) gotStatus(Number(line[1]));
  });
  // Writes after the server closed fail (EPIPE, ECONNRESET): what the server answered is what counts.
  socket.on("error", () => undefined);
  const head = [`POST ${url.pathname} HTTP/1.1`, `host: ${url.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
  socket.write(head);
  return {
    write: (data) =>
      new Promise((resolve) => {
        bodyBytes += Buffer.byteLength(data);
        socket.write(data, () => resolve());
      }),
    get bodyBytes() {
      return bodyBytes;
    },
    status,
    closed,
    destroy: () => socket.destroy(),
  };
}

/** GitHub's headers for an `issue_comment` delivery, without a signature unless given. */
function githubHeaders(extra: Record<string, string>): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/bisect-test",
    "x-github-event": "issue_comment",
    "x-github-delivery": randomUUID(),
    "x-github-hook-id": "1",
    ...extra,
  };
}

/** One chunk of a `transfer-encoding: chunked` body. */
const chunk = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
const LAST_CHUNK = "0\r\n\r\n";

let h: Harness;
let nextCommentId = 4_300_000_000;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());
afterEach(() => {
  expect(h.double.violations).toEqual([]);
});

/** A `/bisect` comment that exists on GitHub: its payload, and its body and headers as GitHub signs them. */
function commandDelivery(issueNumber: number): { payload: Record<string, unknown>; body: Buffer; headers: Record<string, string>; commentId: number } {
  const commentId = ++nextCommentId;
  h.double.addComment(FULL, issueNumber, { body: COMMAND, user: "maintainer", id: commentId });
  const payload = issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber,
    login: "maintainer",
    commentId,
    body: COMMAND,
  });
  const text = JSON.stringify(payload);
  const body = Buffer.from(text);
  return { payload, body, commentId, headers: githubHeaders({ "content-length": String(body.length), "x-hub-signature-256": sign(WEBHOOK_SECRET, text) }) };
}

/** Posts a signed `/bisect` comment delivery with fetch, as GitHub would. */
async function deliverCommand(baseUrl: string, issueNumber: number): Promise<number> {
  return (await deliver(`${baseUrl}${WEBHOOK_PATH}`, WEBHOOK_SECRET, { event: "issue_comment", payload: commandDelivery(issueNumber).payload })).status;
}

/** True once nothing listens on the port any more. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(port, "127.0.0.1");
    probe.once("connect", () => {
      probe.destroy();
      resolve(false);
    });
    probe.once("error", () => resolve(true));
  });
}

async function commandsStored(issueNumber: number): Promise<number> {
  const { rows } = await h.db.client.query<{ n: number }>(
    "select count(*)::int as n from public.bisect_tasks where kind = 'command' and repository_id = $1 and issue_number = $2",
    [REPOSITORY_ID, issueNumber],
  );
  return rows[0]!.n;
}

describe("an instance that is shutting down", () => {
  it("stores and acknowledges a webhook that arrives while its worker drains; /health fails at once; another instance makes the job", async () => {
    // A second instance on the harness's store, whose worker's GitHub call hangs until released.
    const draining = await startServer(h.env, { store: h.store, startWorker: false, Octokit: FastRetryOctokit });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let githubCalls = 0;
    const worker = new Worker({
      store: h.store,
      settings: draining.settings,
      workerId: draining.workerId,
      octokitFor: async (installationId) => {
        githubCalls++;
        await held;
        return draining.app.probot!.auth(installationId);
      },
      log: draining.app.probot!.log,
    });
    draining.app.worker = worker;
    expect(await deliverCommand(draining.url, 2001)).toBe(200);
    await worker.tick();
    expect(githubCalls).toBe(1);
    expect((await fetch(`${draining.url}/health`)).status).toBe(200);

    const closing = draining.close();
    // Readiness fails at once, so a load balancer sends nothing more here.
    expect((await fetch(`${draining.url}/health`)).status).toBe(503);
    // What is sent anyway (GitHub, or a balancer that has not noticed yet) is stored, not refused.
    expect(await deliverCommand(draining.url, 2002)).toBe(200);
    expect(await commandsStored(2002)).toBe(1);

    release();
    await closing;
    await expect(fetch(`${draining.url}/health`)).rejects.toThrow();
    // Nothing was claimed while draining: the command that arrived then is still waiting.
    expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: 2002 })).toBeUndefined();

    // Another instance on the same store turns both into dispatched jobs.
    const other = await startServer(h.env, { store: h.store, startWorker: false, Octokit: FastRetryOctokit });
    try {
      for (let pass = 0; pass < 10; pass++) {
        await other.app.worker!.tick();
        await other.app.worker!.idle();
      }
      for (const issueNumber of [2001, 2002]) {
        expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber }), `issue ${issueNumber}`).toMatchObject({ state: "dispatched" });
      }
    } finally {
      await other.close();
    }
  });

  it("finishes a delivery still arriving when it stops listening, and closes its store only after storing it", async () => {
    // A server that owns its store (real PostgreSQL), as `npm start` runs it.
    const databaseUrl = await (await testPostgres()).createDatabase("ingress_drain");
    const server = await startServer(appEnv(h.double, { DATABASE_URL: databaseUrl }), { startWorker: false, Octokit: FastRetryOctokit });
    const admin = pgClient(databaseUrl, { max: 1 });
    try {
      const { body, headers, commentId } = commandDelivery(2003);
      const raw = rawPost(server.url, headers);
      await raw.write(body.subarray(0, 100));
      await until(() => server.unverifiedBodies === 1, "the server to read the body");

      const closing = server.close();
      await until(() => refusesConnections(server.port), "the server to stop listening");

      await raw.write(body.subarray(100));
      expect(await raw.status).toBe(200);
      await closing;
      const { rows } = await admin.query<{ n: number }>("select count(*)::int as n from public.bisect_tasks where kind = 'command' and comment_id = $1", [
        commentId,
      ]);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await server.close();
      await admin.close();
    }
  });
});

describe("bodies before the signature is checked", () => {
  /** Small, so the tests stream a few KB instead of 25 MB; a real delivery still fits. */
  const LIMIT = 64 * 1024;
  const BOUND = 3;
  let small: RunningServer;
  beforeAll(async () => {
    small = await startServer(h.env, {
      store: h.store,
      startWorker: false,
      Octokit: FastRetryOctokit,
      ingress: { maxBodyBytes: LIMIT, maxUnverifiedBodies: BOUND },
    });
  });
  afterAll(() => small?.close());

  it("a body declared larger than the limit is refused with 413 before any of it is sent, and the connection is closed", async () => {
    const raw = rawPost(small.url, githubHeaders({ "content-length": String(64 * 1024 * 1024), "x-hub-signature-256": sign(WEBHOOK_SECRET, "{}") }));
    expect(await raw.status).toBe(413);
    const answer = await raw.closed;
    expect(raw.bodyBytes).toBe(0);
    expect(answer).toContain(`larger than ${LIMIT} bytes`);
  });

  it("a streamed body is read up to the limit, and cut off with 413 at the first byte past it", async () => {
    const piece = Buffer.alloc(LIMIT / 4, "a");
    // Exactly at the limit: read whole, then refused for its signature.
    const atLimit = rawPost(small.url, githubHeaders({ "transfer-encoding": "chunked", "x-hub-signature-256": sign(WEBHOOK_SECRET, "{}") }));
    for (let i = 0; i < 4; i++) await atLimit.write(chunk(piece));
    await atLimit.write(LAST_CHUNK);
    expect(await atLimit.status).toBe(401);
    atLimit.destroy();

    // One byte more: answered without the sender having to finish (it sends nothing after that byte).
    const past = rawPost(small.url, githubHeaders({ "transfer-encoding": "chunked", "x-hub-signature-256": sign(WEBHOOK_SECRET, "{}") }));
    for (let i = 0; i < 4; i++) await past.write(chunk(piece));
    await past.write(chunk(Buffer.from("a")));
    expect(await past.status).toBe(413);
    await past.closed;
  });

  it(`${BOUND + 1} slow unauthenticated senders at once: the one past the bound gets 503 with retry-after at once, unread; slots come back`, async () => {
    const slow = Array.from({ length: BOUND }, () =>
      rawPost(small.url, githubHeaders({ "content-length": "1000", "x-hub-signature-256": `sha256=${"0".repeat(64)}` })),
    );
    for (const sender of slow) await sender.write("x".repeat(10));
    await until(() => small.unverifiedBodies === BOUND, `${BOUND} bodies being read`);

    const extra = rawPost(small.url, githubHeaders({ "content-length": "1000", "x-hub-signature-256": `sha256=${"0".repeat(64)}` }));
    expect(await extra.status).toBe(503);
    const answer = await extra.closed;
    expect(answer.toLowerCase()).toContain("retry-after: 5");
    expect(extra.bodyBytes).toBe(0);

    // The slow ones were never refused: two finish (401, their signature is wrong), one gives up.
    await slow[0]!.write("x".repeat(990));
    await slow[1]!.write("x".repeat(990));
    expect(await slow[0]!.status).toBe(401);
    expect(await slow[1]!.status).toBe(401);
    slow[2]!.destroy();
    for (const sender of slow) sender.destroy();

    // Every slot is back, the abandoned one too: the bound's worth of senders at once, none refused.
    const again = Array.from({ length: BOUND }, () =>
      rawPost(small.url, githubHeaders({ "content-length": "10", "x-hub-signature-256": `sha256=${"0".repeat(64)}` })),
    );
    for (const sender of again) await sender.write("x".repeat(10));
    expect(await Promise.all(again.map((sender) => sender.status))).toEqual(Array(BOUND).fill(401));
    for (const sender of again) sender.destroy();

    expect(await deliverCommand(small.url, 2004)).toBe(200);
    expect(await commandsStored(2004)).toBe(1);
  });

  it("a sender that never finishes its body is cut off (408) and its slot goes to the next delivery", async () => {
    const strict = await startServer(h.env, {
      store: h.store,
      startWorker: false,
      Octokit: FastRetryOctokit,
      ingress: { maxBodyBytes: LIMIT, maxUnverifiedBodies: 1, requestTimeoutMs: 500 },
    });
    try {
      const stuck = rawPost(strict.url, githubHeaders({ "content-length": "1000", "x-hub-signature-256": `sha256=${"0".repeat(64)}` }));
      await stuck.write("x");
      await until(() => strict.unverifiedBodies === 1, "the stuck body to be read");
      const refused = rawPost(strict.url, githubHeaders({ "content-length": "1000" }));
      expect(await refused.status).toBe(503);

      expect(await stuck.status).toBe(408);
      await stuck.closed;
      expect(await deliverCommand(strict.url, 2005)).toBe(200);
      expect(await commandsStored(2005)).toBe(1);
    } finally {
      await strict.close();
    }
  });
});
