/**
 * The status comment a job keeps up to date (app/src/messages/status-comment.ts), rendered as
 * GitHub would: the user's refs (a pull request's branch name too) and command stay inside their
 * code spans and table cells, and nothing in them mentions, links or injects HTML.
 */
import { describe, expect, it } from "vitest";
import { isStatusCommentOf, rangeStrip, statusComment, type StatusPhase, type StripState } from "../../../app/src/messages/status-comment.js";
import { job, options, RUN_URL } from "./fixtures.js";
import { githubCells, render, renderedRows, textOf } from "./render-markdown.js";

const QUEUED: StatusPhase = { phase: "queued", position: 2, active: 4 };
const DISPATCHED: StatusPhase = { phase: "dispatched", runUrl: RUN_URL };

describe("status comment", () => {
  it("keeps the table's two columns for a branch named feat|x, and shows the name as it is", () => {
    const out = statusComment(job({ good_refs: ["main"], bad_ref: "feat|x", state: "queued" }), options({ pullRequest: 7 }), QUEUED);
    const lines = out.split("\n").filter((line) => line.startsWith("|"));
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(githubCells(line), line).toBe(2);
    const rows = renderedRows(render(out));
    expect(rows.map((row) => row.length)).toEqual([2, 2, 2, 2, 2]);
    expect(rows[2]![0]).toBe("Bad");
    expect(textOf(rows[2]![1]!)).toBe("feat|x (f2a19dc)");
  });

  it("keeps refs with several pipes and backslashes in their cells", () => {
    for (const ref of ["a||b", "|x|", "x\\|y", "`a|b`"]) {
      const out = statusComment(job({ good_refs: [ref, "v1"], bad_ref: ref }), options(), QUEUED);
      const rows = renderedRows(render(out));
      expect(
        rows.map((row) => row.length),
        ref,
      ).toEqual([2, 2, 2, 2, 2]);
      expect(textOf(rows[2]![1]!).replace(/\u200b/g, ""), ref).toBe(`${ref} (f2a19dc)`);
    }
  });

  it("shows hostile refs, requester and command without a mention, link or HTML", () => {
    const hostile = "@org/team <img src=x onerror=alert(1)> [x](javascript:alert(1)) #1";
    const out = statusComment(
      job({ good_refs: [hostile], bad_ref: hostile, requester: "@org/team", command: `echo '\`\`\`'\n</details><img src=x>\n${hostile}` }),
      options({ flaky: true, parallel: 4 }),
      DISPATCHED,
    );
    const html = render(out);
    expect(html).not.toMatch(/<img/);
    expect([...html.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1])).toEqual([RUN_URL]);
    // What is left outside code, where GitHub would make mentions and links: none of the text.
    const prose = html.replace(/<code[^>]*>[\s\S]*?<\/code>/g, "");
    expect(prose).not.toContain("@");
    expect(prose).not.toContain("javascript:");
    expect(prose).not.toContain("#1");
    expect(html).toContain(`<pre><code class="language-sh">echo '\`\`\`'\n&lt;/details&gt;&lt;img src=x&gt;\n`);
  });

  it("links the run only when its URL is one we link to", () => {
    expect(statusComment(job(), options(), DISPATCHED)).toContain(`[Workflow run](${RUN_URL}) dispatched`);
    const out = statusComment(job(), options(), { phase: "dispatched", runUrl: "javascript:alert(1)" });
    expect(out).toContain("🏃 Workflow run dispatched");
    expect(out).not.toContain("javascript:");
  });

  it("starts with the job's hidden marker, which a worker taking the job over finds; a command quoting another job's marker is not that job's", () => {
    const out = statusComment(job({ id: 42, command: "echo '<!-- bisect-bot:job=7 -->'" }), options(), DISPATCHED);
    expect(out.split("\n")[0]).toBe("<!-- bisect-bot:job=42 -->");
    expect(isStatusCommentOf(out, 42)).toBe(true);
    expect(isStatusCommentOf(out, 7)).toBe(false);
    expect(isStatusCommentOf(out, 4)).toBe(false);
    // Shown as nothing: the comment still begins with its heading.
    expect(render(out)).toMatch(/^<!-- bisect-bot:job=42 -->\n<h3>/);
  });

  it("says how the search runs, the time limit and the limit per test", () => {
    const out = statusComment(job(), options({ flaky: true, firstParent: true, parallel: 4, timeoutSeconds: 3600, stepTimeoutSeconds: 600 }), QUEUED);
    expect(out).toContain("| Range | 1,234 commits · flaky-aware, first parent only, 4 commits at a time |");
    expect(out).toContain("· time limit 60 min · 10m per test |");
    expect(statusComment(job(), options(), QUEUED)).not.toContain("per test");
  });

  it("a fan-out round: the round of about how many, its run, what is left, the strip with its legend, the end time", () => {
    const progress = {
      round: 2,
      rounds: 4,
      testing: 7,
      left: 128,
      strip: rangeStrip(["good", "ruled-out", "testing", "candidate", "bad"]),
      eta: new Date("2026-11-27T14:31:00Z"),
    };
    const out = statusComment(job({ attempts: 1 }), options({ runners: 7 }), { phase: "round", runUrl: RUN_URL, progress }, new Date("2026-11-27T14:09:30Z"));
    expect(out).toContain(
      `🏃 Round 2 of about 4: [workflow run](${RUN_URL}) testing 7 commits on 7 runners. 128 commits may hold the culprit; done at about 14:31 UTC (in ~22 min).`,
    );
    expect(out).toContain(
      "\n🟩⬛🔵⬜🟥\n<sub>🟩 passed · 🟥 failed · 🟨 skipped · 🔵 testing now · ⬜ may hold the culprit · ⬛ ruled out · oldest first</sub>",
    );
    expect(out).toContain("| Range | 1,234 commits · 7 runners a round |");
    // Before a round has ended there is nothing to estimate from; a retried round names its attempt.
    const first = statusComment(job({ attempts: 2 }), options({ runners: 7 }), {
      phase: "round",
      runUrl: "javascript:alert(1)",
      progress: { ...progress, round: 1, eta: null },
    });
    expect(first).toContain(
      "testing 7 commits on 7 runners (attempt 2 of 3). 128 commits may hold the culprit; an estimate of the end comes after the first round.",
    );
    expect(first).not.toContain("javascript:");
  });

  it("the strip shows a long range in at most 48 cells, each its most telling commit", () => {
    const states = Array.from({ length: 1000 }, (_, i): StripState => (i === 500 ? "bad" : i < 400 ? "ruled-out" : "candidate"));
    const strip = [...rangeStrip(states)];
    expect(strip).toHaveLength(48);
    expect(strip.filter((c) => c === "🟥")).toHaveLength(1);
    expect(strip[0]).toBe("⬛");
    expect(strip.at(-1)).toBe("⬜");
  });
});
