/**
 * Text from runs and commits shown as prose in a comment (app/src/messages/escape.ts): no
 * mentions, no HTML, no Markdown structure, no issue references or autolinks, one line, capped;
 * and the only URLs we link to.
 */
import { describe, expect, it } from "vitest";
import { escapeMarkdown, escapeUrl, printableText } from "../../app/src/messages/escape.js";

const ZWSP = "&#8203;";

/** What a reader sees: backslash escapes and our entities undone (as GitHub's Markdown does). */
function shown(escaped: string): string {
  return escaped
    .replace(/\\([!-/:-@[-`{-~])/g, "$1")
    .replace(/&#8203;/g, "\u200b")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

describe("escapeMarkdown: mentions", () => {
  it("breaks user and team mentions with a zero-width space", () => {
    expect(escapeMarkdown("thanks @octocat")).toBe(`thanks @${ZWSP}octocat`);
    expect(escapeMarkdown("@octocat")).toBe(`@${ZWSP}octocat`);
    expect(escapeMarkdown("cc @org/team")).toBe(`cc @${ZWSP}org/team`);
    expect(escapeMarkdown("(@octocat)")).toBe(`\\(@${ZWSP}octocat\\)`);
    expect(escapeMarkdown("*@octocat*")).toBe(`\\*@${ZWSP}octocat\\*`);
    expect(escapeMarkdown("@octocat")).not.toMatch(/(^|[^A-Za-z0-9_])@[A-Za-z0-9]/);
  });

  it("keeps e-mail addresses readable", () => {
    const out = escapeMarkdown("Signed-off-by: Mona <email@example.com>");
    expect(out).toContain("email@example\\.com");
    expect(shown(out)).toBe("Signed-off-by: Mona <email@example.com>");
  });

  it("leaves a lone @ alone", () => {
    expect(escapeMarkdown("a @ b")).toBe("a @ b");
  });
});

describe("escapeMarkdown: HTML", () => {
  it("turns tags into text", () => {
    const out = escapeMarkdown("<img src=x onerror=alert(1)>");
    expect(out).not.toContain("<");
    expect(out).not.toContain(">");
    expect(out).toBe("&lt;img src=x onerror=alert\\(1\\)&gt;");
    expect(escapeMarkdown("</details><details open>")).toBe("&lt;/details&gt;&lt;details open&gt;");
    expect(escapeMarkdown("<!-- hidden -->")).toBe("&lt;\\!\\-\\- hidden \\-\\-&gt;");
  });

  it("shows entities literally instead of decoding them", () => {
    expect(escapeMarkdown("&lt;script&gt; &amp; &#64;octocat")).toBe(`&amp;lt;script&amp;gt; &amp;amp; &amp;\\#${ZWSP}64;octocat`);
    expect(shown(escapeMarkdown("a & b"))).toBe("a & b");
  });
});

describe("escapeMarkdown: Markdown structure", () => {
  it("makes links and images plain text", () => {
    const link = escapeMarkdown("[click](javascript:alert(1))");
    expect(link).toBe("\\[click\\]\\(javascript\\:alert\\(1\\)\\)");
    expect(link).not.toMatch(/(^|[^\\])\]\(/);
    const image = escapeMarkdown("![x](http://evil)");
    expect(image).toBe("\\!\\[x\\]\\(http\\://evil\\)");
    expect(escapeMarkdown("<https://evil.example>")).toBe("&lt;https\\://evil\\.example&gt;");
    expect(escapeMarkdown("see www.evil.example")).toBe("see www\\.evil\\.example");
    expect(escapeMarkdown("[^1] and [ref]: https://x")).toBe("\\[^1\\] and \\[ref\\]\\: https\\://x");
  });

  it("escapes emphasis, code, strikethrough and math", () => {
    expect(escapeMarkdown("**bold** _it_ `code` ~~gone~~ $x^2$")).toBe("\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~gone\\~\\~ \\$x^2\\$");
    expect(escapeMarkdown("C:\\path\\*")).toBe("C\\:\\\\path\\\\\\*");
  });

  it("cannot break out of a table cell", () => {
    expect(escapeMarkdown("a | b || c")).toBe("a \\| b \\|\\| c");
  });

  it("cannot start a heading, list, quote or block at the start of a line", () => {
    expect(escapeMarkdown("# Heading")).toBe("\\# Heading");
    expect(escapeMarkdown("- item")).toBe("\\- item");
    expect(escapeMarkdown("+ item")).toBe("\\+ item");
    expect(escapeMarkdown("1. item")).toBe("1\\. item");
    expect(escapeMarkdown("> quote")).toBe("&gt; quote");
    expect(escapeMarkdown("    indented code")).toBe("indented code");
    expect(escapeMarkdown("---")).toBe("\\-\\-\\-");
  });

  it("renders back to the original text", () => {
    const text = "fix(parser): don't choke on `a|b` [#12] **again** -- see https://example.com/x_y";
    expect(shown(escapeMarkdown(text)).replace(/\u200b/g, "")).toBe(text);
  });
});

describe("escapeMarkdown: references", () => {
  it("does not link issues, pull requests or cross-references", () => {
    expect(escapeMarkdown("fixes #1")).toBe(`fixes \\#${ZWSP}1`);
    expect(escapeMarkdown("#123")).toBe(`\\#${ZWSP}123`);
    expect(escapeMarkdown("octo-org/widgets#7")).toBe(`octo\\-org/widgets\\#${ZWSP}7`);
    expect(escapeMarkdown("GH-12 and gh-3")).toBe(`GH\\-${ZWSP}12 and gh\\-${ZWSP}3`);
    expect(escapeMarkdown("C# and #main")).toBe("C\\# and \\#main");
    expect(escapeMarkdown("pre-1 high-5")).toBe("pre\\-1 high\\-5");
  });
});

describe("escapeMarkdown: lines and length", () => {
  it("collapses line breaks and tabs to single spaces", () => {
    expect(escapeMarkdown("one\ntwo\r\nthree\rfour\t\tfive\u2028six")).toBe("one two three four five six");
    expect(escapeMarkdown("  padded  \n\n  ")).toBe("padded");
  });

  it("drops terminal colours and shows other control characters as U+FFFD", () => {
    expect(escapeMarkdown("\u001b[31mred\u001b[0m")).toBe("red");
    expect(escapeMarkdown("a\u0000b\u202ec")).toBe("a\ufffdb\ufffdc");
  });

  it("caps what is shown at max characters, with an ellipsis", () => {
    expect(escapeMarkdown("abcdefghij", 5)).toBe("abcd…");
    expect(escapeMarkdown("abcdefghij", 10)).toBe("abcdefghij");
    expect(escapeMarkdown("x".repeat(1000))).toHaveLength(300);
    // The cap counts what is shown, not the escapes; an escape is never cut in half.
    expect(escapeMarkdown("<<<<<<", 4)).toBe("&lt;&lt;&lt;…");
    expect(escapeMarkdown("@@@@@@@@", 3)).toBe("@@…");
    // A surrogate pair is never split.
    expect(escapeMarkdown("ab😀cd", 4)).toBe("ab…");
  });

  it("keeps Unicode text", () => {
    expect(escapeMarkdown("Zoë fixed the 🐛 in Ünïcödé")).toBe("Zoë fixed the 🐛 in Ünïcödé");
  });
});

describe("printableText", () => {
  it("keeps lines and tabs, drops colours, replaces control characters", () => {
    expect(printableText("a\r\nb\rc\td\u001b[1;31me\u0007")).toBe("a\nb\nc\tde\ufffd");
  });
});

describe("escapeUrl", () => {
  it("accepts https URLs, and plain http to this machine", () => {
    for (const url of [
      "https://github.com/octo-org/widgets",
      "https://github.com/octo-org/widgets/actions/runs/123?check_suite_focus=true",
      "https://ghe.example.com/a/b/pull/1#discussion",
      "http://127.0.0.1:8080/octo-org/widgets",
      "http://localhost:3000/x",
    ]) {
      expect(escapeUrl(url), url).toBe(url);
    }
  });

  it("rejects other schemes, hosts and characters that could end a Markdown link", () => {
    for (const url of [
      "",
      "javascript:alert(1)",
      "JAVASCRIPT:alert(1)",
      "data:text/html,<b>",
      "http://evil.example/",
      "http://127.0.0.1.evil.example/",
      "ftp://example.com/",
      "//github.com/a",
      "github.com/a",
      "https://github.com/a b",
      "https://github.com/a\tb",
      "https://github.com/a\nb",
      'https://github.com/a"b',
      "https://github.com/a'b",
      "https://github.com/a)b",
      "https://github.com/a(b",
      "https://github.com/a<b",
      "https://github.com/a>b",
      "https://github.com/a\\b",
      "https://github.com/a`b",
      "https://user:token@github.com/a",
      "https:///path",
      `https://github.com/${"a".repeat(3000)}`,
    ]) {
      expect(escapeUrl(url), JSON.stringify(url)).toBeNull();
    }
  });
});

describe("cross-repository commit references", () => {
  it("breaks owner/repo@sha and user@sha, which GitHub would link to another repository's commit", async () => {
    const { escapeMarkdown } = await import("../../app/src/messages/escape.js");
    for (const text of ["see evil-org/phish@0123456789abcdef0123456789abcdef01234567", "mona@0123abc"]) {
      const out = escapeMarkdown(text);
      expect(out).not.toMatch(/@[0-9a-f]{7}/i);
    }
    expect(escapeMarkdown("mail me: someone@example.com")).toContain("someone@example");
  });
});
