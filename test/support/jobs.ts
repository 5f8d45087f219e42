/** Test support: a realistic new job (ids past 2^32, as GitHub's are), unique per call. */
import type { JobOptions } from "../../app/src/job-options.js";
import type { ArgsOf } from "../../app/src/store/store.js";

/** A full-length sha of one repeated hex digit. */
export const sha = (c: string) => c.repeat(40);

export type NewJob = ArgsOf<"createJob">;

/** A job's options as the App stores them (a deterministic bisect of a 5-commit range). */
export function jobOptions(overrides: Partial<JobOptions> = {}): JobOptions {
  return {
    firstParent: false,
    flaky: false,
    findFix: false,
    confirm: 0,
    parallel: 1,
    runners: 1,
    confidence: 0.99,
    timeoutSeconds: 1800,
    stepTimeoutSeconds: 0,
    workflow: "bisect.yml",
    defaultBranch: "main",
    commits: 5,
    setup: null,
    pullRequest: null,
    flakeHistory: null,
    ...overrides,
  };
}

let counter = 0;

/** A job as a command creates it; every call gets a fresh delivery id and comment id. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  counter++;
  return {
    deliveryId: `delivery-${counter}-${process.pid}`,
    repository: "octo-org/widgets",
    repositoryId: 5_000_000_001,
    installationId: 7_000_000_001,
    issueNumber: 42,
    commentId: 3_000_000_000 + counter,
    requester: "octocat",
    goodRefs: ["v1.4"],
    badRef: "main",
    goodShas: [sha("a")],
    badSha: sha("f"),
    command: "npm test",
    options: jobOptions(),
    maxAttempts: 3,
    ...overrides,
  };
}
