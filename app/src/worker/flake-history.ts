/**
 * The learned flake rate: what earlier flaky bisects of a command measured (false failures among
 * tests of commits without the culprit), pooled per repository and command by the store, is the
 * prior on the flake rate of the command's next flaky bisect; each flaky bisect with a culprit
 * adds what it measured.
 */
import type { ResultDocument } from "../../../action/src/result-document.js";
import type { JobOptions } from "../job-options.js";
import type { JobRow, Store } from "../store/store.js";

/** The prior a new job of `command` starts from: none unless it is flaky and the command has a history. */
export async function learnedFlakeHistory(store: Store, repositoryId: number, command: string, options: JobOptions): Promise<JobOptions["flakeHistory"]> {
  if (!options.flaky || options.findFix) return null;
  const found = await store.call("flakeHistory", { repositoryId, command });
  return found && found.clean_tests > 0 ? { cleanTests: found.clean_tests, falseFailures: found.false_failures } : null;
}

/** Adds what a finished flaky bisect measured (a fix search measures another kind of noise: not kept). */
export async function noteFlakeEvidence(store: Store, job: JobRow, result: ResultDocument): Promise<void> {
  const evidence = result.flakeEvidence;
  if (!evidence || !job.options.flaky || job.options.findFix || evidence.cleanTests === 0) return;
  await store.call("noteFlakeEvidence", {
    repositoryId: job.repository_id,
    repository: job.repository,
    command: job.command,
    cleanTests: evidence.cleanTests,
    falseFailures: evidence.falseFailures,
  });
}
