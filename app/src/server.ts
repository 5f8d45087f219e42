import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createProbot, type Probot, type ProbotOctokit } from "probot";
import { z } from "zod";
import { BisectApp } from "./app.js";
import { metricsOnly, readiness } from "./http/routes.js";
import { AppMetrics, DATABASE_WAIT_MS, within } from "./metrics.js";
import { readSettings, workerId as makeWorkerId, type Settings } from "./settings.js";
import { openStore } from "./store/open-store.js";
import { startRetention } from "./store/retention.js";
import { errorMessage } from "../../action/src/error-message.js";
import type { Store } from "./store/store.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => boolean | void | Promise<boolean | void>;

/** What the webhook endpoint lets a sender do before its delivery is known to come from GitHub. */
export interface IngressLimits {
  /** Bytes of one delivery: refused from its declared length, or cut off at the first byte past it. */
  maxBodyBytes: number;
  /** Deliveries whose body is being read at once, before their signature is checked; more get 503. */
  maxUnverifiedBodies: number;
  /** Node's `requestTimeout`: the whole request, headers and body, must arrive within it (408 otherwise). */
  requestTimeoutMs: number;
  /** Node's `headersTimeout`: the headers must arrive within it (at most `requestTimeoutMs`). */
  headersTimeoutMs: number;
}

export const INGRESS_LIMITS: IngressLimits = {
  // GitHub caps a webhook payload at 25 MB.
  maxBodyBytes: 25 * 1024 * 1024,
  // A delivery from GitHub is read in well under a millisecond, so a few at once is plenty even at
  // hundreds a second; the bound caps what unauthenticated senders can make us buffer (16 × 25 MB).
  maxUnverifiedBodies: 16,
  // GitHub gives up on a delivery after 10 s: a request still arriving after 15 s is not GitHub's,
  // and must not hold a slot any longer.
  requestTimeoutMs: 15_000,
  headersTimeoutMs: 10_000,
};

/**
 * How often Node looks for requests past their timeouts (its default, 30 s, would let a slow sender
 * keep a slot three times longer than `requestTimeoutMs`).
 */
const TIMEOUT_CHECK_MS = 1_000;

export interface RunningServer {
  url: string;
  port: number;
  app: BisectApp;
  store: Store;
  settings: Settings;
  workerId: string;
  /** Deliveries whose body is being read right now, before their signature is checked. */
  readonly unverifiedBodies: number;
  /** The instance's Prometheus metrics. */
  metrics: AppMetrics;
  /** The metrics listener (METRICS_PORT): `GET /metrics` without the admin token; null when METRICS_PORT is 0. */
  metricsUrl: string | null;
  /** The App's logger (JSON lines in production, or with LOG_FORMAT=json). */
  log: Probot["log"];
  /**
   * Graceful shutdown: /health answers 503 at once (a load balancer stops sending), the worker
   * drains and gives back its leases while webhooks are still accepted and stored; then the server
   * stops listening, requests in flight finish, and only then is the store closed.
   */
  close(): Promise<void>;
}

const serverEnvSchema = z.object({
  APP_ID: z
    .string({ error: "set APP_ID to your GitHub App's numeric id (its settings page shows it)." })
    .regex(/^\d+$/, { error: "APP_ID must be your GitHub App's numeric id (its settings page shows it)." }),
  WEBHOOK_SECRET: z.string({ error: "set WEBHOOK_SECRET to your GitHub App's webhook secret: unsigned webhooks are refused." }),
  PRIVATE_KEY: z.string().optional(),
  PRIVATE_KEY_PATH: z.string().optional(),
  WEBHOOK_PATH: z.string().startsWith("/").default("/api/github/webhooks"),
  PORT: z.string().regex(/^\d+$/).default("3000"),
  HOST: z.string().default("localhost"),
  ADMIN_TOKEN: z.string().min(16, { error: "ADMIN_TOKEN must be at least 16 characters." }).optional(),
});

/** Bodies being read before their signature is checked: a count, and a bound on it. */
class UnverifiedBodies {
  count = 0;
  constructor(private readonly max: number) {}
  /** Takes a slot; false when all are taken. */
  take(): boolean {
    if (this.count >= this.max) return false;
    this.count++;
    return true;
  }
  give(): void {
    this.count--;
  }
}

/** The repository a delivery is about, for its log lines, when it names one. */
const payloadRepositorySchema = z.object({ repository: z.object({ full_name: z.string() }) });

const contentLengthSchema = z.coerce.number().int().nonnegative().optional();

type BodyRead = { kind: "body"; body: Buffer } | { kind: "too large" } | { kind: "aborted" };

/** Reads a request's body, and stops at the first byte past `maxBytes` (the rest is never read). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: BodyRead) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAborted);
      req.off("close", onAborted);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        finish({ kind: "too large" });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish({ kind: "body", body: Buffer.concat(chunks, size) });
    // The sender went away (or Node cut it off at requestTimeoutMs) before the body ended.
    const onAborted = () => finish({ kind: "aborted" });
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onAborted);
    req.once("close", onAborted);
  });
}

/** GitHub's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, compared in constant time. */
export function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || !header.startsWith("sha256=")) return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers }).end(JSON.stringify(body));
}

/**
 * The webhook endpoint: a delivery must carry a valid signature (401 otherwise, nothing
 * written), then the App's event routes run the handlers, which only write to the store; the answer is 200 when
 * the job or reply is stored, 500 when the store failed (GitHub shows the delivery as failed and
 * it can be redelivered). While the instance drains it still answers: GitHub never redelivers on
 * its own, so a delivery refused then would be lost.
 *
 * Before the signature is checked the sender is anyone: a body declared larger than the limit is
 * refused unread (413), one that turns out larger is cut off at the first byte past it, and only
 * `maxUnverifiedBodies` bodies are read at once (503 with retry-after beyond, unread).
 */
function webhookHandler(
  app: BisectApp,
  log: Probot["log"],
  secret: string,
  path: string,
  limits: IngressLimits,
  unverified: UnverifiedBodies,
  metrics: AppMetrics,
): Handler {
  return async (req, res) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== path) return false;
    const began = process.hrtime.bigint();
    // Every answer is timed, by event: "unknown" until the signature and the event's name are known.
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}, event = "unknown") => {
      json(res, status, body, headers);
      metrics.observeWebhookAck(event, status, Number(process.hrtime.bigint() - began) / 1e9);
    };
    if (req.method !== "POST") {
      answer(405, { error: "Webhooks are POSTed." });
      return true;
    }
    // The body is left unread: the connection is closed after the answer instead of kept alive.
    const tooLarge = () =>
      answer(413, { error: `A delivery larger than ${limits.maxBodyBytes} bytes is not from GitHub (GitHub sends at most 25 MB).` }, { connection: "close" });
    const declared = contentLengthSchema.safeParse(req.headers["content-length"]);
    if (declared.success && declared.data !== undefined && declared.data > limits.maxBodyBytes) {
      tooLarge();
      return true;
    }
    if (!unverified.take()) {
      answer(503, { error: "Too many deliveries are arriving at once; redeliver in a few seconds." }, { connection: "close", "retry-after": "5" });
      return true;
    }
    let read: BodyRead;
    try {
      read = await readBody(req, limits.maxBodyBytes);
    } finally {
      unverified.give();
    }
    if (read.kind === "aborted") return true;
    if (read.kind === "too large") {
      tooLarge();
      return true;
    }
    const body = read.body;
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (!signatureMatches(secret, body, header("x-hub-signature-256"))) {
      answer(401, { error: "Missing or wrong X-Hub-Signature-256: check that WEBHOOK_SECRET matches the GitHub App's webhook secret." }, {}, "invalid");
      return true;
    }
    const id = header("x-github-delivery");
    const name = header("x-github-event");
    if (!id || !name) {
      answer(400, { error: "Missing X-GitHub-Delivery or X-GitHub-Event." });
      return true;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      answer(400, { error: "The body is not JSON." }, {}, name);
      return true;
    }
    try {
      await app.receive({ id, name, payload });
      answer(200, { ok: true }, {}, name);
    } catch (error) {
      const repository = payloadRepositorySchema.safeParse(payload);
      log.error(
        { err: error, delivery: id, event: name, ...(repository.success ? { repository: repository.data.repository.full_name } : {}) },
        "webhook failed",
      );
      answer(500, { error: "The delivery could not be stored; redeliver it from the App's settings." }, {}, name);
    }
    return true;
  };
}

/** Listens on host:port; answers the port (the one the system chose, for port 0). */
function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      // Listening on host:port gives a TCP address; a pipe name (a string) or null would be a bug here.
      if (address === null || typeof address === "string") reject(new Error(`The server listens on ${String(address)}, not on a TCP port.`));
      else resolve(address.port);
    });
  });
}

/**
 * Probot's environment, with its log format decided: JSON lines (one object per line, for a log
 * collector) when LOG_FORMAT=json, or in production (NODE_ENV=production) unless LOG_FORMAT says
 * otherwise; Probot's pretty lines elsewhere.
 */
export function logEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  if (env.LOG_FORMAT || env.NODE_ENV !== "production") return env;
  return { ...env, LOG_FORMAT: "json" };
}

/**
 * Starts the App: opens the store, loads the Probot app (Probot's own variables: APP_ID,
 * PRIVATE_KEY / PRIVATE_KEY_PATH, WEBHOOK_SECRET, WEBHOOK_PATH, LOG_LEVEL, GHE_HOST,
 * GHE_PROTOCOL), starts the worker loop and listens on HOST:PORT.
 */
export async function startServer(
  env: Record<string, string | undefined> = process.env,
  overrides: { store?: Store; startWorker?: boolean; Octokit?: typeof ProbotOctokit; ingress?: Partial<IngressLimits> } = {},
): Promise<RunningServer> {
  const parsed = serverEnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(
      issue.message.startsWith("set ") || issue.message.includes(String(issue.path[0])) ? issue.message : `${String(issue.path[0])}: ${issue.message}`,
    );
  }
  const serverEnv = parsed.data;
  if (!serverEnv.PRIVATE_KEY && !serverEnv.PRIVATE_KEY_PATH) {
    throw new Error("set PRIVATE_KEY (the PEM text, or base64 of it) or PRIVATE_KEY_PATH (the .pem file you downloaded from the GitHub App's settings).");
  }
  const settings = readSettings(env);
  const store = overrides.store ?? (await openStore(env));
  const workerId = makeWorkerId();
  const probot = createProbot({ env: logEnv(env), ...(overrides.Octokit ? { overrides: { Octokit: overrides.Octokit } } : {}) });
  const metrics: AppMetrics = new AppMetrics({
    store,
    workerId,
    // Read at scrape time, once the app below exists.
    ready: async () => (await readiness({ store, worker: () => app.worker })).ready,
    workerEvents: () => ({ ...app.worker?.counters }),
  });
  const app: BisectApp = new BisectApp({ store, settings, workerId, adminToken: serverEnv.ADMIN_TOKEN, startWorker: overrides.startWorker ?? true, metrics });
  const limits: IngressLimits = { ...INGRESS_LIMITS, ...overrides.ingress };
  const unverified = new UnverifiedBodies(limits.maxUnverifiedBodies);
  const handlers: Handler[] = [];
  await probot.load(app.appFn, { cwd: process.cwd(), addHandler: (h: Handler) => handlers.push(h) });
  handlers.push(webhookHandler(app, probot.log, serverEnv.WEBHOOK_SECRET, serverEnv.WEBHOOK_PATH, limits, unverified, metrics));

  // Requests being answered: the store stays open until they are done.
  let inFlight = 0;
  let allAnswered: (() => void) | undefined;
  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    inFlight++;
    try {
      for (const handler of handlers) if (await handler(req, res)) return;
      json(res, 404, { error: "Not found." });
    } catch (error) {
      probot.log.error({ err: error }, "request failed");
      if (!res.headersSent) json(res, 500, { error: "Internal error." });
    } finally {
      if (--inFlight === 0) allAnswered?.();
    }
  };
  // Node does not wait for a request listener: respond answers every request itself, 500 on an error.
  const server: Server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, limits.requestTimeoutMs / 4),
    },
    (req, res) => void respond(req, res),
  );
  // Prometheus scrapes the metrics listener at the pod's address; it answers nothing but /metrics.
  const metricsServer =
    settings.METRICS_PORT === 0
      ? null
      : createServer({ requestTimeout: limits.requestTimeoutMs, headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) }, (req, res) => {
          metricsOnly(metrics)(req, res).catch((error: unknown) => {
            probot.log.error({ err: error }, "metrics scrape failed");
            if (!res.headersSent) json(res, 500, { error: "Internal error." });
          });
        });
  let port: number;
  let metricsPort: number | null = null;
  try {
    if (metricsServer) {
      metricsPort = await listen(metricsServer, settings.METRICS_PORT, serverEnv.HOST).catch((error: unknown) => {
        throw new Error(
          `METRICS_PORT=${settings.METRICS_PORT}: the metrics listener could not listen on ${serverEnv.HOST}:${settings.METRICS_PORT} (${errorMessage(error)}). Set METRICS_PORT to a free port, or to 0 to turn the metrics listener off.`,
        );
      });
    }
    port = await listen(server, Number(serverEnv.PORT), serverEnv.HOST);
  } catch (error) {
    // Nothing may outlive a start that failed: the worker loop, the other listener, the store.
    await app.stop();
    metricsServer?.close();
    if (!overrides.store) await store.close();
    throw error;
  }
  const host = serverEnv.HOST.includes(":") ? `[${serverEnv.HOST}]` : serverEnv.HOST;
  // Finished tasks and claim records past RETENTION_DAYS go, in batches, hourly (with the worker).
  const retention = (overrides.startWorker ?? true) ? startRetention(store, settings.RETENTION_DAYS, probot.log) : undefined;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    app,
    store,
    settings,
    workerId,
    metrics,
    metricsUrl: metricsPort === null ? null : `http://${host}:${metricsPort}`,
    log: probot.log,
    get unverifiedBodies() {
      return unverified.count;
    },
    close: () =>
      (closing ??= (async () => {
        // The worker stops claiming at once (so /health fails and a load balancer stops sending)
        // and drains; meanwhile webhooks are still stored and answered.
        retention?.stop();
        await app.stop();
        // No new connections from here; idle keep-alive ones close now. A request cannot take
        // longer than requestTimeoutMs to arrive, so that bounds the wait for those in flight.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => {
          if (inFlight === 0) return resolve();
          allAnswered = resolve;
          setTimeout(resolve, limits.requestTimeoutMs).unref();
        });
        server.closeAllConnections();
        await closed;
        // Another instance reports the cluster's numbers from its next scrape on; this one's
        // listener stays up until here, so a scrape during the drain still sees it.
        // Bounded: a database that does not answer must not hold the shutdown (the lease expires anyway).
        await within(
          metrics.releaseReporter().catch((error: unknown) => probot.log.warn({ err: error }, "could not give up the metrics reporter lease")),
          DATABASE_WAIT_MS,
          undefined,
        );
        if (metricsServer) {
          const metricsClosed = new Promise<void>((resolve) => metricsServer.close(() => resolve()));
          metricsServer.closeAllConnections();
          await metricsClosed;
        }
        if (!overrides.store) await store.close();
      })()),
  };
}
