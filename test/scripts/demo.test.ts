/**
 * `npm run demo` is the first thing a newcomer runs: it must keep working. Runs the script as a
 * process (offline, its own App, double and repository) and checks that the user would have seen
 * the answer with the planted culprit.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

it("npm run demo finds the planted culprit from a /bisect comment and shows the answer and the job", async () => {
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/demo.ts", "--parallel", "2"],
      { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve({ stdout })),
    );
  });
  expect(stdout).toContain("/bisect v1.0..main --parallel 2 -- sh test.sh");
  expect(stdout).toContain("bisect-bot[bot] commented");
  expect(stdout).toContain("is the first bad commit");
  expect(stdout).toContain('"state": "succeeded"');
  expect(stdout).toContain("✔ The right culprit");
}, 150_000);
