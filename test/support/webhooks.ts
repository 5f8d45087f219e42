/**
 * Test support: webhook deliveries as GitHub sends them. Payloads start from GitHub's real
 * examples (@octokit/webhooks-examples) and every payload we send is checked against GitHub's
 * webhook schema (@octokit/openapi-webhooks, OpenAPI 3.1), so a field the App reads that GitHub
 * does not send fails a test. Deliveries are signed (X-Hub-Signature-256) as GitHub signs them.
 */
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

interface ExampleGroup {
  name: string;
  examples: Record<string, unknown>[];
}

let examples: ExampleGroup[] | undefined;
let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function loadExamples(): ExampleGroup[] {
  examples ??= JSON.parse(readFileSync(require.resolve("@octokit/webhooks-examples"), "utf8")) as ExampleGroup[];
  return examples;
}

/** The validator for GitHub's schema of one event and action, e.g. `webhook-issue-comment-created`. */
export function webhookValidator(schemaName: string): ValidateFunction {
  let validate = validators.get(schemaName);
  if (validate) return validate;
  if (!ajv) {
    const file = join(dirname(require.resolve("@octokit/openapi-webhooks/package.json")), "generated", "api.github.com.json");
    const spec = JSON.parse(readFileSync(file, "utf8")) as { components: unknown };
    ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
    addFormats(ajv);
    ajv.addSchema({ $id: "gh", components: spec.components });
  }
  validate = ajv.getSchema(`gh#/components/schemas/${schemaName}`);
  if (!validate) throw new Error(`GitHub's webhook schema has no ${schemaName}`);
  validators.set(schemaName, validate);
  return validate;
}

/** Throws unless `payload` is what GitHub sends for this event and action. */
export function assertWebhookPayload(schemaName: string, payload: unknown): void {
  const validate = webhookValidator(schemaName);
  if (!validate(payload)) {
    throw new Error(`payload is not a valid ${schemaName}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  }
}

/** A JSON object (not an array, not null): what an example holds under most of its keys. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The object `parent` holds under `key`, to change or copy; throws when there is none. */
export function objectAt(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = parent[key];
  if (!isJsonObject(value)) throw new Error(`the payload has no object under '${key}'`);
  return value;
}

/** GitHub's first example of `event`.`action` that is valid against GitHub's own schema (some are stale). */
export function example(event: string, action: string): Record<string, unknown> {
  const group = loadExamples().find((g) => g.name === event);
  const schemaName = `webhook-${event.replace(/_/g, "-")}-${action.replace(/_/g, "-")}`;
  for (const candidate of group?.examples ?? []) {
    if (candidate.action !== action) continue;
    const copy = structuredClone(candidate);
    copy.installation ??= { id: 1, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==" };
    if (webhookValidator(schemaName)(copy)) return copy;
  }
  throw new Error(`no example of ${event}.${action} passes ${schemaName}`);
}

export interface CommentEventOptions {
  action?: "created" | "edited" | "deleted";
  owner: string;
  repo: string;
  repositoryId: number;
  installationId: number;
  issueNumber: number;
  pullRequest?: boolean;
  body: string;
  login: string;
  userType?: "User" | "Bot";
  commentId: number;
  /** When the comment was written (GitHub's clock); the example's own date when not given. */
  createdAt?: string;
}

/** An `issue_comment` payload from GitHub's example, for our repository, issue, user and text. */
export function issueCommentPayload(o: CommentEventOptions): Record<string, unknown> {
  const action = o.action ?? "created";
  const payload = example("issue_comment", action);
  const comment = objectAt(payload, "comment");
  const user = { ...objectAt(comment, "user"), login: o.login, type: o.userType ?? "User" };
  payload.comment = {
    ...comment,
    id: o.commentId,
    body: o.body,
    user,
    ...(o.createdAt === undefined ? {} : { created_at: o.createdAt, updated_at: o.createdAt }),
    html_url: `https://github.com/${o.owner}/${o.repo}/issues/${o.issueNumber}#issuecomment-${o.commentId}`,
  };
  const issue: Record<string, unknown> = { ...objectAt(payload, "issue"), number: o.issueNumber };
  payload.issue = issue;
  if (o.pullRequest) {
    issue.pull_request = {
      url: `https://api.github.com/repos/${o.owner}/${o.repo}/pulls/${o.issueNumber}`,
      html_url: `https://github.com/${o.owner}/${o.repo}/pull/${o.issueNumber}`,
      diff_url: `https://github.com/${o.owner}/${o.repo}/pull/${o.issueNumber}.diff`,
      patch_url: `https://github.com/${o.owner}/${o.repo}/pull/${o.issueNumber}.patch`,
    };
  } else {
    delete issue.pull_request;
  }
  const repository = objectAt(payload, "repository");
  payload.repository = {
    ...repository,
    id: o.repositoryId,
    name: o.repo,
    full_name: `${o.owner}/${o.repo}`,
    owner: { ...objectAt(repository, "owner"), login: o.owner },
  };
  payload.sender = { ...objectAt(payload, "sender"), login: o.login, type: o.userType ?? "User" };
  payload.installation = { ...objectAt(payload, "installation"), id: o.installationId };
  assertWebhookPayload(`webhook-issue-comment-${action}`, payload);
  return payload;
}

export interface PullRequestEventOptions {
  action: "opened" | "reopened" | "synchronize";
  owner: string;
  repo: string;
  repositoryId: number;
  installationId: number;
  number: number;
  /** The head after the event; `before`, for a synchronize, the head it moved from. */
  headSha: string;
  before?: string;
}

/** A `pull_request` payload from GitHub's example: the pull request `number` of our repository, its head at `headSha`. */
export function pullRequestPayload(o: PullRequestEventOptions): Record<string, unknown> {
  // GitHub's examples of `synchronize` are stale against its schema: one is an `opened` moved on.
  const payload = example("pull_request", o.action === "synchronize" ? "opened" : o.action);
  payload.action = o.action;
  const pr = objectAt(payload, "pull_request");
  const repository = objectAt(payload, "repository");
  const repo = {
    ...repository,
    id: o.repositoryId,
    name: o.repo,
    full_name: `${o.owner}/${o.repo}`,
    owner: { ...objectAt(repository, "owner"), login: o.owner },
  };
  payload.number = o.number;
  payload.pull_request = { ...pr, number: o.number, head: { ...objectAt(pr, "head"), sha: o.headSha } };
  payload.repository = repo;
  payload.installation = { ...objectAt(payload, "installation"), id: o.installationId };
  if (o.action === "synchronize") {
    payload.before = o.before ?? "0".repeat(40);
    payload.after = o.headSha;
    // The schema of synchronize is newer than the examples: GitHub now sends has_discussions on both repositories.
    const moved = objectAt(payload, "pull_request");
    for (const side of ["base", "head"]) {
      const end = objectAt(moved, side);
      end.repo = { has_discussions: false, ...objectAt(end, "repo") };
    }
  }
  assertWebhookPayload(`webhook-pull-request-${o.action}`, payload);
  return payload;
}

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface Delivery {
  event: string;
  payload: unknown;
  id?: string;
  /** Override the signature (a wrong one), or null to send none. */
  signature?: string | null;
}

/** POSTs a delivery to the App as GitHub does; answers the HTTP status and body. */
export async function deliver(url: string, secret: string, delivery: Delivery): Promise<{ status: number; body: string; id: string }> {
  const body = JSON.stringify(delivery.payload);
  const id = delivery.id ?? randomUUID();
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/bisect-test",
    "x-github-event": delivery.event,
    "x-github-delivery": id,
    "x-github-hook-id": "1",
  };
  const signature = delivery.signature === undefined ? sign(secret, body) : delivery.signature;
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  const response = await fetch(url, { method: "POST", headers, body });
  return { status: response.status, body: await response.text(), id };
}
