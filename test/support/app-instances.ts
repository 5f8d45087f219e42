/**
 * Test support: App instances as real processes (`app/src/main.ts`, what `npm start` runs), and
 * the gate, an HTTP hop between them and the GitHub double that holds chosen requests open, before
 * or after the double saw them — so a test can kill an instance (SIGKILL) at an exact point of a
 * conversation with GitHub (kill-loop.test.ts, fan-out-faults.test.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

// ---- The gate: an HTTP hop in front of the double that holds chosen requests open ----------

/**
 * What the gate does with a request: null forwards it; `answered: false` holds it without
 * forwarding (the double never sees it); `answered: true` forwards it and holds the double's
 * answer (the double acted on it, the caller never hears). Held requests are counted by `hold`.
 */
export type GateVerdict = { hold: string; answered: boolean } | null;

export interface Gate {
  /** `host:port`, for the App's GHE_HOST. */
  host: string;
  /** How many requests are held under this label. */
  held(label: string): number;
  close(): Promise<void>;
}

/** `decide` sees each request's method, path (without the query) and body (text). */
export async function startGate(target: string, decide: (method: string, path: string, body: string) => GateVerdict): Promise<Gate> {
  const held: { label: string; res: ServerResponse }[] = [];
  const forward = async (req: IncomingMessage, body: Buffer) => {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string" && !["host", "connection", "content-length", "transfer-encoding"].includes(name)) headers.set(name, value);
    }
    const response = await fetch(`${target}${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      headers,
      ...(body.length > 0 ? { body } : {}),
      redirect: "manual",
    });
    const answer = Buffer.from(await response.arrayBuffer());
    const answerHeaders = [...response.headers].filter(([name]) => !["content-encoding", "content-length", "transfer-encoding", "connection"].includes(name));
    return { status: response.status, headers: Object.fromEntries(answerHeaders), body: answer };
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const verdict = decide(req.method ?? "GET", new URL(req.url ?? "/", "http://gate").pathname, body.toString("utf8"));
      if (verdict && !verdict.answered) {
        held.push({ label: verdict.hold, res });
        return;
      }
      forward(req, body).then(
        (answer) => {
          if (verdict) held.push({ label: verdict.hold, res });
          else res.writeHead(answer.status, answer.headers).end(answer.body);
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the gate listens on no TCP port");
  return {
    host: `127.0.0.1:${address.port}`,
    // Only those still open: a request whose client went away (an instance killed) is held no more.
    held: (label) => held.filter((h) => h.label === label && !h.res.destroyed && !h.res.writableEnded).length,
    close: async () => {
      for (const h of held) h.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- App processes ----------------------------------------------------------------------------

export interface Instance {
  child: ChildProcess;
  url: string;
  exited: Promise<NodeJS.Signals | number | null>;
}

/** Starts `app/src/main.ts` (what `npm start` runs) and waits for its "listening" line. */
export function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", "tsx", "app/src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1]!, exited });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`the App exited with ${code}:\n${output}`)));
  });
}

/** Polls `condition` every 50 ms; throws, saying `what` (or what it answers), after `timeoutMs`. */
export async function until(what: string | (() => Promise<string>), condition: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${typeof what === "string" ? what : await what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
