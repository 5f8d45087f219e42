/**
 * A repository's `.github/bisect.yml`: its defaults for `/bisect` commands. Every error names
 * the line, the key and the value, and says what to write instead.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from "yaml";
import { z } from "zod";
import { closestMatch } from "../command/closest-match.js";
import { parseTimeout, TIMEOUT_RULE } from "../command/duration.js";
import { inlineCode } from "../command/markdown-text.js";
import { testCommandProblem } from "../command/test-command.js";

export interface RepoConfig {
  /** The test command when a comment gives none; null: the comment must give one. */
  command: string | null;
  /** The workflow file in `.github/workflows/` that runs the bisect. */
  workflow: string;
  parallel: number;
  timeoutSeconds: number | null;
  flaky: boolean;
  firstParent: boolean;
  /** Larger ranges are refused before anything runs. */
  maxCommits: number;
  /** Run before each test in each checkout (`npm ci`); when it fails, the commit is untestable. */
  setup: string | null;
}

export const DEFAULT_REPO_CONFIG: RepoConfig = Object.freeze({
  command: null,
  workflow: "bisect.yml",
  parallel: 1,
  timeoutSeconds: null,
  flaky: false,
  firstParent: false,
  maxCommits: 20000,
  setup: null,
});

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; message: string; line: number | null };

const FILE = "`.github/bisect.yml`";
const WORKFLOW_FILE = /^[A-Za-z0-9._-]+\.ya?ml$/;
const MAX_WORKFLOW_NAME = 255;

type Check = { ok: true } | { ok: false; message: string };

/** How one key is read: the rule a message states, and how a YAML scalar becomes a setting. */
interface KeySpec {
  /** Completes "`parallel` must be …". */
  rule: string;
  /** A null value (`timeout:` with nothing after it) leaves the default; else it is an error. */
  nullable: boolean;
  /** Checks `value` and writes it into `config`, or says what is wrong beyond the rule. */
  apply: (value: unknown, config: RepoConfig) => Check | "rule";
}

const integerIn = (min: number, max: number) => z.number().int().min(min).max(max);
const parallelSchema = integerIn(1, 16);
const maxCommitsSchema = integerIn(1, 1_000_000);

/** A test or setup command: text, not blank, short enough, no control characters. */
function applyCommand(key: string, set: (config: RepoConfig, value: string) => void): KeySpec["apply"] {
  return (value, config) => {
    if (typeof value !== "string") return "rule";
    const text = value.trim();
    if (text === "") return { ok: false, message: `\`${key}\` is empty; write a command, or remove the line to have none.` };
    const problem = testCommandProblem(text);
    if (problem !== null) return { ok: false, message: `\`${key}\` ${problem}.` };
    set(config, text);
    return { ok: true };
  };
}

const KEYS: Record<string, KeySpec> = {
  command: {
    rule: "the test command as text, such as `command: npm test`",
    nullable: true,
    apply: applyCommand("command", (c, v) => (c.command = v)),
  },
  workflow: {
    rule: "the file name of a workflow in `.github/workflows/`, such as `bisect.yml`",
    nullable: false,
    apply: (value, config) => {
      if (typeof value !== "string") return "rule";
      if (value.length <= MAX_WORKFLOW_NAME && WORKFLOW_FILE.test(value)) {
        config.workflow = value;
        return { ok: true };
      }
      const base = value.slice(value.lastIndexOf("/") + 1);
      if (base !== value && base.length <= MAX_WORKFLOW_NAME && WORKFLOW_FILE.test(base)) {
        return { ok: false, message: `\`workflow\` is a file name in \`.github/workflows/\`, not a path: write \`workflow: ${base}\`, got ${inlineCode(value)}.` };
      }
      return "rule";
    },
  },
  parallel: {
    rule: "a whole number from 1 to 16",
    nullable: false,
    apply: (value, config) => {
      if (!parallelSchema.safeParse(value).success) return "rule";
      config.parallel = value as number;
      return { ok: true };
    },
  },
  timeout: {
    rule: TIMEOUT_RULE,
    nullable: true,
    apply: (value, config) => {
      if (typeof value !== "string" && typeof value !== "number") return "rule";
      const result = parseTimeout(value);
      if (!result.ok) return "rule";
      config.timeoutSeconds = result.seconds;
      return { ok: true };
    },
  },
  flaky: {
    rule: "`true` or `false`",
    nullable: false,
    apply: (value, config) => {
      if (typeof value !== "boolean") return "rule";
      config.flaky = value;
      return { ok: true };
    },
  },
  first_parent: {
    rule: "`true` or `false`",
    nullable: false,
    apply: (value, config) => {
      if (typeof value !== "boolean") return "rule";
      config.firstParent = value;
      return { ok: true };
    },
  },
  max_commits: {
    rule: "a whole number from 1 to 1000000",
    nullable: false,
    apply: (value, config) => {
      if (!maxCommitsSchema.safeParse(value).success) return "rule";
      config.maxCommits = value as number;
      return { ok: true };
    },
  },
  setup: {
    rule: "a command as text, run before each test, such as `setup: npm ci`",
    nullable: true,
    apply: applyCommand("setup", (c, v) => (c.setup = v)),
  },
};
const KEY_NAMES = Object.keys(KEYS);
const KEY_LIST = KEY_NAMES.map((k) => `\`${k}\``).join(", ");

/** Names people reach for that edit distance would not find. */
const KEY_ALIASES: Record<string, string> = {
  test: "command",
  test_command: "command",
  run: "command",
  script: "command",
  timeout_seconds: "timeout",
  timeout_minutes: "timeout",
  step_timeout: "timeout",
  jobs: "parallel",
  workers: "parallel",
  install: "setup",
  before: "setup",
  workflow_file: "workflow",
};

/** `firstParent`, `First-Parent` → `first_parent`: the spelling KEYS uses. */
function normalizeKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[-\s]+/g, "_");
}

function suggestKey(key: string): string | null {
  const normalized = normalizeKey(key);
  if (Object.hasOwn(KEYS, normalized)) return normalized;
  if (Object.hasOwn(KEY_ALIASES, normalized)) return KEY_ALIASES[normalized]!;
  return closestMatch(normalized, KEY_NAMES);
}

/** How a message shows a value the user wrote. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return inlineCode(String(value), 60);
}

function fail(line: number | null, message: string): RepoConfigResult {
  return { ok: false, message: line === null ? `${FILE}: ${message}` : `${FILE} line ${line}: ${message}`, line };
}

/** The value a YAML node holds, for the checks: scalars as they are, collections as a shape. */
function valueOf(node: unknown, doc: Document): unknown {
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (isScalar(target)) return target.value;
  if (isSeq(target)) return [];
  if (isMap(target)) return {};
  return null;
}

/**
 * Reads `.github/bisect.yml`. Null (no file), an empty file or only comments give the defaults.
 * @example parseRepoConfig("parallel: 4\ncommand: npm test")
 *   // { ok: true, config: { ...DEFAULT_REPO_CONFIG, parallel: 4, command: "npm test" } }
 */
export function parseRepoConfig(text: string | null): RepoConfigResult {
  const config: RepoConfig = { ...DEFAULT_REPO_CONFIG };
  if (text === null) return { ok: true, config };
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number): number => Math.max(1, lineCounter.linePos(offset).line);

  const error = doc.errors[0];
  if (error) {
    let offset = error.pos[0];
    // An unclosed quote is found at the end of the file: point at the quote that opened it.
    if (error.code === "MISSING_CHAR" && error.message.includes("quote")) {
      const opening = text.lastIndexOf(error.message.includes('"') ? '"' : "'", offset - 1);
      if (opening !== -1) offset = opening;
    }
    // Errors found at the end of the file point at its last line with something on it.
    const lines = text.split("\n");
    let line = lineOf(offset);
    while (line > 1 && (lines[line - 1] ?? "").trim() === "") line--;
    if (error.code === "DUPLICATE_KEY") {
      // The error's range may cover only the key's first character: read the key up to its colon.
      const end = text.slice(error.pos[0], error.pos[0] + 1100).search(/[:\n]/);
      const key = text.slice(error.pos[0], end === -1 ? error.pos[1] : error.pos[0] + end).trim();
      return fail(line, `${key === "" ? "a key" : inlineCode(key)} appears twice; keep one.`);
    }
    const reason = error.message.split("\n")[0]!.replace(/\.?$/, "");
    return fail(line, `this is not valid YAML (${reason}). Check the indentation and quotes on that line.`);
  }

  const contents = doc.contents as Node | null;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { ok: true, config };
  if (!isMap(contents)) {
    const shape = isSeq(contents) ? "a list" : `the value ${describe(valueOf(contents, doc))}`;
    return fail(1, `the file must be a mapping of keys to values, such as \`parallel: 4\`; it holds ${shape}.`);
  }

  for (const pair of contents.items as Pair<unknown, unknown>[]) {
    const keyNode = pair.key as Node | null;
    const keyLine = keyNode?.range ? lineOf(keyNode.range[0]) : 1;
    if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === "object") {
      return fail(keyLine, `keys are plain names such as \`parallel\`. The keys are ${KEY_LIST}.`);
    }
    const key = String(keyNode.value);
    if (!Object.hasOwn(KEYS, key)) {
      const guess = suggestKey(key);
      const hint = guess ? `did you mean \`${guess}\`?` : `the keys are ${KEY_LIST}.`;
      return fail(keyLine, `unknown key ${inlineCode(key)}; ${hint}`);
    }
    const spec = KEYS[key]!;
    const valueNode = pair.value as Node | null;
    const value = valueOf(valueNode, doc);
    // An empty value has no place of its own: point at its key.
    const line = value !== null && valueNode?.range ? lineOf(valueNode.range[0]) : keyLine;
    if (value === null) {
      if (spec.nullable) continue;
      return fail(line, `\`${key}\` has no value; it must be ${spec.rule}. Remove the line to use the default.`);
    }
    const check = spec.apply(value, config);
    if (check === "rule") return fail(line, `\`${key}\` must be ${spec.rule}, got ${describe(value)}.`);
    if (!check.ok) return fail(line, check.message);
  }
  return { ok: true, config };
}
