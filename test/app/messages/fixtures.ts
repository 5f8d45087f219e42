/**
 * A job and its options as the comments read them, with fixed ids, dates and shas so that the
 * output is byte-for-byte stable.
 */
import type { JobOptions } from "../../../app/src/job-options.js";
import type { JobRow } from "../../../app/src/store/store.js";
import { jobOptions } from "../../support/jobs.js";

/** A deterministic 40-hex sha for a label (FNV-1a, then an LCG): stable across runs and machines. */
export function sha(label: string): string {
  let h = 0x811c9dc5;
  for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  let out = "";
  while (out.length < 40) {
    h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out.slice(0, 40);
}

export const REPOSITORY_URL = "https://github.com/octo-org/widgets";
export const RUN_URL = "https://github.com/octo-org/widgets/actions/runs/11842053317";
export const GOOD = sha("v1.4.0");
export const BAD = sha("main");

/**
 * A finished job. The comment reads only its id, refs, shas, command, requester and max_attempts;
 * the other columns are realistic values, cast so that columns added to the table later do not
 * break this fixture.
 */
export function job(overrides: Partial<JobRow> = {}): JobRow {
  const created = new Date("2026-11-27T14:00:00Z");
  const row = {
    id: 42,
    delivery_id: "3f2a9c40-cafe-11ef-9a3b-2f1d6c0e8a11",
    repository: "octo-org/widgets",
    repository_id: 1296269,
    installation_id: 55501,
    issue_number: 318,
    comment_id: 2504417738,
    requester: "hubot-maintainer",
    origin: "comment",
    red_run: null,
    free_verdicts: [],
    good_refs: ["v1.4.0"],
    bad_ref: "main",
    good_shas: [GOOD],
    bad_sha: BAD,
    command: "npm ci && npx vitest run test/parser.test.ts",
    options: {},
    state: "succeeded",
    attempts: 1,
    max_attempts: 3,
    next_check_at: created,
    locked_by: null,
    lease_token: null,
    lease_expires_at: null,
    run_id: 11842053317,
    run_url: RUN_URL,
    status_comment_id: 2504418001,
    dispatch_intent_attempt: null,
    verdict: null,
    culprit_sha: null,
    confidence: null,
    tested: null,
    rounds: null,
    error: null,
    created_at: created,
    updated_at: created,
    started_at: created,
    finished_at: null,
  };
  return { ...row, ...overrides } as JobRow;
}

/** A job's options as the golden files were written with (a 1,234-commit range). */
export function options(overrides: Partial<JobOptions> = {}): JobOptions {
  return jobOptions({ commits: 1234, ...overrides });
}
