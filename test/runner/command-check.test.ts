/** The runner's policy for exit 126/127 (as git >= 2.36): re-check the command on a good commit before blaming anything. */
import { describe, expect, it } from "vitest";
import { CommandCheck, notRunnable } from "../../action/src/runner/command-check.js";
import { matchers } from "../support/matchers.js";

const GOOD = "a".repeat(40);
const bad = (exitCode: number) => ({ verdict: "bad" as const, exitCode });
const good = { verdict: "good" as const, exitCode: 0 };

describe("CommandCheck", () => {
  it("holds a first exit 127 until the good commit is checked; the command missing there too blames nobody", () => {
    const check = new CommandCheck(["npm", "test"], GOOD);
    expect(check.holding).toBe(false);
    expect(check.consider(bad(127), "probe of c5")).toBe("hold");
    expect(check.holding).toBe(true);
    expect(check.goodCommit).toBe(GOOD);
    expect(check.conclude({ exitCode: 127 })).toEqual({
      failure: {
        reason: "command-not-found",
        message: matchers.stringMatching(
          new RegExp(`^The command 'npm test' exits 127 on the good commit ${GOOD} too: it was not found, so no commit can be blamed\\.`),
        ),
      },
    });
    expect(check.holding).toBe(false);
  });

  it("exit 126 on the good commit too: the command is not executable", () => {
    const check = new CommandCheck(["./check.sh"], GOOD);
    expect(check.consider(bad(126), "probe")).toBe("hold");
    const outcome = check.conclude({ exitCode: 126 });
    expect(outcome).toMatchObject({ failure: { reason: "command-not-executable" } });
    if ("failure" in outcome) expect(outcome.failure.message).toContain("it was not executable");
  });

  it("when the command runs on the good commit, the held verdict is released to count as bad", () => {
    const check = new CommandCheck(["npm", "test"], GOOD);
    expect(check.consider(bad(127), "probe of c5")).toBe("hold");
    expect(check.conclude({ exitCode: 0 })).toEqual({ held: "probe of c5" });
    // A re-check that could not run (an infrastructure error) does not clear the command either way: as git, blame the held commit.
    const other = new CommandCheck(["npm", "test"], GOOD);
    other.consider(bad(126), "probe of c7");
    expect(other.conclude({ exitCode: null })).toEqual({ held: "probe of c7" });
  });

  it("re-checks only the first 126/127, and none once a test has passed", () => {
    const check = new CommandCheck(["npm", "test"], GOOD);
    expect(check.consider(bad(127), "first")).toBe("hold");
    check.conclude({ exitCode: 0 });
    expect(check.consider(bad(127), "second")).toBe("record");

    const passed = new CommandCheck(["npm", "test"], GOOD);
    expect(passed.consider(good, "c2")).toBe("record");
    expect(passed.consider(bad(127), "c9")).toBe("record");
    expect(passed.holding).toBe(false);
  });

  it("other failures are recorded at once", () => {
    const check = new CommandCheck(["npm", "test"], GOOD);
    for (const exitCode of [1, 2, 124, 125]) expect(check.consider(bad(exitCode), `exit ${exitCode}`)).toBe("record");
    expect(check.consider(bad(127), "now the first 127")).toBe("hold");
  });

  it("concluding with nothing held is a bug, and says so", () => {
    expect(() => new CommandCheck(["true"], GOOD).conclude({ exitCode: 0 })).toThrow(/No verdict is waiting/);
  });

  it("126 and 127 are the exits that mean the command did not run", () => {
    expect([0, 1, 125, 126, 127, 128, null].map(notRunnable)).toEqual([false, false, false, true, true, false, false]);
  });
});
