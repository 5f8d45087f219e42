/**
 * Text turned into safe Markdown (app/src/messages/markdown.ts): prose with no mentions, no HTML,
 * no Markdown structure, no issue references or autolinks, one line, capped; code that nothing
 * inside can close; the only URLs we link to; tables whose rows no cell can split. What GitHub
 * would render is checked with micromark and its GFM extension.
 */
import { describe, expect, it } from "vitest";
import {
  codeBlock,
  codePoint,
  codeSpan,
  escapeMarkdown,
  escapeUrl,
  link,
  printableText,
  shortSha,
  table,
  truncate,
} from "../../../app/src/messages/markdown.js";
import { githubCells, render, renderedRows, textOf } from "./render-markdown.js";

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
    const { escapeMarkdown } = await import("../../../app/src/messages/markdown.js");
    for (const text of ["see evil-org/phish@0123456789abcdef0123456789abcdef01234567", "mona@0123abc"]) {
      const out = escapeMarkdown(text);
      expect(out).not.toMatch(/@[0-9a-f]{7}/i);
    }
    expect(escapeMarkdown("mail me: someone@example.com")).toContain("someone@example");
  });
});

const HOSTILE = [
  "feat|x",
  "a || b",
  "a\\|b",
  "a\\\\|b",
  "|leading",
  "trailing|",
  "`|`",
  "``a|b``",
  "a\nb|c\r\nd",
  "<img src=x onerror=alert(1)>",
  "@org/team #1 [x](javascript:alert(1))",
  "\\",
  "x\\",
  "`",
  "```",
  "",
  " ",
];

describe("truncate", () => {
  it("cuts to at most max characters, ending in an ellipsis", () => {
    expect(truncate("abcdef", 6)).toBe("abcdef");
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("abcdef", 4)).toHaveLength(4);
    expect(truncate("abcdef", 1)).toBe("…");
    expect(truncate("abcdef", 0)).toBe("…");
  });

  it("never splits a surrogate pair", () => {
    expect(truncate("ab😀cd", 4)).toBe("ab…");
    expect(truncate("ab😀cd", 5)).toBe("ab😀…");
    for (let max = 1; max < 12; max++) {
      const cut = truncate("😀😀😀😀😀😀", max);
      expect(cut.length, String(max)).toBeLessThanOrEqual(max);
      expect(cut, String(max)).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    }
  });
});

describe("codeSpan", () => {
  it("uses a fence longer than any backtick run inside, padded when the text touches it", () => {
    expect(codeSpan("npm test")).toBe("`npm test`");
    expect(codeSpan("a`b")).toBe("``a`b``");
    expect(codeSpan("a``b")).toBe("```a``b```");
    expect(codeSpan("`a")).toBe("`` `a ``");
    expect(codeSpan("a`")).toBe("`` a` ``");
    expect(codeSpan(" a ")).toBe("`  a  `");
    expect(codeSpan("")).toBe("` `");
  });

  it.each(HOSTILE)("renders %j as one code element with the text, whatever it holds", (text) => {
    const html = render(`x ${codeSpan(text)} y`);
    expect(html.match(/<code>/g) ?? [], html).toHaveLength(1);
    const shown = text.replace(/\r\n|\n/g, " ");
    // CommonMark strips one space from both ends of a span that has them (our pad).
    expect(textOf(html), html).toBe(`x ${shown === "" ? " " : shown} y`);
  });

  it("keeps one line: line breaks and tabs become spaces; other control characters and bidi overrides U+FFFD", () => {
    expect(codeSpan("a\nb\r\nc\td")).toBe("`a b c d`");
    expect(codeSpan("a\u0000b\u202ec\u2028d")).toBe("`a\ufffdb\ufffdc d`");
    expect(codeSpan("\u001b[31mred\u001b[0m")).toBe("`red`");
  });

  it("cuts to max characters (1000 unless told)", () => {
    expect(codeSpan("x".repeat(5000))).toBe(`\`${"x".repeat(999)}…\``);
    expect(codeSpan("abcdef", 4)).toBe("`abc…`");
  });
});

describe("codeBlock", () => {
  it("uses a fence no line of the text can close, and shows the text as it is", () => {
    const text = "echo '```'\n````\n~~~\n</details>";
    const block = codeBlock(text, "sh");
    expect(block).toBe(`\`\`\`\`\`sh\n${text}\n\`\`\`\`\``);
    const html = render(`${block}\n\nafter`);
    expect(html).toContain('<pre><code class="language-sh">');
    expect(textOf(html.split("</code></pre>")[0]!)).toBe(`${text}\n`);
    expect(html).toContain("<p>after</p>");
  });

  it("keeps a language only when it is a plain word", () => {
    expect(codeBlock("x", "text")).toBe("```text\nx\n```");
    expect(codeBlock("x", "sh `rm`")).toBe("```\nx\n```");
    expect(codeBlock("x", "a\nb")).toBe("```\nx\n```");
  });

  it("drops terminal colours, replaces control characters and cuts to max characters", () => {
    expect(codeBlock("a\r\nb\u001b[1mc\u0007", "")).toBe("```\na\nbc\ufffd\n```");
    expect(codeBlock("abcdef", "", 4)).toBe("```\nabc…\n```");
  });
});

describe("shortSha, codePoint", () => {
  it("shows the 7 characters people read, and names unshowable characters", () => {
    expect(shortSha("0123456789abcdef0123456789abcdef01234567")).toBe("0123456");
    expect(codePoint(7)).toBe("U+0007");
    expect(codePoint(0x1f600)).toBe("U+1F600");
  });
});

describe("escapeMarkdown, rendered", () => {
  it.each(HOSTILE)("renders %j as plain text: no link, image, HTML or structure", (text) => {
    const html = render(escapeMarkdown(text));
    expect(html).not.toMatch(/<(?!\/?p>)/);
    const plain = text
      .replace(/[\r\n]+/g, " ")
      .replace(/\s+/g, " ")
      .trim();
    expect(
      textOf(html)
        .replace(/\u200b/g, "")
        .trim(),
    ).toBe(plain);
  });

  it("leaves no mention or reference for GitHub's second pass", () => {
    const html = render(escapeMarkdown("@octocat @org/team #12 GH-3 octo/repo#4 octo/repo@0123abc"));
    expect(textOf(html)).not.toMatch(/(^|[^\w])@[A-Za-z0-9]/);
    expect(textOf(html)).not.toMatch(/#[0-9]/);
    expect(textOf(html)).not.toMatch(/GH-[0-9]/);
    expect(textOf(html)).not.toMatch(/@[0-9a-f]{7}/);
  });
});

describe("link", () => {
  it("links only to URLs escapeUrl accepts, and is the label alone otherwise", () => {
    expect(link("run", "https://github.com/o/r/actions/runs/1")).toBe("[run](https://github.com/o/r/actions/runs/1)");
    expect(link("run", "javascript:alert(1)")).toBe("run");
    expect(link("run", "https://github.com/a)b")).toBe("run");
    expect(link("run", null)).toBe("run");
    expect(render(link("`abc`", "https://github.com/o/r/commit/abc"))).toBe('<p><a href="https://github.com/o/r/commit/abc"><code>abc</code></a></p>');
  });
});

describe("table", () => {
  it("writes a GFM table, with alignments and empty titles", () => {
    expect(table(["", ""], [["Good", "`v1.4`"]])).toBe("| | |\n| --- | --- |\n| Good | `v1.4` |");
    expect(
      table([{ title: "Round", align: "right" }, "Commit", { title: "Where", align: "center" }, { title: "Who", align: "left" }], [["1", "x", "y", "z"]]),
    ).toBe("| Round | Commit | Where | Who |\n| ---: | --- | :---: | :--- |\n| 1 | x | y | z |");
  });

  it("fills short rows and drops extra cells", () => {
    expect(table(["a", "b"], [["1"], ["1", "2", "3"]])).toBe("| a | b |\n| --- | --- |\n| 1 | |\n| 1 | 2 |");
  });

  it("keeps a branch named feat|x in one cell, shown as it is", () => {
    const markdown = table(["", ""], [["Bad", `${codeSpan("feat|x")} (${codeSpan("0123456")})`]]);
    expect(markdown).toBe("| | |\n| --- | --- |\n| Bad | `feat\\|x` (`0123456`) |");
    const rows = renderedRows(render(markdown));
    expect(rows).toEqual([
      ["", ""],
      ["Bad", "<code>feat|x</code> (<code>0123456</code>)"],
    ]);
  });

  it.each(HOSTILE)("never lets %j split a row, in a code span, in prose or in a link", (text) => {
    const cells = [
      codeSpan(text),
      escapeMarkdown(text),
      `[x](https://github.com/a/${text.replace(/[^|a-z]/g, "")})`,
      `${codeSpan(text)} and ${codeSpan(text)}`,
    ];
    const markdown = table(["a", "b", "c", "d"], [cells, ["1", "2", "3", "4"]]);
    const lines = markdown.split("\n");
    expect(lines, markdown).toHaveLength(4);
    for (const line of lines) expect(githubCells(line), line).toBe(4);
    const rows = renderedRows(render(markdown));
    expect(
      rows.map((row) => row.length),
      markdown,
    ).toEqual([4, 4, 4]);
    expect(rows[2], markdown).toEqual(["1", "2", "3", "4"]);
    // Code reads as it was written (line breaks as spaces, a zero-width space between a backslash and a pipe).
    const shown = text.replace(/\r\n|\n/g, " ");
    const code = textOf(rows[1]![0]!).replace(/\u200b/g, "");
    expect(code, markdown).toBe(shown === "" ? " " : shown);
  });

  it("never lets random text split a row", () => {
    const alphabet = ["|", "\\", "`", "``", "a", " ", "\n", "<", "@", "[", "]", "(", ")", "*", "_"];
    let seed = 20261128;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    for (let n = 0; n < 2000; n++) {
      let text = "";
      for (let k = Math.floor(next() * 12); k > 0; k--) text += alphabet[Math.floor(next() * alphabet.length)];
      const markdown = table(["", ""], [[codeSpan(text), escapeMarkdown(text)]]);
      const lines = markdown.split("\n");
      expect(lines, JSON.stringify(text)).toHaveLength(3);
      expect(githubCells(lines[2]!), JSON.stringify(text)).toBe(2);
      expect(
        renderedRows(render(markdown)).map((row) => row.length),
        JSON.stringify(text),
      ).toEqual([2, 2]);
    }
  });
});
