/**
 * Showing untrusted text inside a Markdown reply: cut to a length without splitting a surrogate
 * pair, and wrapped in a code span that no backtick, mention or HTML inside can break out of.
 */

/** `text` cut to at most `max` characters, ending in `…` when something was cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // keep a surrogate pair whole
  return `${text.slice(0, end)}…`;
}

/** Control characters and lone surrogates become U+FFFD so a message stays printable. */
function printable(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      out += "\ufffd";
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text[i]! + text[i + 1]!;
        i++;
      } else {
        out += "\ufffd";
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\ufffd";
    } else {
      out += text[i]!;
    }
  }
  return out;
}

/**
 * A Markdown code span showing `text` literally (cut to `max` characters): the fence is one
 * backtick longer than the longest run inside, padded when the text starts or ends with one.
 * @example inlineCode("a`b") === "``a`b``"
 */
export function inlineCode(text: string, max = 80): string {
  const shown = printable(truncate(text, max));
  if (shown === "") return "(empty)";
  let longest = 0;
  let run = 0;
  for (let i = 0; i < shown.length; i++) {
    run = shown[i] === "`" ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  const fence = "`".repeat(longest + 1);
  const pad = shown.startsWith("`") || shown.endsWith("`") || (shown.startsWith(" ") && shown.endsWith(" ")) ? " " : "";
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/** "U+0007": how a message names a character that cannot be shown. */
export function codePoint(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}
