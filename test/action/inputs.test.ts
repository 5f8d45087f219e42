/**
 * The Action's inputs come from the option definitions (action/src/options.ts): every option on
 * the Action surface is an input with the definition's range and default, and a bad value fails
 * with a message built from its rule.
 */
import { describe, expect, it } from "vitest";
import { INPUT_NAMES, readInputs } from "../../action/src/action/inputs.js";
import { OPTIONS, optionsOn } from "../../action/src/options.js";

const REQUIRED = { good: "v1.4", bad: "main", command: "npm test" };

/** Reads the inputs the way `core.getInput` gives them: "" for a missing one. */
const read = (inputs: Record<string, string>) => readInputs((name) => ({ ...REQUIRED, ...inputs })[name] ?? "");

function failure(inputs: Record<string, string>): string {
  try {
    read(inputs);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error(`${JSON.stringify(inputs)} was accepted`);
}

describe("the Action's inputs", () => {
  it("are its own (refs, command, mode, job, known verdicts, flake history) and one per option on the Action surface", () => {
    expect([...INPUT_NAMES]).toEqual([
      "good",
      "bad",
      "command",
      "job-id",
      "mode",
      "commits",
      ...optionsOn("action").map((k) => OPTIONS[k].name),
      "known",
      "flake-history",
    ]);
    expect(INPUT_NAMES).not.toContain("verify"); // a CLI-only option
  });

  it.each(optionsOn("action"))("%s: empty, it takes the definition's default", (key) => {
    const values: Record<string, unknown> = read({});
    expect(values[key]).toBe(OPTIONS[key].default);
  });

  it("reads every option with its own schema, as the workflow passes it", () => {
    expect(read({ "first-parent": "true", flaky: "true", parallel: "64", confidence: "0.95", "step-timeout": "10m" })).toMatchObject({
      firstParent: true,
      flaky: true,
      parallel: 64,
      confidence: 0.95,
      stepTimeoutSeconds: 600,
    });
    expect(["90s", "1h30m", "600", "0"].map((d) => read({ "step-timeout": d }).stepTimeoutSeconds)).toEqual([90, 5400, 600, 0]);
  });

  it.each([
    [{ parallel: "0" }, "Invalid input 'parallel': '0'. Expected a whole number from 1 to 64."],
    [{ parallel: "65" }, "Invalid input 'parallel': '65'. Expected a whole number from 1 to 64."],
    [{ confidence: "0.4" }, "Invalid input 'confidence': '0.4'. Expected a probability above 0.5 and below 1, such as 0.99."],
    [{ "step-timeout": "7h" }, "Invalid input 'step-timeout': '7h'. Expected a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit."],
    [{ "first-parent": "maybe" }, "Invalid input 'first-parent': 'maybe'. Expected true or false."],
    [{ good: "" }, "Invalid input 'good': ''. At least one good commit is required."],
    [{ known: '[{"sha": "abc", "verdict": "good"}]' }, 'Invalid input \'known\': \'[{"sha": "abc", "verdict": "good"}]\'. Expected a full commit sha.'],
    [{ "flake-history": "0.2" }, "Invalid input 'flake-history': '0.2'. Expected <false failures>/<clean tests>, such as 9/52, or nothing."],
    [{ "flake-history": "60/52" }, "Invalid input 'flake-history': '60/52'. Expected no more false failures than clean tests."],
  ])("%j fails with: %s", (inputs, message) => {
    expect(failure(inputs)).toBe(message);
  });

  it("reads the Action's own inputs: job id, probe mode's commits, known verdicts", () => {
    const sha = "a".repeat(40);
    const range = { good: "b".repeat(40), bad: "c".repeat(64) };
    expect(read({ ...range, "job-id": "job-7", mode: "probe", commits: "c1, c2 c3", known: `[{"sha": "${sha}", "verdict": "skip"}]` })).toMatchObject({
      good: [range.good],
      bad: range.bad,
      jobId: "job-7",
      mode: "probe",
      commits: ["c1", "c2", "c3"],
      known: [{ sha, verdict: "skip" }],
    });
    expect(read({ known: "null" }).known).toEqual([]);
    expect(read({ "flake-history": "9/52" }).flakeHistory).toEqual({ falseFailures: 9, cleanTests: 52 });
    expect(read({}).flakeHistory).toBeNull();
    expect(read({}).jobId).toBeUndefined();
  });

  it("in probe mode, good and bad are full shas: it reads no history to resolve a name in", () => {
    const sha = "a".repeat(40);
    const probe = { mode: "probe", commits: sha };
    expect(failure({ ...probe, good: `${sha},v1.4`, bad: sha })).toBe(
      "Invalid input 'good': 'v1.4'. Expected a full lowercase commit sha in probe mode, which does not resolve names (it has no history to resolve them in); " +
        "pass the output of 'git rev-parse v1.4^{commit}'.",
    );
    expect(failure({ ...probe, good: sha, bad: sha.slice(0, 12) })).toMatch(
      /^Invalid input 'bad': 'aaaaaaaaaaaa'\. Expected a full lowercase commit sha in probe mode/,
    );
    expect(failure({ ...probe, good: sha, bad: sha.toUpperCase() })).toMatch(/^Invalid input 'bad': 'A{40}'\. Expected a full lowercase commit sha/);
    expect(read({ good: "v1.4", bad: "main" }).mode).toBe("bisect"); // names are fine when bisecting
  });
});
