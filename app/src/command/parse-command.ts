/**
 * The `/bisect` comment grammar: finds the command in a comment and reads it into a
 * BisectCommand, or into an error that says what is wrong and shows a corrected command.
 *
 *   /bisect <good>[,<good>…]..<bad> [options] [-- <test command>]
 *   /bisect [options] [-- <test command>]        (a pull request: its base..head)
 *   /bisect status | cancel | retry | help
 *
 * The options are the options table's on the `comment` surface (action/src/options.ts): each
 * flag's value is read, checked, described and repaired by its definition there.
 *
 * The test command may instead be a fenced code block right below the `/bisect` line.
 */
import { flagSyntax, OPTIONS, type OptionDefinition } from "../../../action/src/options.js";
import { codeSpan, truncate } from "../messages/markdown.js";
import {
  bisectOptionsSchema,
  COMMENT_OPTION_KEYS,
  MAX_GOOD_REFS,
  type BisectCommand,
  type BisectOptions,
  type CommentOptionKey,
  type RunRef,
} from "./bisect-command.js";
import { closestMatch } from "./closest-match.js";
import { formatBisectCommand, formatOptionValue } from "./format-command.js";
import { isSpace, locateCommand, type CommandLocation } from "./locate-command.js";
import { isValidRefExpression, refProblem, repairRef } from "./ref-expression.js";
import { testCommandProblem } from "./test-command.js";

export type { BisectCommand, BisectOptions } from "./bisect-command.js";
export { isValidRefExpression } from "./ref-expression.js";
export { MAX_COMMAND_LENGTH } from "./test-command.js";

export type ParseResult = { ok: true; command: BisectCommand; line: string } | { ok: false; line: string; message: string; example: string };

/** The example shown when nothing the user wrote can be kept. */
export const DEFAULT_EXAMPLE = "/bisect v1.4..main -- npm test";

const MAX_LINE_SHOWN = 200;
/** Longer test commands are left out of examples (the user still has theirs). */
const MAX_EXAMPLE_COMMAND = 200;
/** Messages name the first few problems; the example fixes them all. */
const MAX_ERRORS_SHOWN = 3;
const MAX_ERRORS_KEPT = 10;

const SUBCOMMANDS = ["status", "cancel", "retry", "help"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function isSubcommand(word: string): word is Subcommand {
  return SUBCOMMANDS.some((subcommand) => subcommand === word);
}

/** Hyphens and dashes that editors and phones put in place of `-` (en dash, em dash, minus…). */
const LOOKALIKE_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212";

function startsWithLookalikeDash(word: string): boolean {
  return word.length > 0 && LOOKALIKE_DASHES.includes(word[0]!);
}

/** `—` or `——`: a `--` separator an editor turned into a dash. */
function isLookalikeSeparator(word: string): boolean {
  for (const ch of word) if (!LOOKALIKE_DASHES.includes(ch)) return false;
  return word.length > 0;
}

// ─── Flags ───────────────────────────────────────────────────────────────────

/** Values quoted in a message are cut to this many characters. */
const SHOWN = 80;

/** A value the user wrote, quoted so that nothing in it is Markdown. */
function quote(text: string): string {
  return codeSpan(text, SHOWN);
}

/** The comment's flags by the name written after `--`: `first-parent` → `firstParent`. */
const FLAGS = new Map<string, CommentOptionKey>(COMMENT_OPTION_KEYS.map((key) => [OPTIONS[key].name, key]));
const FLAG_NAMES = [...FLAGS.keys()];

/** "`--first-parent`, `--flaky`, … and `--step-timeout <duration>`". */
function listFlags(): string {
  const flags = COMMENT_OPTION_KEYS.map((key) => `\`${flagSyntax(OPTIONS[key])}\``);
  return flags.length === 1 ? flags[0]! : `${flags.slice(0, -1).join(", ")} and ${flags.at(-1)!}`;
}
const FLAG_LIST = listFlags();

/** An option that takes a value (every kind but a switch). */
type ValueOption = Exclude<OptionDefinition, { kind: "switch" }>;

/** What a flag's value `text` stands for, or (not ok) its definition's repair of it, for the example. */
function readValue(definition: ValueOption, text: string): { ok: boolean; value: number } {
  const read = definition.text.safeParse(text);
  return read.success ? { ok: true, value: read.data } : { ok: false, value: definition.repair(text) };
}

// ─── Parsing one line ────────────────────────────────────────────────────────

interface Token {
  text: string;
  start: number;
  end: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    const start = i;
    while (i < text.length && !isSpace(text.charCodeAt(i))) i++;
    if (i > start) tokens.push({ text: text.slice(start, i), start, end: i });
  }
  return tokens;
}

/**
 * What one `/bisect` line says so far. Every problem is recorded in `errors` and repaired in
 * place, so that the same state renders the example of a corrected command.
 */
interface Draft {
  errors: string[];
  /** Each option given so far (a refused value already repaired), by key. */
  options: Map<CommentOptionKey, number | boolean>;
  rangeText: string | null;
  range: { goods: string[]; bad: string } | null;
  /** A failed run's URL given instead of a range. */
  run: RunRef | null;
  /** An example that replaces the whole command (e.g. `/bisect status` for `/bisect stauts`). */
  exampleOverride: string | null;
  /** Words the user wrote after the range without `--`: probably the test command. */
  strayCommand: string | null;
}

function addError(d: Draft, message: string): void {
  if (d.errors.length < MAX_ERRORS_KEPT && !d.errors.includes(message)) d.errors.push(message);
}

/** A value may follow its flag as the next word, unless that word is another option or the range. */
function canBeValue(word: string | undefined): word is string {
  return word !== undefined && !word.startsWith("--") && !word.includes("..") && !startsWithLookalikeDash(word);
}

/** Reads the option `word`; returns true when it also used `next` as its value. */
function readOption(d: Draft, word: string, next: string | undefined): boolean {
  let text = word;
  if (startsWithLookalikeDash(word)) {
    let i = 0;
    while (i < word.length && (word[i] === "-" || LOOKALIKE_DASHES.includes(word[i]!))) i++;
    text = `--${word.slice(i)}`;
    addError(d, `${quote(word)} starts with a dash (\`${word[0]}\`) where an option has two hyphens; write ${quote(text)}.`);
  }
  const eq = text.indexOf("=");
  const written = eq === -1 ? text : text.slice(0, eq);
  const inlineValue = eq === -1 ? undefined : text.slice(eq + 1);
  let dashes = 0;
  while (written[dashes] === "-") dashes++;
  let name = written.slice(dashes);
  let key = dashes === 2 ? FLAGS.get(name) : undefined;
  if (key === undefined) {
    if (name === "help" || name === "h") {
      addError(d, `${quote(written)} is not an option; for help, comment \`/bisect help\`.`);
      d.exampleOverride ??= "/bisect help";
      return false;
    }
    const guess = closestMatch(name.toLowerCase().replaceAll("_", "-"), FLAG_NAMES);
    if (!guess) {
      addError(d, `Unknown option ${quote(written)}. The options are ${FLAG_LIST}; the test command goes after \`--\`.`);
      // `--jobs 4`: the number belongs to the unknown option, not to the range.
      const consumes = inlineValue === undefined && canBeValue(next) && /^[0-9]/.test(next);
      return consumes;
    }
    addError(d, `Unknown option ${quote(written)}; did you mean \`--${guess}\`?`);
    name = guess;
    key = FLAGS.get(guess)!;
  }
  const definition: OptionDefinition = OPTIONS[key];
  const display = `--${name}`;
  if (d.options.has(key)) {
    addError(d, `\`${display}\` is given twice; give it once.`);
    return definition.kind !== "switch" && inlineValue === undefined && canBeValue(next);
  }
  if (definition.kind === "switch") {
    if (inlineValue !== undefined) addError(d, `\`${display}\` takes no value, got ${quote(text)}; write \`${display}\` alone.`);
    d.options.set(key, true);
    return false;
  }
  const consumed = inlineValue === undefined && canBeValue(next);
  const value = consumed ? next : inlineValue;
  if (value === undefined || value === "") {
    const example = readValue(definition, "").value;
    addError(d, `\`${display}\` needs a value: ${definition.rule}, as in \`${display} ${formatOptionValue(definition, example)}\`.`);
    d.options.set(key, example);
    return consumed;
  }
  const reading = readValue(definition, value);
  if (!reading.ok) addError(d, `\`${display}\` must be ${definition.rule}, got ${quote(value)}.`);
  d.options.set(key, reading.value);
  return consumed;
}

const GOOD_PLACEHOLDERS = ["v1.4", "v1.0", "HEAD~100"];
const BAD_PLACEHOLDERS = ["main", "HEAD"];

function placeholder(candidates: string[], avoid: readonly string[]): string {
  return candidates.find((c) => !avoid.includes(c)) ?? candidates[0]!;
}

function refError(d: Draft, ref: string): string | null {
  const problem = refProblem(ref);
  if (problem === null) return ref;
  addError(d, `${quote(ref)} is not a valid ref: ${problem}.`);
  return repairRef(ref);
}

/** `https://github.com/<owner>/<repo>/actions/runs/<id>`, with an attempt, job or query after it (GitHub's run links). */
const RUN_URL =
  /^https?:\/\/[^/\s]+\/([A-Za-z0-9_.-]{1,100})\/([A-Za-z0-9_.-]{1,100})\/actions\/runs\/(\d{1,15})(?:\/(?:attempts|job)\/\d{1,15})?\/?(?:[?#]\S*)?$/;

/** A failed run's URL, instead of a range: its range is the run before it (green) to its head. */
function readRunUrl(d: Draft, word: string): boolean {
  const match = RUN_URL.exec(word);
  if (!match) return false;
  if (d.rangeText !== null || d.run !== null) {
    addError(d, `Give a range or a failed run's URL, not both; got ${quote(d.rangeText ?? "a run URL")} and ${quote(word)}.`);
    return true;
  }
  d.run = { owner: match[1]!, repo: match[2]!, runId: Number(match[3]) };
  d.rangeText = word;
  return true;
}

function readRange(d: Draft, word: string): void {
  if (d.run !== null) {
    addError(d, `Give a range or a failed run's URL, not both; got a run URL and ${quote(word)}.`);
    return;
  }
  if (d.rangeText !== null) {
    addError(d, `Give one range; got ${quote(d.rangeText)} and ${quote(word)}. Several good refs go before \`..\`, separated by commas: \`v1.3,v1.4..main\`.`);
    return;
  }
  d.rangeText = word;
  let text = word;
  if (text.includes("...")) {
    text = text.replace(/\.{3,}/g, "..");
    addError(d, `${quote(word)} has three dots; a bisect range has two: ${quote(text)} (good..bad).`);
  }
  const at = text.indexOf("..");
  const goodsText = text.slice(0, at);
  const badText = text.slice(at + 2);

  const goods: string[] = [];
  const seen = new Set<string>();
  if (goodsText === "") {
    addError(d, `${quote(word)} has no good ref before \`..\`; name a commit where the test passes, as in ${quote(`v1.4${text}`)}.`);
  } else {
    let reportedEmpty = false;
    for (const good of goodsText.split(",")) {
      if (good === "") {
        if (!reportedEmpty) addError(d, `${quote(goodsText)} has an empty good ref; separate good refs with single commas, as in \`v1.3,v1.4..main\`.`);
        reportedEmpty = true;
        continue;
      }
      const fixed = refError(d, good);
      if (fixed !== null && !seen.has(fixed)) {
        seen.add(fixed);
        goods.push(fixed);
      }
    }
  }

  let bad: string | null = null;
  if (badText === "") {
    addError(d, `${quote(word)} has no bad ref after \`..\`; name a commit where the test fails, as in ${quote(`${text}main`)}.`);
  } else if (badText.includes(",")) {
    addError(d, `${quote(badText)} names several bad refs; a range has one bad ref, after \`..\` (several good refs go before it: \`v1.3,v1.4..main\`).`);
    const first = badText.split(",").find((b) => b !== "");
    bad = first === undefined ? null : refProblem(first) === null ? first : repairRef(first);
  } else {
    bad = refError(d, badText);
  }

  if (goods.length > MAX_GOOD_REFS) {
    addError(d, `${quote(goodsText)} names ${goods.length} good refs; give at most ${MAX_GOOD_REFS}.`);
    goods.length = MAX_GOOD_REFS;
  }
  if (bad !== null && goods.includes(bad)) {
    addError(d, `${quote(bad)} is both a good ref and the bad one; the bad ref is where the test fails.`);
    goods.splice(goods.indexOf(bad), 1);
  }
  bad ??= placeholder(BAD_PLACEHOLDERS, goods);
  if (goods.length === 0) goods.push(placeholder(GOOD_PLACEHOLDERS, [bad]));
  d.range = { goods, bad };
}

/** Branch names that are refs for sure, even without a digit or a dot. */
const WELL_KNOWN_REFS = new Set(["main", "master", "HEAD", "develop", "trunk"]);

/** `v1.4`, `main`, `abc1234`, `release/2.x`: a word that reads as a ref rather than as a shell word like `npm`. */
function looksLikeRef(word: string): boolean {
  return isValidRefExpression(word) && (WELL_KNOWN_REFS.has(word) || /[0-9./~^]/.test(word));
}

/** What the caller does after readWord: go on, also skip the next word, or stop reading words. */
type After = "next" | "skip" | "stop";

/** A word that is neither the range nor an option. */
function readWord(d: Draft, words: Token[], index: number, hasSeparator: boolean, rest: string): After {
  const word = words[index]!.text;
  if (readRunUrl(d, word)) return "next";
  if (isSubcommand(word)) {
    addError(d, `\`${word}\` is a command of its own: write \`/bisect ${word}\` alone.`);
    d.exampleOverride ??= `/bisect ${word}`;
    return "next";
  }
  if (index === 0 && /^[A-Za-z]+$/.test(word)) {
    const guess = closestMatch(word.toLowerCase(), SUBCOMMANDS);
    if (guess) {
      addError(d, `Unknown command ${quote(word)}; did you mean \`/bisect ${guess}\`?`);
      d.exampleOverride ??= `/bisect ${guess}`;
      return "next";
    }
  }
  const next = words[index + 1]?.text;
  const afterNext = words[index + 2]?.text;
  const endsAt = (w: string | undefined): boolean => w === undefined || w.startsWith("-");
  if (d.rangeText === null && endsAt(next) && isValidRefExpression(word)) {
    const good = word === "main" ? "v1.4" : word;
    addError(d, `${quote(word)} is a single ref; a bisect needs a range from a good ref to a bad one, as in ${quote(`${good}..main`)}.`);
    d.rangeText = word;
    d.range = { goods: [good], bad: "main" };
    return "next";
  }
  if (d.rangeText === null && next !== undefined && endsAt(afterNext) && next !== word && looksLikeRef(word) && looksLikeRef(next)) {
    const range = `${word}..${next}`;
    addError(d, `${quote(`${word} ${next}`)} is not a range; write ${quote(range)} (good..bad).`);
    d.rangeText = range;
    d.range = { goods: [word], bad: next };
    return "skip";
  }
  if (!hasSeparator) {
    d.strayCommand = rest.slice(words[index]!.start).trim();
    addError(d, `Unexpected ${quote(word)}; if the test command starts there, put \`--\` before it.`);
    return "stop";
  }
  addError(d, `Unexpected ${quote(word)}; before \`--\` come the range (\`v1.4..main\`) and options such as \`--flaky\`.`);
  return "next";
}

/** A test command an example can show on its line, or null. */
function exampleCommandFrom(command: string | null): string | null {
  if (command === null || command === "" || command.length > MAX_EXAMPLE_COMMAND || command.includes("\n")) return null;
  return testCommandProblem(command) === null ? command : null;
}

function parseLine(location: CommandLocation, checkExample: boolean): ParseResult {
  const line = truncate(location.line.trim(), MAX_LINE_SHOWN);
  const rest = location.rest;
  const tokens = tokenize(rest);
  const separator = tokens.findIndex((t) => t.text === "--" || isLookalikeSeparator(t.text));
  const words = separator === -1 ? tokens : tokens.slice(0, separator);
  const inline = separator === -1 ? null : rest.slice(tokens[separator]!.end).trim();

  const first = words[0]?.text;
  if (first !== undefined && isSubcommand(first)) {
    if (tokens.length === 1) return { ok: true, command: { kind: first }, line };
    const extra = rest.slice(tokens[1]!.start).trim();
    return {
      ok: false,
      line,
      message: `\`/bisect ${first}\` takes nothing after it; remove ${quote(extra)}.`,
      example: `/bisect ${first}`,
    };
  }

  const d: Draft = {
    errors: [],
    options: new Map(),
    rangeText: null,
    range: null,
    run: null,
    exampleOverride: null,
    strayCommand: null,
  };
  if (separator !== -1 && tokens[separator]!.text !== "--") {
    addError(d, `${quote(tokens[separator]!.text)} is a dash where \`--\` (two hyphens) should come before the test command.`);
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!.text;
    // `-rf..main` is a range with a bad good ref, not an option.
    const isRange = word.includes("..") && !word.startsWith("--") && !startsWithLookalikeDash(word);
    if (isRange) {
      readRange(d, word);
    } else if (word.startsWith("-") || startsWithLookalikeDash(word)) {
      if (readOption(d, word, words[i + 1]?.text)) i++;
    } else {
      const after = readWord(d, words, i, separator !== -1, rest);
      if (after === "stop") break;
      if (after === "skip") i++;
    }
  }

  // The test command: after `--`, or in the code block below the line.
  const block = location.block;
  let command: string | null = null;
  let exampleCommand: string | null = null;
  if (d.strayCommand !== null) {
    exampleCommand = d.strayCommand;
  } else if (inline && block !== null) {
    addError(
      d,
      "The test command is given twice: after `--` and in the code block below. Keep one; to show a code block that is not the command, write a line of text between them.",
    );
    exampleCommand = inline;
  } else if (inline) {
    command = inline;
    exampleCommand = inline;
  } else if (block !== null) {
    if (block === "") addError(d, "The code block below `/bisect` is empty; put the test command in it, or remove it to use the repository's default command.");
    else command = block;
  } else if (inline === "") {
    addError(d, "Nothing follows `--`; write the test command after it, as in `-- npm test`, or leave `--` out to use the repository's default command.");
    exampleCommand = "npm test";
  }
  if (command !== null) {
    const problem = testCommandProblem(command);
    if (problem !== null) {
      addError(d, `The test command ${problem}.`);
      exampleCommand = command === inline ? "npm test" : null;
    }
  }

  if (d.options.has("confidence") && d.options.get("flaky") !== true) {
    addError(d, "`--confidence` applies only to a flaky test; add `--flaky`.");
    d.options.set("flaky", true);
  }
  // Every value was checked (or repaired) on the way in; this gives them their types, and guards
  // the shape handed to the rest of the app.
  const checked = bisectOptionsSchema.safeParse(Object.fromEntries(d.options));
  if (!checked.success) addError(d, `These options do not fit together: ${checked.error.issues.map((i) => i.message).join("; ")}.`);
  const options: BisectOptions = checked.success ? checked.data : {};

  if (d.errors.length === 0) {
    return { ok: true, command: { kind: "bisect", range: d.range, ...(d.run === null ? {} : { run: d.run }), options, command }, line };
  }
  let message = d.errors.slice(0, MAX_ERRORS_SHOWN).join(" ");
  const more = d.errors.length - MAX_ERRORS_SHOWN;
  if (more > 0) message += more === 1 ? " One more problem is fixed in the example." : " More problems are fixed in the example.";
  let example =
    d.exampleOverride ??
    formatBisectCommand({
      kind: "bisect",
      range: d.range,
      ...(d.run === null ? {} : { run: d.run }),
      options,
      command: exampleCommandFrom(exampleCommand),
    });
  if (example === "/bisect") example = DEFAULT_EXAMPLE;
  if (checkExample && !parseInternal(example, false)?.ok) example = DEFAULT_EXAMPLE;
  return { ok: false, line, message, example };
}

function parseInternal(body: string, checkExample: boolean): ParseResult | null {
  if (typeof body !== "string") return null;
  const location = locateCommand(body);
  return location === null ? null : parseLine(location, checkExample);
}

/**
 * Reads the `/bisect` command in a GitHub comment: the first line outside code blocks, quotes and
 * HTML comments whose first word is `/bisect`. Null when there is none (most comments). Never
 * throws; runs in time linear in the comment's length.
 * @example parseComment("/bisect v1.4..main -- npm test")
 *   // { ok: true, line: "/bisect v1.4..main -- npm test",
 *   //   command: { kind: "bisect", range: { goods: ["v1.4"], bad: "main" }, options: {}, command: "npm test" } }
 */
export function parseComment(body: string): ParseResult | null {
  return parseInternal(body, true);
}
