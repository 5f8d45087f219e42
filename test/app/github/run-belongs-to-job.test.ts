/** Which workflow runs are a job's: the run-name names the job, and a fan-out round's its round. */
import { describe, expect, it } from "vitest";
import { runBelongsToJob } from "../../../app/src/github/dispatch.js";

describe("runBelongsToJob", () => {
  it("finds the job in a single run's and in a round's run-name", () => {
    expect(runBelongsToJob("bisect 12", 12)).toBe(true);
    expect(runBelongsToJob("bisect 12 round 3", 12)).toBe(true);
    expect(runBelongsToJob("  bisect   12  ", 12)).toBe(true);
  });

  it("never takes a round number for a job id, nor a longer id for a shorter one", () => {
    expect(runBelongsToJob("bisect 12 round 3", 3)).toBe(false);
    expect(runBelongsToJob("bisect 12 Round 3", 3)).toBe(false);
    expect(runBelongsToJob("bisect 123", 12)).toBe(false);
    expect(runBelongsToJob("bisect manual", 12)).toBe(false);
  });
});

describe("jobIdFromTitle (workflow_run webhooks)", () => {
  it("reads the job from a single run's and a round's title, and nothing else", async () => {
    const { jobIdFromTitle } = await import("../../../app/src/handlers/workflow-run.js");
    expect(jobIdFromTitle("bisect 12")).toBe(12);
    expect(jobIdFromTitle("bisect 12 round 3")).toBe(12);
    expect(jobIdFromTitle("bisect 12 round")).toBeNull();
    expect(jobIdFromTitle("CI 12")).toBeNull();
    expect(jobIdFromTitle(null)).toBeNull();
  });
});
