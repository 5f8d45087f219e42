/**
 * `--confirm n` as a user runs it (the CLI bundle, real git): after the search the culprit and its
 * parent are re-run n times, and the answer says whether that held up.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resultDocumentSchema } from "../../action/src/result-document.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import { runCli } from "../support/run-cli.js";
import { linearRepo } from "../support/linear-repo.js";

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("cli-confirm");
});
afterAll(() => removeDir(scratch));

describe("--confirm", () => {
  it("re-runs the culprit and its parent n times: confirmed when both behave every time", async () => {
    const repo = await linearRepo(scratch, 40, 23);
    const run = await runCli(repo.dir, ["run", "--good", "v1.0", "--bad", "main", "--confirm", "3", "--json", "--parallel", "2", "--", "sh", "check.sh"]);
    expect(run.code).toBe(0);
    const result = resultDocumentSchema.parse(JSON.parse(run.stdout));
    const culprit = repo.shas.get("c23")!;
    expect(result.culprit?.sha).toBe(culprit);
    expect(result.confirmation).toEqual({ runs: 3, culpritFailed: 3, parentPassed: 3, verdict: "confirmed" });
    // The re-runs are tests like the others, after the search's rounds.
    expect(result.probes.filter((p) => p.sha === culprit)).toHaveLength(4);
    expect(result.probes.filter((p) => p.sha === repo.shas.get("c22"))).toHaveLength(4);
    expect(result.tested).toBe(result.probes.length);
    expect(run.stderr).toContain("Confirmed: the culprit failed 3 of 3 re-runs and its parent passed 3 of 3.");
  });

  it("a culprit that failed once and then passes is not reproducible, with the counts", async () => {
    const repo = await linearRepo(scratch, 40, 23);
    const culprit = repo.shas.get("c23")!;
    const mark = join(scratch, "failed-once");
    // From c23 on the test fails, but c23 itself fails only the first time it is run.
    const script = [
      `h=$(git rev-parse HEAD)`,
      `if [ "$h" = ${culprit} ]; then if [ -e ${mark} ]; then exit 0; fi; touch ${mark}; exit 1; fi`,
      "exec sh check.sh",
    ].join("\n");
    const run = await runCli(repo.dir, ["run", "--good", "v1.0", "--bad", "main", "--confirm", "2", "--json", "--", "sh", "-c", script]);
    const result = resultDocumentSchema.parse(JSON.parse(run.stdout));
    expect(result.culprit?.sha).toBe(culprit);
    expect(result.confirmation).toEqual({ runs: 2, culpritFailed: 0, parentPassed: 2, verdict: "not-reproducible" });
    expect(run.stderr).toContain("Not reproducible: the culprit failed 0 of 2 re-runs and its parent passed 2 of 2.");
  });

  it("finding a fix, confirms that the fix passes and its parent still fails", async () => {
    const repo = await linearRepo(scratch, 30, 11);
    const run = await runCli(repo.dir, ["run", "--good", "v1.0", "--bad", "main", "--find-fix", "--confirm", "2", "--json", "--", "test", "-e", "bug"]);
    const result = resultDocumentSchema.parse(JSON.parse(run.stdout));
    expect(result.culprit?.sha).toBe(repo.shas.get("c11"));
    expect(result.confirmation).toEqual({ runs: 2, culpritFailed: 2, parentPassed: 2, verdict: "confirmed" });
    expect(run.stderr).toContain("Confirmed: the fix passed 2 of 2 re-runs and its parent failed 2 of 2.");
  });
});
