/** Test support: `bisect-bot` as a user runs it, the committed bundle in a real process. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { gitEnv } from "./dag-repo.js";

export const CLI = fileURLToPath(new URL("../../bin/bisect-bot.js", import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bisect-bot <args>` in `cwd` with git's test environment; answers its exit code and output. */
export function runCli(cwd: string, args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [CLI, ...args], { cwd, env: gitEnv({}), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
