/**
 * `npm run demo [-- --flaky] [-- --parallel 4] [-- --culprit-in merge|mainline|branch]`
 *
 * Bisect Bot end to end, offline, in under a minute: the App (on the embedded PGlite store), a
 * local GitHub (test/support/github-double: REST and GraphQL checked against GitHub's own
 * descriptions, and an Actions runner that really runs the bundled Action), and a repository with
 * a real regression among a few hundred commits with merges. A maintainer's `/bisect` comment goes
 * in; you see what they would see on GitHub: the status comment as it is edited, the answer, and
 * the job's row.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import { startServer } from "../app/src/server.js";
import { tempDir } from "../test/support/dag-repo.js";
import { startGitHubDouble } from "../test/support/github-double/index.js";
import { makeRegressionRepo } from "../test/support/regression-repo.js";
import { deliver, issueCommentPayload } from "../test/support/webhooks.js";

const { values } = parseArgs({
  options: {
    flaky: { type: "boolean", default: false },
    parallel: { type: "string", default: "1" },
    "culprit-in": { type: "string", default: "branch" },
  },
});
const culpritIn = values["culprit-in"] as "branch" | "mainline" | "merge";
if (!["branch", "mainline", "merge"].includes(culpritIn)) throw new Error(`--culprit-in must be branch, mainline or merge, not '${culpritIn}'`);

const dim = (s: string) => `\x1b[2m${s}\x1b[0m`;
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const started = Date.now();
const elapsed = () => dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(4)} s]`);
const say = (text: string) => console.log(`${elapsed()} ${text}`);
function show(title: string, markdown: string) {
  const bar = dim("─".repeat(78));
  console.log(`\n${bar}\n${bold(title)}\n${bar}\n${markdown}\n${bar}\n`);
}

const OWNER = "octo-org";
const REPO = "calc";
const FULL = `${OWNER}/${REPO}`;
const APP_ID = 1;
const INSTALLATION_ID = 7;
const SECRET = randomUUID();

const repo = await makeRegressionRepo({ culpritIn });
say(`Repository ${FULL}: ${repo.rangeSize} commits in v1.0..main, with merges; the test is \`sh test.sh\`.`);
const keys = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});
const double = await startGitHubDouble({ appId: APP_ID, appPublicKey: keys.publicKey, appSlug: "bisect-bot" });
double.addRepository({ owner: OWNER, name: REPO, id: 424242, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
double.setPermission(FULL, "maintainer", "write");
double.addUser("author@example.com", "a-u-thor");
const dataDir = await tempDir("bisect-demo-data");
const server = await startServer({
  APP_ID: String(APP_ID),
  PRIVATE_KEY: keys.privateKey,
  WEBHOOK_SECRET: SECRET,
  GHE_HOST: double.env.GHE_HOST,
  GHE_PROTOCOL: double.env.GHE_PROTOCOL,
  HOST: "127.0.0.1",
  PORT: "0",
  METRICS_PORT: "0",
  LOG_LEVEL: "fatal",
  DATA_DIR: dataDir,
  WORKER_POLL_MS: "200",
  RUN_CHECK_SECONDS: "5",
  PATH: process.env.PATH,
});
double.runner.options = { webhookUrl: `${server.url}/api/github/webhooks`, webhookSecret: SECRET };
say(`App listening on ${server.url} (store: PGlite in ${dataDir}); GitHub double on ${double.url}.`);

// A flaky test fails on about 1 run in 10 even where nothing is broken.
const command = values.flaky ? 'sh test.sh && [ "$(od -An -N1 -tu1 /dev/urandom)" -gt 25 ]' : "sh test.sh";
const flags = `${values.flaky ? " --flaky" : ""}${values.parallel !== "1" ? ` --parallel ${values.parallel}` : ""}`;
const body = `It worked in 1.0. Let's find out what broke it:\n\n/bisect v1.0..main${flags} -- ${command}`;
const commentId = double.addComment(FULL, 1, { body, user: "maintainer" });
show("@maintainer commented on issue #1", body);
const payload = issueCommentPayload({
  owner: OWNER,
  repo: REPO,
  repositoryId: 424242,
  installationId: INSTALLATION_ID,
  issueNumber: 1,
  login: "maintainer",
  commentId,
  body,
});
const answer = await deliver(`${server.url}/api/github/webhooks`, SECRET, { event: "issue_comment", payload });
say(`Webhook answered ${answer.status}.`);

const terminal = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
let shown = 0;
let jobId: number | undefined;
const deadline = Date.now() + 120_000;
try {
  for (;;) {
    const mine = double.comments(FULL, 1).filter((c) => c.user.endsWith("[bot]"));
    const versions = mine.flatMap((c) => [...c.history, c.body].filter((v, i, all) => all.indexOf(v) === i));
    for (; shown < versions.length; shown++) show(shown === 0 ? "bisect-bot[bot] commented" : "bisect-bot[bot] edited its comment", versions[shown]!);
    jobId ??= (await server.store.call("latestJob", { repositoryId: 424242, issueNumber: 1 }))?.id;
    const job = jobId === undefined ? undefined : await server.store.call("getJob", { jobId });
    if (job && terminal.has(job.state)) {
      // The result is recorded, then the comment edited: let the worker finish that.
      await double.runner.idle();
      await server.app.worker!.idle();
      const last = double
        .comments(FULL, 1)
        .filter((c) => c.user.endsWith("[bot]"))
        .flatMap((c) => [...c.history, c.body]);
      if (last.length > shown && last.at(-1) !== versions.at(-1)) show("bisect-bot[bot] edited its comment", last.at(-1)!);
      const row = {
        id: job.id,
        state: job.state,
        verdict: job.verdict,
        culprit_sha: job.culprit_sha,
        confidence: job.confidence,
        tested: job.tested,
        rounds: job.rounds,
        attempts: `${job.attempts} of ${job.max_attempts}`,
        run_url: job.run_url,
        created_at: job.created_at.toISOString(),
        finished_at: job.finished_at?.toISOString(),
      };
      show("The job's row (public.bisect_jobs)", JSON.stringify(row, null, 2));
      const right = job.culprit_sha === repo.culprit.sha;
      say(
        job.verdict === "culprit"
          ? `${right ? "✔ The right culprit" : "✘ Not the planted culprit"}: ${repo.culprit.subject} (${repo.culprit.sha.slice(0, 7)}), in ${((Date.now() - started) / 1000).toFixed(1)} s.`
          : `The bisect ended ${job.state}${job.error ? `: ${job.error}` : ""}.`,
      );
      process.exitCode = right ? 0 : 1;
      break;
    }
    if (Date.now() > deadline) throw new Error("the demo did not finish within 2 minutes");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
} finally {
  await server.close();
  await double.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(repo.dir, { recursive: true, force: true });
}
