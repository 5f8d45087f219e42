/**
 * Which revisions a comment may name: a ref or commit as `git check-ref-format` accepts it, with
 * `~N` / `^N` suffixes, minus every character a shell or a Markdown reply would treat specially.
 */
import { codePoint, codeSpan } from "../messages/markdown.js";

/** Values quoted in a message are cut to this many characters. */
const SHOWN = 80;

export const MAX_REF_LENGTH = 200;

/** Refused by `git check-ref-format` anywhere in a name (`~` and `^` only start a suffix). */
const GIT_FORBIDDEN = ":?*[\\";
/** Legal in git, refused here: shell and Markdown metacharacters, and the range's own separator. */
const EXTRA_FORBIDDEN = "$`'\";|&<>(){}!#%,";

/** The character problem at `i`, if any. */
function characterProblem(ref: string, i: number): string | null {
  const c = ref.charCodeAt(i);
  if (c < 0x20 || c === 0x7f) return `the control character ${codePoint(c)} is not allowed`;
  if (c === 0x20) return "a space is not allowed";
  if (c > 0x7e) {
    const surrogate = c >= 0xd800 && c <= 0xdfff;
    const ch = surrogate ? (ref.codePointAt(i) ?? c) : c;
    const shown = surrogate && ch === c ? codePoint(c) : `${codeSpan(String.fromCodePoint(ch), SHOWN)} (${codePoint(ch)})`;
    return `the non-ASCII character ${shown} is not allowed`;
  }
  const ch = ref[i]!;
  if (ch === ",") return "`,` separates several good refs (`v1.3,v1.4..main`) and cannot be part of one";
  if (GIT_FORBIDDEN.includes(ch) || EXTRA_FORBIDDEN.includes(ch)) return `${codeSpan(ch, SHOWN)} is not allowed`;
  return null;
}

/** Where the `~N`/`^N` suffixes start (the name's length when there are none). */
function suffixStart(ref: string): number {
  for (let i = 0; i < ref.length; i++) if (ref[i] === "~" || ref[i] === "^") return i;
  return ref.length;
}

/** What `git check-ref-format` would refuse in the name part. */
function nameProblem(name: string): string | null {
  if (name === "") return "it has no name before `~` or `^`";
  if (name === "@") return "`@` alone is not allowed";
  if (name.startsWith("-")) return "it starts with `-`";
  if (name.startsWith(".")) return "it starts with `.`";
  if (name.startsWith("/")) return "it starts with `/`";
  if (name.endsWith("/")) return "it ends with `/`";
  if (name.endsWith(".")) return "it ends with `.`";
  if (name.includes("..")) return "it contains `..`";
  if (name.includes("//")) return "it contains `//`";
  if (name.includes("@{")) return "it contains `@{`";
  for (const part of name.split("/")) {
    if (part.startsWith(".")) return `the part ${codeSpan(part, SHOWN)} starts with \`.\``;
    if (part.endsWith(".lock")) return `the part ${codeSpan(part, SHOWN)} ends with \`.lock\``;
  }
  return null;
}

/**
 * Why `ref` cannot be used as a revision, in words that finish "… is not a valid ref: <reason>",
 * or null when it is fine.
 * @example refProblem("v1.4$x") === "`$` is not allowed"
 */
export function refProblem(ref: string): string | null {
  if (typeof ref !== "string" || ref === "") return "it is empty";
  if (ref.length > MAX_REF_LENGTH) return `it is ${ref.length} characters long; a ref has at most ${MAX_REF_LENGTH}`;
  for (let i = 0; i < ref.length; i++) {
    const problem = characterProblem(ref, i);
    if (problem) return problem;
  }
  const split = suffixStart(ref);
  for (let i = split; i < ref.length; i++) {
    const ch = ref[i]!;
    if (ch !== "~" && ch !== "^" && (ch < "0" || ch > "9")) {
      return `only a number may follow \`~\` or \`^\` (as in \`main~3\` or \`HEAD^2\`), not ${codeSpan(ch, SHOWN)}`;
    }
  }
  return nameProblem(ref.slice(0, split));
}

/** True when `ref` names a revision the grammar accepts: `v1.4`, `release/2.x`, `main~20`, `HEAD^2`, `a1b2c3d`. */
export function isValidRefExpression(ref: string): boolean {
  return refProblem(ref) === null;
}

/**
 * `ref` with what makes it invalid taken out (`v1.4$` → `v1.4`), for the example in an error
 * message; null when nothing usable is left.
 */
export function repairRef(ref: string): string | null {
  // Bounded to MAX_REF_LENGTH characters, so the clean-up below stays cheap.
  let kept = "";
  for (let i = 0; i < ref.length && kept.length < MAX_REF_LENGTH; i++) {
    if (characterProblem(ref, i) === null) kept += ref[i];
  }
  const split = suffixStart(kept);
  const suffix = kept.slice(split).replace(/[^~^0-9]/g, "");
  const name = kept
    .slice(0, split)
    .replace(/\.{2,}/g, ".")
    .replace(/\/{2,}/g, "/")
    .replace(/\.lock(?=\/|$)/g, "")
    .replace(/\/\.+/g, "/")
    .replace(/^[-./]+/, "")
    .replace(/[./]+$/, "");
  const repaired = name + suffix;
  return isValidRefExpression(repaired) ? repaired : null;
}
