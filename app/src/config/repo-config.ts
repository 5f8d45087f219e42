/**
 * A repository's `.github/bisect.yml`: its defaults for `/bisect` commands. Every error names
 * the line, the key and the value, and says what to write instead.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { configKey, OPTIONS, optionsOn, optionValuesSchema, SURFACES, type OptionDefinition, type OptionKeyOn } from "../../../action/src/options.js";
import { closestMatch } from "../command/closest-match.js";
import { testCommandProblem } from "../command/test-command.js";
import { codeSpan } from "../messages/markdown.js";

type ConfigOptionKey = OptionKeyOn<"config">;

/** The options the file can set, in the table's order. */
export const CONFIG_OPTION_KEYS: readonly ConfigOptionKey[] = optionsOn("config");

const MAX_COMMITS = 1_000_000;
const MAX_AUTO_WORKFLOWS = 20;
const MAX_AUTO_PER_DAY = 1000;
/** A month of one runner. */
const MAX_RUNNER_MINUTES = 44_640;

/** A repository's settings: the options (the table's ranges) and the settings only the file has. */
export const repoConfigSchema = z.strictObject({
  ...optionValuesSchema.pick(SURFACES.config).shape,
  /** Null: the App's BISECT_TIMEOUT_SECONDS. */
  timeoutSeconds: OPTIONS.timeoutSeconds.value.nullable(),
  /** The test command when a comment gives none; null: the comment must give one. */
  command: z.string().nullable(),
  /** The workflow file in `.github/workflows/` that runs the bisect. */
  workflow: z.string(),
  /** Run before each test in each checkout (`npm ci`); when it fails, the commit is untestable. */
  setup: z.string().nullable(),
  /** Larger ranges are refused before anything runs. */
  maxCommits: z.int().min(1).max(MAX_COMMITS),
  /** A fan-out bisect whose estimate needs more runner minutes is refused before anything runs; null: no budget. */
  maxRunnerMinutes: z.int().min(1).max(MAX_RUNNER_MINUTES).nullable(),
  /** Automatic bisects: when a listed workflow goes red on the default branch after a green run; null: off. */
  auto: z
    .strictObject({
      /** Workflow file names in `.github/workflows/` (`ci.yml`). */
      workflows: z.array(z.string()).min(1).max(MAX_AUTO_WORKFLOWS),
      /** The test command; null: the file's `command`. */
      command: z.string().nullable(),
      runners: OPTIONS.runners.value,
      /** Re-runs of the culprit and its parents (1 unless set). */
      confirm: OPTIONS.confirm.value,
    })
    .nullable(),
  /** Automatic bisects started in any 24 hours, at most: a flapping branch does not spend the runners. */
  maxAutoBisectsPerDay: z.int().min(0).max(MAX_AUTO_PER_DAY),
});
export type RepoConfig = z.infer<typeof repoConfigSchema>;

/** What a repository without the file gets: the options' defaults, and the file-only settings'. */
export const DEFAULT_REPO_CONFIG: RepoConfig = Object.freeze(
  repoConfigSchema.parse({
    ...Object.fromEntries(CONFIG_OPTION_KEYS.map((key) => [key, OPTIONS[key].default])),
    // The App's BISECT_TIMEOUT_SECONDS, unless the file says otherwise.
    timeoutSeconds: null,
    command: null,
    workflow: "bisect.yml",
    setup: null,
    maxCommits: 20000,
    maxRunnerMinutes: null,
    auto: null,
    maxAutoBisectsPerDay: 10,
  }),
);

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; message: string; line: number | null };

const FILE = "`.github/bisect.yml`";
const WORKFLOW_FILE = /^[A-Za-z0-9._-]+\.ya?ml$/;
const MAX_WORKFLOW_NAME = 255;
/** Values quoted in a message are cut to this many characters. */
const SHOWN = 80;

type Check = { ok: true } | { ok: false; message: string };

const AUTO_RULE = "a mapping such as `auto: {workflows: [ci.yml], command: npm test}`";
/** The settings read so far, by RepoConfig field; repoConfigSchema types them at the end. */
type Fields = Record<string, unknown>;

/** How one key is read: the rule a message states, and how a YAML scalar becomes a setting. */
interface KeySpec {
  /** Completes "`parallel` must be …". */
  rule: string;
  /** A null value (`timeout:` with nothing after it) leaves the default; else it is an error. */
  nullable: boolean;
  /** Checks `value` and writes it into `fields`, or says what is wrong beyond the rule. */
  apply: (value: unknown, fields: Fields) => Check | "rule";
}

/** A test or setup command: text, not blank, short enough, no control characters. */
function applyCommand(key: string, field: "command" | "setup"): KeySpec["apply"] {
  return (value, fields) => {
    if (typeof value !== "string") return "rule";
    const text = value.trim();
    if (text === "") return { ok: false, message: `\`${key}\` is empty; write a command, or remove the line to have none.` };
    const problem = testCommandProblem(text);
    if (problem !== null) return { ok: false, message: `\`${key}\` ${problem}.` };
    fields[field] = text;
    return { ok: true };
  };
}

/**
 * An option's key: read with the option's `yaml` schema, stated with its `rule`. An option whose
 * default is the App's (null here: `timeout`) may be left empty.
 */
function optionKey(key: ConfigOptionKey): [string, KeySpec] {
  const definition: OptionDefinition = OPTIONS[key];
  const spec: KeySpec = {
    rule: definition.rule,
    nullable: DEFAULT_REPO_CONFIG[key] === null,
    apply: (value, fields) => {
      const read = definition.yaml.safeParse(value);
      if (!read.success) return "rule";
      fields[key] = read.data;
      return { ok: true };
    },
  };
  return [configKey(definition), spec];
}

/** The file's keys: the settings only it has, then the options in the table's order. */
const KEYS = new Map<string, KeySpec>([
  [
    "command",
    {
      rule: "the test command as text, such as `command: npm test`",
      nullable: true,
      apply: applyCommand("command", "command"),
    },
  ],
  [
    "setup",
    {
      rule: "a command as text, run before each test, such as `setup: npm ci`",
      nullable: true,
      apply: applyCommand("setup", "setup"),
    },
  ],
  [
    "workflow",
    {
      rule: "the file name of a workflow in `.github/workflows/`, such as `bisect.yml`",
      nullable: false,
      apply: (value, fields) => {
        if (typeof value !== "string") return "rule";
        if (value.length <= MAX_WORKFLOW_NAME && WORKFLOW_FILE.test(value)) {
          fields.workflow = value;
          return { ok: true };
        }
        const base = value.slice(value.lastIndexOf("/") + 1);
        if (base !== value && base.length <= MAX_WORKFLOW_NAME && WORKFLOW_FILE.test(base)) {
          return {
            ok: false,
            message: `\`workflow\` is a file name in \`.github/workflows/\`, not a path: write \`workflow: ${base}\`, got ${codeSpan(value, SHOWN)}.`,
          };
        }
        return "rule";
      },
    },
  ],
  [
    "max_commits",
    {
      rule: `a whole number from 1 to ${MAX_COMMITS}`,
      nullable: false,
      apply: (value, fields) => {
        const read = repoConfigSchema.shape.maxCommits.safeParse(value);
        if (!read.success) return "rule";
        fields.maxCommits = read.data;
        return { ok: true };
      },
    },
  ],
  [
    "max_runner_minutes",
    {
      rule: `a whole number of minutes from 1 to ${MAX_RUNNER_MINUTES}`,
      nullable: true,
      apply: (value, fields) => {
        const read = repoConfigSchema.shape.maxRunnerMinutes.safeParse(value);
        if (!read.success || read.data === null) return "rule";
        fields.maxRunnerMinutes = read.data;
        return { ok: true };
      },
    },
  ],
  [
    "max_auto_bisects_per_day",
    {
      rule: `a whole number from 0 to ${MAX_AUTO_PER_DAY}`,
      nullable: false,
      apply: (value, fields) => {
        const read = repoConfigSchema.shape.maxAutoBisectsPerDay.safeParse(value);
        if (!read.success) return "rule";
        fields.maxAutoBisectsPerDay = read.data;
        return { ok: true };
      },
    },
  ],
  // A mapping, read by readAuto (the spec states its rule when it is not one).
  ["auto", { rule: AUTO_RULE, nullable: true, apply: () => "rule" }],
  ...CONFIG_OPTION_KEYS.map(optionKey),
]);
const KEY_NAMES = [...KEYS.keys()];
const KEY_LIST = KEY_NAMES.map((k) => `\`${k}\``).join(", ");

/** Names people reach for that edit distance would not find. */
const KEY_ALIASES: Record<string, string> = {
  test: "command",
  test_command: "command",
  run: "command",
  script: "command",
  timeout_seconds: "timeout",
  timeout_minutes: "timeout",
  step_timeout_seconds: "step_timeout",
  test_timeout: "step_timeout",
  jobs: "parallel",
  workers: "parallel",
  matrix: "runners",
  fan_out: "runners",
  runner_minutes: "max_runner_minutes",
  budget: "max_runner_minutes",
  max_minutes: "max_runner_minutes",
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
  if (KEYS.has(normalized)) return normalized;
  if (Object.hasOwn(KEY_ALIASES, normalized)) return KEY_ALIASES[normalized]!;
  return closestMatch(normalized, KEY_NAMES);
}

/** A YAML scalar's value that is written as it is: not null, not a date or other object. */
function isPlainScalarValue(value: unknown): value is string | number | boolean | bigint {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint";
}

/** How a message shows a value the user wrote. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (!isPlainScalarValue(value)) return "a mapping";
  return codeSpan(String(value), 60);
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
  if (text === null) return { ok: true, config: { ...DEFAULT_REPO_CONFIG } };
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
      return fail(line, `${key === "" ? "a key" : codeSpan(key, SHOWN)} appears twice; keep one.`);
    }
    const reason = error.message.split("\n")[0]!.replace(/\.?$/, "");
    return fail(line, `this is not valid YAML (${reason}). Check the indentation and quotes on that line.`);
  }

  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { ok: true, config: { ...DEFAULT_REPO_CONFIG } };
  if (!isMap(contents)) {
    const shape = isSeq(contents) ? "a list" : `the value ${describe(valueOf(contents, doc))}`;
    return fail(1, `the file must be a mapping of keys to values, such as \`parallel: 4\`; it holds ${shape}.`);
  }

  const fields: Fields = {};
  let autoLine: number | undefined;
  for (const pair of contents.items) {
    const keyNode = pair.key;
    const keyLine = keyNode?.range ? lineOf(keyNode.range[0]) : 1;
    if (!isScalar(keyNode) || !isPlainScalarValue(keyNode.value)) {
      return fail(keyLine, `keys are plain names such as \`parallel\`. The keys are ${KEY_LIST}.`);
    }
    const key = String(keyNode.value);
    const spec = KEYS.get(key);
    if (spec === undefined) {
      const guess = suggestKey(key);
      const hint = guess ? `did you mean \`${guess}\`?` : `the keys are ${KEY_LIST}.`;
      return fail(keyLine, `unknown key ${codeSpan(key, SHOWN)}; ${hint}`);
    }
    const valueNode = pair.value;
    const value = valueOf(valueNode, doc);
    // An empty value has no place of its own: point at its key.
    const line = value !== null && valueNode?.range ? lineOf(valueNode.range[0]) : keyLine;
    if (value === null) {
      if (spec.nullable) continue;
      return fail(line, `\`${key}\` has no value; it must be ${spec.rule}. Remove the line to use the default.`);
    }
    if (key === "auto") {
      autoLine = keyLine;
      const read = readAuto(valueNode, doc, lineOf, line);
      if (!read.ok) return fail(read.line, read.message);
      fields.auto = read.auto;
      continue;
    }
    const check = spec.apply(value, fields);
    if (check === "rule") return fail(line, `\`${key}\` must be ${spec.rule}, got ${describe(value)}.`);
    if (!check.ok) return fail(line, check.message);
  }
  const config = repoConfigSchema.safeParse({ ...DEFAULT_REPO_CONFIG, ...fields });
  // Every key checked its value already: this gives the settings their types.
  if (!config.success) return fail(null, `the settings do not fit together: ${config.error.issues.map((i) => i.message).join("; ")}.`);
  const auto = config.data.auto;
  if (auto) {
    const line = autoLine ?? null;
    if (auto.command === null && config.data.command === null)
      return fail(line, "`auto` needs a test command: write `command:` under `auto:` (or at the top of the file).");
    const own = auto.workflows.find((w) => w === config.data.workflow);
    if (own !== undefined)
      return fail(
        line,
        `\`auto.workflows\` lists ${codeSpan(own, SHOWN)}, the bisect workflow itself; list the workflows that test your code, such as \`ci.yml\`.`,
      );
  }
  return { ok: true, config: config.data };
}

const AUTO_KEYS = ["workflows", "command", "runners", "confirm"] as const;

/**
 * Reads `auto:`: `workflows` (a list of workflow file names, or one), `command`, `runners` and
 * `confirm` (1 unless set: an automatic answer is checked before anyone is blamed).
 */
function readAuto(
  node: unknown,
  doc: Document,
  lineOf: (offset: number) => number,
  line: number,
): { ok: true; auto: NonNullable<RepoConfig["auto"]> } | { ok: false; line: number; message: string } {
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (!isMap(target)) return { ok: false, line, message: `\`auto\` must be ${AUTO_RULE}, got ${describe(valueOf(node, doc))}.` };
  const auto: NonNullable<RepoConfig["auto"]> = { workflows: [], command: null, runners: 1, confirm: 1 };
  for (const pair of target.items) {
    const keyNode = pair.key;
    const at = keyNode && typeof keyNode === "object" && "range" in keyNode && Array.isArray(keyNode.range) ? lineOf(Number(keyNode.range[0])) : line;
    const key = isScalar(keyNode) ? normalizeKey(String(keyNode.value)) : "";
    const valueNode = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
    const value = isScalar(valueNode) ? valueNode.value : valueOf(valueNode, doc);
    switch (key) {
      case "workflows":
      case "workflow": {
        const items = isSeq(valueNode) ? valueNode.items.map((item) => (isScalar(item) ? item.value : valueOf(item, doc))) : [value];
        if (items.length === 0 || items.length > MAX_AUTO_WORKFLOWS)
          return { ok: false, line: at, message: `\`auto.workflows\` lists 1 to ${MAX_AUTO_WORKFLOWS} workflow files, such as \`[ci.yml]\`.` };
        for (const item of items) {
          if (typeof item !== "string" || item.length > MAX_WORKFLOW_NAME || !WORKFLOW_FILE.test(item)) {
            const base = typeof item === "string" ? item.slice(item.lastIndexOf("/") + 1) : "";
            const hint =
              base !== "" && base !== item && WORKFLOW_FILE.test(base) ? ` write \`${base}\`, the file name in \`.github/workflows/\`` : " such as `ci.yml`";
            return { ok: false, line: at, message: `\`auto.workflows\` holds workflow file names;${hint}, got ${describe(item)}.` };
          }
          if (!auto.workflows.includes(item)) auto.workflows.push(item);
        }
        break;
      }
      case "command": {
        const fields: Fields = {};
        const check = applyCommand("auto.command", "command")(value, fields);
        if (check === "rule") return { ok: false, line: at, message: `\`auto.command\` must be the test command as text, got ${describe(value)}.` };
        if (!check.ok) return { ok: false, line: at, message: check.message };
        if (typeof fields.command === "string") auto.command = fields.command;
        break;
      }
      case "runners":
      case "confirm": {
        const definition: OptionDefinition = OPTIONS[key];
        const read = definition.yaml.safeParse(value);
        if (!read.success || typeof read.data !== "number")
          return { ok: false, line: at, message: `\`auto.${key}\` must be ${definition.rule}, got ${describe(value)}.` };
        auto[key] = read.data;
        break;
      }
      default: {
        const guess = closestMatch(key, [...AUTO_KEYS]);
        const hint = guess ? `did you mean \`${guess}\`?` : `its keys are ${AUTO_KEYS.map((k) => `\`${k}\``).join(", ")}.`;
        return { ok: false, line: at, message: `unknown key ${codeSpan(key === "" ? "?" : key, SHOWN)} under \`auto\`; ${hint}` };
      }
    }
  }
  if (auto.workflows.length === 0)
    return {
      ok: false,
      line,
      message: "`auto` needs `workflows`: the workflow files whose failures on the default branch start a bisect, such as `workflows: [ci.yml]`.",
    };
  return { ok: true, auto };
}
