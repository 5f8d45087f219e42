import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createProbot, type Probot, type ProbotOctokit } from "probot";
import { z } from "zod";
import { BisectApp } from "./app.js";
import { readSettings, workerId as makeWorkerId, type Settings } from "./settings.js";
import { openStore } from "./store/open-store.js";
import type { Store } from "./store/store.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => boolean | void | Promise<boolean | void>;

/** GitHub sends at most 25 MB per delivery. */
const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export interface RunningServer {
  url: string;
  port: number;
  app: BisectApp;
  store: Store;
  settings: Settings;
  workerId: string;
  /** Graceful shutdown: /health 503 and webhooks refused at once; leases released; then closed. */
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

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** GitHub's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, compared in constant time. */
export function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || !header.startsWith("sha256=")) return false;
  const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(body));
}

/**
 * The webhook endpoint: a delivery must carry a valid signature (401 otherwise, nothing
 * written), then Probot runs the handlers, which only write to the store; the answer is 200 when
 * the job or reply is stored, 500 when the store failed (GitHub shows the delivery as failed and
 * it can be redelivered), 503 while shutting down.
 */
function webhookHandler(probot: Probot, secret: string, path: string, stopping: () => boolean): Handler {
  return async (req, res) => {
    if (new URL(req.url ?? "/", "http://localhost").pathname !== path) return false;
    if (req.method !== "POST") {
      json(res, 405, { error: "Webhooks are POSTed." });
      return true;
    }
    const body = await readBody(req);
    if (body === null) {
      json(res, 413, { error: `A delivery larger than ${MAX_WEBHOOK_BYTES} bytes is not from GitHub.` });
      return true;
    }
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (!signatureMatches(secret, body, header("x-hub-signature-256"))) {
      json(res, 401, { error: "Missing or wrong X-Hub-Signature-256: check that WEBHOOK_SECRET matches the GitHub App's webhook secret." });
      return true;
    }
    const id = header("x-github-delivery");
    const name = header("x-github-event");
    if (!id || !name) {
      json(res, 400, { error: "Missing X-GitHub-Delivery or X-GitHub-Event." });
      return true;
    }
    if (stopping()) {
      json(res, 503, { error: "Shutting down; redeliver later." });
      return true;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      json(res, 400, { error: "The body is not JSON." });
      return true;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/consistent-type-assertions -- Probot types each payload by its event name, which a signed body of unknown shape cannot meet; the handlers parse it with their schemas
      await probot.receive({ id, name, payload } as Parameters<Probot["receive"]>[0]);
      json(res, 200, { ok: true });
    } catch (error) {
      probot.log.error({ err: error, delivery: id, event: name }, "webhook failed");
      json(res, 500, { error: "The delivery could not be stored; redeliver it from the App's settings." });
    }
    return true;
  };
}

/**
 * Starts the App: opens the store, loads the Probot app (Probot's own variables: APP_ID,
 * PRIVATE_KEY / PRIVATE_KEY_PATH, WEBHOOK_SECRET, WEBHOOK_PATH, LOG_LEVEL, GHE_HOST,
 * GHE_PROTOCOL), starts the worker loop and listens on HOST:PORT.
 */
export async function startServer(
  env: Record<string, string | undefined> = process.env,
  overrides: { store?: Store; startWorker?: boolean; Octokit?: typeof ProbotOctokit } = {},
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
  const probot = createProbot({ env, ...(overrides.Octokit ? { overrides: { Octokit: overrides.Octokit } } : {}) });
  const app = new BisectApp({ store, settings, workerId, adminToken: serverEnv.ADMIN_TOKEN, startWorker: overrides.startWorker ?? true });
  const handlers: Handler[] = [];
  let stopping = false;
  await probot.load(app.appFn, { cwd: process.cwd(), addHandler: (h: Handler) => handlers.push(h) });
  handlers.push(webhookHandler(probot, serverEnv.WEBHOOK_SECRET, serverEnv.WEBHOOK_PATH, () => stopping));

  const respond = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      for (const handler of handlers) if (await handler(req, res)) return;
      json(res, 404, { error: "Not found." });
    } catch (error) {
      probot.log.error({ err: error }, "request failed");
      if (!res.headersSent) json(res, 500, { error: "Internal error." });
    }
  };
  // Node does not wait for a request listener: respond answers every request itself, 500 on an error.
  const server: Server = createServer((req, res) => void respond(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(serverEnv.PORT), serverEnv.HOST, () => resolve());
  });
  const address = server.address();
  // Listening on HOST:PORT gives a TCP address; a pipe name (a string) or null would be a bug here.
  if (address === null || typeof address === "string") throw new Error(`The server listens on ${String(address)}, not on a TCP port.`);
  const port = address.port;
  const host = serverEnv.HOST.includes(":") ? `[${serverEnv.HOST}]` : serverEnv.HOST;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    app,
    store,
    settings,
    workerId,
    close: () =>
      (closing ??= (async () => {
        stopping = true;
        await app.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (!overrides.store) await store.close();
      })()),
  };
}
