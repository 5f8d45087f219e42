/**
 * The learned flake rate, end to end on the GitHub double (the real workflow and bundled Action):
 * a flaky bisect that names a culprit reports what it measured of its test's flake rate, the App
 * pools it per repository and command, and the next flaky bisect of the same command starts from
 * it (the Action's `flake-history` input); another command starts from nothing.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { INSTALLATION_ID, OWNER, WEBHOOK_SECRET, runToEnd, startHarness, type Harness } from "../support/app-harness.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo } from "../support/linear-repo.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ID = 9500;
const NAME = "flaky-widgets";

let h: Harness;
let parent: string;
let shas: Map<string, string>;

beforeAll(async () => {
  h = await startHarness({ env: { RUN_CHECK_SECONDS: "1" } });
  h.double.runner.options = { webhookUrl: `${h.server.url}/api/github/webhooks`, webhookSecret: WEBHOOK_SECRET };
  const workflow = await readFile(path.join(ROOT, ".github/workflows/bisect.yml"), "utf8");
  parent = await tempDir("learned-flake-rate");
  const repo = await linearRepo(parent, 30, 17, (i) => (i === 0 ? { ".github/workflows/bisect.yml": workflow } : {}));
  shas = repo.shas;
  h.double.addRepository({ owner: OWNER, name: NAME, id: ID, path: repo.dir, defaultBranch: "main", installationId: INSTALLATION_ID });
  h.double.setPermission(`${OWNER}/${NAME}`, "maintainer", "write");
}, 180_000);
afterAll(async () => {
  await h?.close();
  await removeDir(parent);
});

/** The options JSON the App dispatched the job's run with. */
const dispatched = (jobId: number): Record<string, unknown> =>
  JSON.parse(h.double.dispatches.find((d) => d.inputs.job_id === String(jobId))!.inputs.options!) as Record<string, unknown>;

async function bisect(issueNumber: number, body: string) {
  expect((await h.comment(body, { repo: NAME, repositoryId: ID, issueNumber })).status).toBe(200);
  return runToEnd(h, { repositoryId: ID, issueNumber }, { timeoutMs: 120_000 });
}

it("a flaky bisect's measured flake rate is the next flaky bisect's prior for the same command, and only for it", async () => {
  const first = await bisect(1, "/bisect v1.0..main --flaky -- sh check.sh");
  expect(first).toMatchObject({ verdict: "culprit", culprit_sha: shas.get("c17") });
  expect(dispatched(first.id)).not.toHaveProperty("flake_history");
  // The test never fails on a commit without the culprit: every test of c0…c16 was a clean one.
  const tested = (await h.store.call("jobProbes", { jobId: first.id })).filter((p) => Number([...shas].find(([, s]) => s === p.sha)![0].slice(1)) < 17);
  const history = await h.store.call("flakeHistory", { repositoryId: ID, command: "sh check.sh" });
  expect(history).toEqual({ clean_tests: tested.length, false_failures: 0 });
  expect(history!.clean_tests).toBeGreaterThan(0);

  const second = await bisect(2, "/bisect v1.0..main --flaky -- sh check.sh");
  expect(second.options.flakeHistory).toEqual({ cleanTests: history!.clean_tests, falseFailures: 0 });
  expect(dispatched(second.id)).toMatchObject({ flake_history: `0/${history!.clean_tests}` });
  expect(second).toMatchObject({ verdict: "culprit", culprit_sha: shas.get("c17") });

  // Another command has no history; a deterministic bisect neither reads nor adds one.
  const other = await bisect(3, "/bisect v1.0..main --flaky -- test ! -e bug");
  expect(other.options.flakeHistory).toBeNull();
  const plain = await bisect(4, "/bisect v1.0..main -- sh check.sh");
  expect(plain.options.flakeHistory).toBeNull();
  const after = await h.store.call("flakeHistory", { repositoryId: ID, command: "sh check.sh" });
  expect(after!.clean_tests).toBeGreaterThan(history!.clean_tests);
  const { rows } = await h.db.client.query<{ bisects: number }>("select bisects from public.bisect_flake_rates where command = 'sh check.sh'");
  expect(rows).toEqual([{ bisects: 2 }]);
}, 300_000);
