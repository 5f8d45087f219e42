import { spawn } from "node:child_process";
import type { ProbeVerdict } from "../result-document.js";
import { testEnvironment } from "./test-environment.js";

/** What one run of the test command did. */
export interface TestRun {
  verdict: ProbeVerdict;
  /** Exit status; null when killed by a signal, timed out or stopped. */
  exitCode: number | null;
  durationMs: number;
  /** Why the run is an infrastructure error or was stopped, for the log. */
  note?: string;
  /** True when the run was stopped because its verdict was no longer needed. */
  stopped?: boolean;
}

export interface TestCommand {
  /** argv of the test command; one argument with shell syntax runs through `sh -c`, as git does. */
  argv: readonly string[];
  cwd: string;
  timeoutMs?: number;
  /** The runner's environment (default `process.env`); the command gets it without the runner's secrets. */
  env?: NodeJS.ProcessEnv;
  /** Where the command's stdout and stderr go (default: discarded). */
  output?: "inherit" | "ignore" | ((chunk: Buffer) => void);
  /** Stops the run early (its verdict is no longer needed, or the user pressed Ctrl-C). */
  signal?: AbortSignal;
  /**
   * A commit to check out in `cwd` (a worktree) just before the command, in the same process: one
   * spawn a probe instead of two, which is most of what a round costs besides the test. A failed
   * checkout rejects (CheckoutError): the probe did not run.
   */
  checkout?: string;
}

/** The checkout before a probe failed: the test did not run. */
export class CheckoutError extends Error {
  override readonly name = "CheckoutError";
}

/**
 * Checks out `$1` in the current directory, then becomes the test command (`$2…`). git's messages
 * go to fd 3, which the runner reads only when the checkout fails (exit 255 with something on fd
 * 3); fd 3 is closed before the test starts, so the test can never pass for a failed checkout.
 */
const CHECKOUT_THEN_TEST = 'git checkout --detach --force --quiet "$1" >&3 2>&3 || exit 255; exec 3>&-; shift; exec "$@"';

/** git's list of characters that make `git bisect run` use the shell (run-command.c). */
const SHELL_METACHARACTERS = /[|&;<>()$`\\"' \t\n*?[#~=%]/;

/**
 * Maps an exit status to a verdict, as `git bisect run` does: 0 good, 125 skip, 1–127 bad,
 * 128 and above (or a signal) an infrastructure error, never bad.
 */
export function verdictOfExit(exitCode: number | null): ProbeVerdict {
  if (exitCode === null || exitCode >= 128 || exitCode < 0) return "error";
  if (exitCode === 0) return "good";
  if (exitCode === 125) return "skip";
  return "bad";
}

/**
 * Runs the test command once in its own process group, so a timeout or Ctrl-C kills everything it
 * started. Uses node:child_process rather than @actions/exec because it needs timeouts, group kill
 * and cancellation, which @actions/exec does not offer.
 */
export function runTest(command: TestCommand): Promise<TestRun> {
  const [program, ...rest] = command.argv;
  if (!program) throw new Error("The test command is empty.");
  // As git's prepare_shell_cmd: `sh -c '<program> "$@"' <program> <args…>`.
  const useShell = SHELL_METACHARACTERS.test(program);
  const testFile = useShell ? "sh" : program;
  const testArgs = useShell ? ["-c", `${program} "$@"`, program, ...rest] : rest;
  const checkout = command.checkout;
  const file = checkout === undefined ? testFile : "sh";
  const args = checkout === undefined ? testArgs : ["-c", CHECKOUT_THEN_TEST, "bisect-bot-checkout", checkout, testFile, ...testArgs];
  const started = performance.now();
  // A function receives the output through pipes; "inherit" and "ignore" go to spawn as they are.
  const output = command.output ?? "ignore";
  const sink = typeof output === "function" ? output : undefined;
  const stdio = typeof output === "function" ? "pipe" : output;

  return new Promise<TestRun>((resolve, reject) => {
    let settled = false;
    let note: string | undefined;
    let stopped = false;
    /** Ends the run once: with its verdict, or (a failed checkout) with an error. */
    const end = (outcome: Omit<TestRun, "durationMs"> | CheckoutError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      command.signal?.removeEventListener("abort", onAbort);
      if (outcome instanceof CheckoutError) reject(outcome);
      else resolve({ ...outcome, durationMs: Math.round(performance.now() - started) });
    };

    const child = spawn(file, args, {
      cwd: command.cwd,
      // The commit under test is untrusted: it never sees the runner's tokens (DESIGN, Trust).
      env: testEnvironment(command.env ?? process.env),
      detached: true,
      stdio: checkout === undefined ? ["ignore", stdio, stdio] : ["ignore", stdio, stdio, "pipe"],
    });
    let checkoutSaid = "";
    child.stdio[3]?.on("data", (chunk: Buffer) => (checkoutSaid += chunk.toString()));
    if (sink) {
      child.stdout?.on("data", sink);
      child.stderr?.on("data", sink);
    }

    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is already gone.
      }
    };
    const timer = command.timeoutMs
      ? setTimeout(() => {
          note = `timed out after ${(command.timeoutMs! / 1000).toFixed(0)} s`;
          killGroup();
        }, command.timeoutMs)
      : undefined;
    const onAbort = () => {
      stopped = true;
      note = "stopped: its verdict is no longer needed";
      killGroup();
    };
    if (command.signal?.aborted) onAbort();
    command.signal?.addEventListener("abort", onAbort);

    child.on("error", (error: NodeJS.ErrnoException) => {
      // What a shell would report: 127 not found, 126 found but not executable.
      const exitCode = error.code === "ENOENT" ? 127 : error.code === "EACCES" ? 126 : null;
      end({ verdict: verdictOfExit(exitCode), exitCode, note: `${program}: ${error.message}` });
    });
    child.on("close", (code, signal) => {
      // The command is done; make sure nothing it left behind keeps running.
      killGroup();
      if (stopped) return end({ verdict: "error", exitCode: null, note, stopped: true });
      if (code === 255 && checkoutSaid.trim() !== "") {
        return end(new CheckoutError(`git checkout --detach --force --quiet ${checkout} failed: ${checkoutSaid.trim().split("\n").filter(Boolean).join(" ")}`));
      }
      if (note) return end({ verdict: "error", exitCode: null, note });
      if (signal) return end({ verdict: "error", exitCode: null, note: `killed by ${signal}` });
      end({
        verdict: verdictOfExit(code),
        exitCode: code,
        ...(code !== null && code >= 128 ? { note: `exit ${code} (128 or more) aborts the probe` } : {}),
      });
    });
  });
}
