/**
 * The container image, built from the root Dockerfile and run on this machine. There is no Docker
 * daemon here: buildah builds it (scripts/image/build.sh) on a local stand-in for the official
 * node:24-bookworm-slim (scripts/image/build-base.sh), and `buildah run --isolation chroot` runs
 * it on the host network, without a PID namespace, so the App's node process is visible here.
 * Every run starts exactly what the image's ENTRYPOINT and CMD say, as `docker run` would.
 *
 * As root, with buildah and mmdebstrap (.ci/run installs them):
 *   npx vitest run --config test/image/vitest.config.ts
 * The main suite skips this file (it needs BISECT_IMAGE_TEST, which that config sets).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { randomUUID } from "node:crypto";
import { APP_ID, INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, WEBHOOK_SECRET, appKeys } from "../support/app-harness.js";
import { startGitHubDouble } from "../support/github-double/index.js";
import { issueCommentPayload } from "../support/webhooks.js";
import { startPostgres, type OwnPostgresServer } from "../support/postgres.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUILDAH = join(ROOT, "scripts/image/buildah.sh");
const IMAGE = "localhost/bisect-bot:image-test";
/** Kubernetes' default grace period is 30 s; the App promises to be gone well within it. */
const SIGTERM_LIMIT_MS = 15_000;

/** What `buildah inspect --type image` says about the image's configuration (Docker format). */
const imageConfigSchema = z.object({
  Docker: z.object({
    config: z.object({
      User: z.string(),
      Env: z.array(z.string()),
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
      Healthcheck: z.object({ Test: z.array(z.string()) }).nullish(),
    }),
  }),
});
type ImageConfig = z.infer<typeof imageConfigSchema>["Docker"]["config"];

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs a program to its end, output (stdout and stderr together) kept. */
function execute(file: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, output }));
  });
}

async function buildah(...args: string[]): Promise<string> {
  const result = await execute(BUILDAH, args);
  if (result.code !== 0) throw new Error(`buildah ${args.join(" ")} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
  return result.output.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A container from the image, started as `docker run IMAGE [args]` would start it. */
interface Running {
  child: ChildProcess;
  exited: Promise<Finished>;
  output(): string;
}

const containers: string[] = [];
const children: ChildProcess[] = [];
let config: ImageConfig;

/** Starts `command` in a fresh working container from the image, `env` added to the image's, `volumes` (host:container[:options]) mounted. */
async function startContainer(command: string[], env: Record<string, string>, volumes: string[] = []): Promise<Running> {
  const name = `bisect-image-test-${process.pid}-${containers.length}`;
  containers.push(name);
  await buildah("from", "--quiet", "--name", name, IMAGE);
  const flags = [...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]), ...volumes.flatMap((v) => ["--volume", v])];
  const child = spawn(BUILDAH, ["run", "--isolation", "chroot", ...flags, name, "--", ...command], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<Finished>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, output }));
    child.on("error", (error) => resolve({ code: null, signal: null, output: `${output}\n${error.message}` }));
  });
  return { child, exited, output: () => output };
}

/** Starts the image as `docker run IMAGE [args]` would: its ENTRYPOINT with `args`, or with its CMD when there are none. */
function runImage(args: string[], env: Record<string, string>, volumes: string[] = []): Promise<Running> {
  return startContainer([...(config.Entrypoint ?? []), ...(args.length > 0 ? args : (config.Cmd ?? []))], env, volumes);
}

/** Runs the image to its end. */
async function runImageToEnd(args: string[], env: Record<string, string>): Promise<Finished> {
  return (await runImage(args, env)).exited;
}

/** Process ids under `pid` (no PID namespace here: the container's processes are ours to see). */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid …; comm may hold spaces and parentheses: read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** The App's node process in a running container: its command line is the image's ENTRYPOINT. */
async function appProcess(running: Running): Promise<{ pid: number; status: string }> {
  const entrypoint = (config.Entrypoint ?? []).slice(1).join("\0");
  for (const pid of await descendants(running.child.pid ?? -1)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const [argv0, ...rest] = cmdline.replace(/\0$/, "").split("\0");
    if (argv0?.endsWith("/node") && rest.join("\0") === entrypoint) return { pid, status: await readFile(`/proc/${pid}/status`, "utf8") };
  }
  throw new Error(`No node process running ${config.Entrypoint?.join(" ")} under buildah run (pid ${running.child.pid}):\n${running.output()}`);
}

/** Waits until /health/ready answers 200; fails with the App's output when it exits first. */
async function waitUntilReady(running: Running, port: number): Promise<void> {
  let exited: Finished | undefined;
  void running.exited.then((f) => (exited = f));
  for (let attempt = 0; attempt < 1200; attempt++) {
    if (exited) throw new Error(`The App exited (${exited.code ?? exited.signal}) before it was ready:\n${exited.output}`);
    const status = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(100);
  }
  throw new Error(`/health/ready did not answer 200 within 2 minutes:\n${running.output()}`);
}

describe.skipIf(!process.env.BISECT_IMAGE_TEST)("the container image (buildah, on a local node:24-bookworm-slim)", () => {
  let postgres: OwnPostgresServer;
  let secrets: string;
  const measured: Record<string, string> = {};

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error("The image test builds and runs containers with buildah as root: run it as root (.ci/run does).");
    const started = performance.now();
    const build = await execute(join(ROOT, "scripts/image/build.sh"), [IMAGE]);
    if (build.code !== 0) throw new Error(`scripts/image/build.sh ${IMAGE} failed (exit ${build.code}):\n${build.output.slice(-5000)}`);
    measured["build (s)"] = ((performance.now() - started) / 1000).toFixed(1);
    config = imageConfigSchema.parse(JSON.parse(await buildah("inspect", "--type", "image", IMAGE))).Docker.config;
    measured["image size"] = await buildah("images", "--format", "{{.Size}}", IMAGE);
    measured["storage driver"] = await buildah("--driver");
    postgres = await startPostgres();
    // The key reaches the App as a mounted file (PRIVATE_KEY_PATH), as a secret would.
    secrets = await mkdtemp(join(tmpdir(), "bisect-image-secrets-"));
    // The App runs as uid 1000: it must reach the file (a throw-away key, made for this run).
    await chmod(secrets, 0o755);
    await writeFile(join(secrets, "private-key.pem"), appKeys().privateKey, { mode: 0o644 });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const name of containers) await execute(BUILDAH, ["rm", name]);
    await postgres?.stop();
    if (secrets) await rm(secrets, { recursive: true, force: true });
    console.log(
      `Image ${IMAGE}: ${Object.entries(measured)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  });

  test("is configured as the deployment contract says: non-root, the App on 0.0.0.0:3000 in production, a HEALTHCHECK", () => {
    expect(config.User).toBe("node");
    expect(config.Env).toEqual(expect.arrayContaining(["NODE_ENV=production", "HOST=0.0.0.0", "PORT=3000"]));
    expect(Object.keys(config.ExposedPorts ?? {})).toContain("3000/tcp");
    // Exec form: node is the container's first process and receives SIGTERM itself.
    expect(config.Entrypoint?.[0]).toBe("node");
    expect(config.Healthcheck?.Test[0]).toBe("CMD");
  });

  test("`migrate` applies every migration to PostgreSQL and exits 0; run again, it applies none", async () => {
    const url = await postgres.createDatabase("image");
    const first = await runImageToEnd(["migrate"], { DATABASE_URL: url });
    expect(first.output).toMatch(/applied \d+ migration/);
    expect(first.code).toBe(0);

    const files = (await readdir(join(ROOT, "supabase/migrations"))).filter((f) => f.endsWith(".sql"));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const history = await client.query<{ version: string }>("select version from supabase_migrations.schema_migrations order by version");
      expect(history.rows.map((r) => r.version)).toEqual(files.map((f) => f.slice(0, 14)).sort());
      const tables = await client.query<{ jobs: string | null; tasks: string | null }>(
        "select pg_catalog.to_regclass('public.bisect_jobs')::text as jobs, pg_catalog.to_regclass('public.bisect_tasks')::text as tasks",
      );
      expect(tables.rows[0]).toEqual({ jobs: "bisect_jobs", tasks: "bisect_tasks" });
    } finally {
      await client.end();
    }

    const again = await runImageToEnd(["migrate"], { DATABASE_URL: url });
    expect(again.output).toMatch(/no migration to apply/);
    expect(again.code).toBe(0);
  });

  test("`migrate` without a database says what to set and exits 1", async () => {
    const result = await runImageToEnd(["migrate"], {});
    expect(result.output).toMatch(/MIGRATION_DATABASE_URL/);
    expect(result.code).toBe(1);
  });

  test("an unknown argument prints the usage and exits 1", async () => {
    const result = await runImageToEnd(["migrat"], {});
    expect(result.output).toMatch(/Unknown argument 'migrat'[\s\S]*Usage/);
    expect(result.code).toBe(1);
  });

  test("the App starts from the image as uid 1000, stores a webhook, passes its HEALTHCHECK, and exits 0 on SIGTERM", async () => {
    const url = await postgres.createDatabase("image_app");
    expect((await runImageToEnd(["migrate"], { DATABASE_URL: url })).code).toBe(0);
    const github = await startGitHubDouble({ appId: APP_ID, appPublicKey: appKeys().publicKey, appSlug: "bisect-bot" });
    try {
      const port = await freePort();
      const env = {
        APP_ID: String(APP_ID),
        PRIVATE_KEY_PATH: "/run/secrets/private-key.pem",
        WEBHOOK_SECRET,
        DATABASE_URL: url,
        // HOST stays the image's 0.0.0.0; the port is a free one, the host network being shared.
        PORT: String(port),
        METRICS_PORT: "0",
        // GitHub is the double (its schemas are GitHub's): nothing leaves the machine.
        ...github.env,
      };
      const started = performance.now();
      const app = await runImage([], env, [`${secrets}:/run/secrets:ro`]);
      await waitUntilReady(app, port);
      measured["start to /health/ready (ms)"] = (performance.now() - started).toFixed(0);
      expect(app.output()).toMatch(/store: PostgreSQL at /);

      const { pid, status } = await appProcess(app);
      expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
      expect(status).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);

      // A signed comment webhook, as GitHub sends it: accepted and stored in PostgreSQL.
      const guid = randomUUID();
      const payload = issueCommentPayload({
        owner: OWNER,
        repo: REPO,
        repositoryId: REPOSITORY_ID,
        installationId: INSTALLATION_ID,
        issueNumber: 1,
        login: "maintainer",
        commentId: 1,
        body: "/bisect v1.0..main -- npm test",
      });
      const delivery = await github.deliverWebhook(`http://127.0.0.1:${port}/api/github/webhooks`, WEBHOOK_SECRET, { event: "issue_comment", payload, guid });
      expect(delivery.statusCode).toBe(200);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const stored = await client.query<{ n: number }>("select count(*)::int as n from public.bisect_tasks where delivery_id = $1", [guid]);
        expect(stored.rows[0]?.n).toBe(1);
      } finally {
        await client.end();
      }

      // The image's own HEALTHCHECK command, from a second container on the same (host) network.
      const [kind, ...check] = config.Healthcheck?.Test ?? [];
      expect(kind).toBe("CMD");
      const healthcheck = await (await startContainer(check, { PORT: String(port) })).exited;
      expect(healthcheck.code).toBe(0);

      // SIGTERM to node itself, as the runtime sends it to a container's first process.
      const stopping = performance.now();
      process.kill(pid, "SIGTERM");
      const timeout = sleep(SIGTERM_LIMIT_MS).then(() => undefined);
      const result = await Promise.race([app.exited, timeout]);
      if (result === undefined) throw new Error(`The App did not exit within ${SIGTERM_LIMIT_MS / 1000} s of SIGTERM:\n${app.output()}`);
      measured["SIGTERM to exit (ms)"] = (performance.now() - stopping).toFixed(0);
      expect(result.output).toMatch(/SIGTERM: stopping/);
      expect(result.code).toBe(0);
    } finally {
      await github.close();
    }
  });
});
