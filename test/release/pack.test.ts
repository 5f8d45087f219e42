/**
 * The CLI as npm users get it (`npx bisect-bot run …`): the package is packed as the release
 * workflow publishes it (the App's dependencies left out: the CLI bundle needs none), installed from the tarball into an empty directory, and run from there on a real
 * git repository.
 */
import { execFile } from "node:child_process";
import { builtinModules } from "node:module";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { gitEnv, removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo } from "../support/linear-repo.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `npm pack --json`: one entry per packed package. */
const packSchema = z.array(
  z.object({
    name: z.string(),
    version: z.string(),
    filename: z.string(),
    size: z.number(),
    unpackedSize: z.number(),
    files: z.array(z.object({ path: z.string() })),
  }),
);

/** package.json, as far as these checks read it. */
const manifestSchema = z.object({ name: z.string(), version: z.string(), private: z.boolean().optional(), bin: z.record(z.string(), z.string()) });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without a shell. The environment leaves out the `npm_*` variables `npm test`
 * sets, so the npm under test reads its configuration as it would in a user's shell.
 */
function run(file: string, args: string[], cwd: string): Promise<Run> {
  const env = Object.fromEntries(Object.entries(gitEnv()).filter(([key]) => !key.toLowerCase().startsWith("npm_")));
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(new Error(`${file} ${args.join(" ")} did not run in ${cwd}: ${error.message}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** Like {@link run}, but a non-zero exit is an error that shows the output. */
async function runOk(file: string, args: string[], cwd: string): Promise<Run> {
  const result = await run(file, args, cwd);
  if (result.code !== 0) throw new Error(`${file} ${args.join(" ")} exited ${String(result.code)} in ${cwd}:\n${result.stderr}${result.stdout}`);
  return result;
}

let scratch: string;
let packed: z.infer<typeof packSchema>[number];
/** The empty project the tarball is installed into. */
let project: string;
/** node_modules/.bin/bisect-bot there. */
let bin: string;

beforeAll(async () => {
  scratch = await tempDir("pack-test");
  // What the release publishes: the repository's package, less the App's dependencies and the
  // scripts (release.yml runs the same `npm pkg delete` before `npm publish`).
  const staged = join(scratch, "staged");
  await cp(ROOT, staged, { recursive: true, filter: (source) => !/\/(node_modules|\.git|\.data)(\/|$)/.test(source.slice(ROOT.length - 1)) });
  await runOk("npm", ["pkg", "delete", "dependencies", "devDependencies", "scripts"], staged);
  packed = packSchema.parse(JSON.parse((await runOk("npm", ["pack", "--json", "--pack-destination", scratch], staged)).stdout))[0]!;
  project = join(scratch, "project");
  await runOk("mkdir", [project], scratch);
  await writeFile(join(project, "package.json"), `${JSON.stringify({ name: "empty-project", private: true }, null, 2)}\n`);
  await runOk("npm", ["install", join(scratch, packed.filename), "--no-audit", "--no-fund", "--prefer-offline"], project);
  bin = join(project, "node_modules", ".bin", "bisect-bot");
}, 180_000);
afterAll(() => removeDir(scratch));

describe("npm pack", () => {
  it("packs the CLI and its bundle, and no tests, fixtures, sources, workflows or database files", async () => {
    const manifest = manifestSchema.parse(JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")));
    expect(manifest.private).toBeUndefined();
    expect(packed.name).toBe("bisect-bot");
    expect(packed.version).toBe(manifest.version);
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain("bin/bisect-bot.js");
    expect(paths).toContain("action/dist/cli.js");
    expect(paths).toContain("package.json");
    expect(paths).toContain("README.md");
    // Every chunk the bundle imports is packed (its names carry a content hash).
    const cli = await readFile(join(ROOT, "action/dist/cli.js"), "utf8");
    for (const [, chunk] of cli.matchAll(/from "\.\/([^"]+)"/g)) expect(paths).toContain(`action/dist/${chunk}`);
    for (const path of paths) {
      expect(path, path).not.toMatch(/^(test|\.github|\.ci|app|supabase|bench|scripts|docs|node_modules|action\/src)\//);
      expect(path, path).not.toMatch(/(^|\/)(\.env|.*\.pem|package-lock\.json|tsconfig\.json)$/);
    }
    // What npm users download: the bundle, not the sources (about 160 kB packed today).
    expect(packed.size).toBeLessThan(1024 * 1024);
  });

  it("holds a CLI that imports nothing but Node's built-ins and its own chunks, so it needs no dependency", async () => {
    const chunks = packed.files.map((f) => f.path).filter((path) => /^action\/dist\/(cli|shared-[^/]+)\.js$/.test(path));
    const specifiers = new Set<string>();
    for (const chunk of chunks) {
      const code = await readFile(join(ROOT, chunk), "utf8");
      for (const [, specifier] of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)) specifiers.add(specifier!);
    }
    expect(specifiers).toContain("node:child_process"); // the scan sees the imports at all
    const foreign = [...specifiers].filter((s) => !s.startsWith("./") && !s.startsWith("node:") && !builtinModules.includes(s));
    expect(foreign).toEqual([]);
  });
});

describe("the installed CLI (node_modules/.bin/bisect-bot, what npx runs)", () => {
  it("finds the planted culprit in a real repository, names it and exits 0", async () => {
    const { dir, shas } = await linearRepo(scratch, 40, 23);
    const result = await run(bin, ["run", "--good", "v1.0", "--bad", "main", "--", "sh", "check.sh"], dir);
    expect(result.stderr).toContain(`First bad commit: ${shas.get("c23")}`);
    expect(result.code).toBe(0);
  });

  it("prints its usage with --help, also through npx", async () => {
    const direct = await run(bin, ["--help"], project);
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/^Usage: bisect-bot run --good <ref>/);
    const npx = await run("npx", ["--no-install", "bisect-bot", "--help"], project);
    expect(npx.code).toBe(0);
    expect(npx.stdout).toBe(direct.stdout);
  });

  it("comes alone: installing it adds no other package", async () => {
    const installed = (await readdir(join(project, "node_modules"))).filter((name) => !name.startsWith("."));
    expect(installed).toEqual(["bisect-bot"]);
  });

  it("is the version in package.json", async () => {
    const installed = manifestSchema.parse(JSON.parse(await readFile(join(project, "node_modules", "bisect-bot", "package.json"), "utf8")));
    expect(installed.version).toBe(packed.version);
    expect(installed.bin).toEqual({ "bisect-bot": "bin/bisect-bot.js" });
  });

  it("prints package.json's version with --version", async () => {
    const result = await run(bin, ["--version"], project);
    expect(result).toMatchObject({ code: 0, stdout: `${packed.version}\n` });
  });
});
