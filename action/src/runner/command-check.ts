import type { ReasonFor } from "../result-document.js";
import type { TestRun } from "./run-test.js";

/** Exit 126/127: the command was not executable or not found (`git bisect run` re-checks these). */
export function notRunnable(exitCode: number | null): boolean {
  return exitCode === 126 || exitCode === 127;
}

/** Why no commit can be blamed: the command fails to start on a good commit too. */
export interface CommandFailure {
  reason: Extract<ReasonFor<"error">, "command-not-found" | "command-not-executable">;
  message: string;
}

/**
 * As git >= 2.36: the first exit 126/127 is not blamed on its commit until the command has been
 * run on a good commit. If it fails to start there too, the command cannot run anywhere and
 * nothing is blamed; otherwise the held verdict counts as bad. Once a test has passed, the
 * command is known to run and no re-check is needed.
 *
 * @example
 * const check = new CommandCheck(["npm", "test"], goodSha);
 * if (check.consider(run, finished) === "hold") startTest(check.goodCommit);
 * // …when that test ends:
 * const outcome = check.conclude(goodRun); // { held: finished } or { failure: { reason, message } }
 */
export class CommandCheck<Held> {
  /** Whether the command is known to run, or its re-check has been started. */
  private settled = false;
  /** The verdict waiting for the re-check. */
  private held: Held | undefined;

  constructor(
    private readonly command: readonly string[],
    /** The commit the re-check runs on. */
    readonly goodCommit: string,
  ) {}

  /**
   * A test's verdict (infrastructure errors are not verdicts): `hold` when `item` must wait for a
   * re-check on the good commit, which the caller starts; else `record` it now.
   */
  consider(run: Pick<TestRun, "verdict" | "exitCode">, item: Held): "hold" | "record" {
    if (run.verdict === "bad" && notRunnable(run.exitCode) && !this.settled) {
      this.settled = true;
      this.held = item;
      return "hold";
    }
    this.settled ||= run.verdict === "good";
    return "record";
  }

  /** Whether a verdict waits for the re-check: nothing new is started meanwhile. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** The re-check's run: the held verdict, to record as bad, or why nothing can be blamed. */
  conclude(run: Pick<TestRun, "exitCode">): { held: Held } | { failure: CommandFailure } {
    const held = this.held;
    if (held === undefined) throw new Error("No verdict is waiting for a re-check of the command.");
    this.held = undefined;
    if (!notRunnable(run.exitCode)) return { held };
    return {
      failure: {
        reason: run.exitCode === 127 ? "command-not-found" : "command-not-executable",
        message:
          `The command '${this.command.join(" ")}' exits ${run.exitCode} on the good commit ${this.goodCommit} too: ` +
          `it was ${run.exitCode === 127 ? "not found" : "not executable"}, so no commit can be blamed. ` +
          "Check the command and that it is installed (each probe runs in a fresh worktree of the commit).",
      },
    };
  }
}
