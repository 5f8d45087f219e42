/** Test support: a realistic new job (ids past 2^32, as GitHub's are), unique per call. */
import type { NewJob } from "../../app/src/store/store.js";

/** A full-length sha of one repeated hex digit. */
export const sha = (c: string) => c.repeat(40);

let counter = 0;

/** A job as the webhook would create it; every call gets a fresh delivery id and comment id. */
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
    options: { firstParent: false, flaky: false, confidence: 0.99 },
    maxAttempts: 3,
    ...overrides,
  };
}
