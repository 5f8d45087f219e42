/**
 * The committed bundle (action/dist) is what `bin/bisect-bot.js` and the Action run after `npm ci`;
 * like actions/checkout's check-dist, fail when it no longer matches the sources.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;

it("action/dist matches a fresh build of the sources (run `npm run build` and commit)", async () => {
  const out = await mkdtemp(join(tmpdir(), "dist-check-"));
  try {
    await promisify(execFile)("node", ["scripts/build.js", "--out", out], { cwd: root });
    const fresh = (await readdir(out)).sort();
    expect((await readdir(join(root, "action/dist"))).sort()).toEqual(fresh);
    for (const file of fresh) {
      const committed = await readFile(join(root, "action/dist", file), "utf8");
      expect(committed === (await readFile(join(out, file), "utf8")), `action/dist/${file} is stale: run npm run build`).toBe(true);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

it("action/dist calls no API newer than Node 20 (the CLI runs on Node >= 20.18)", async () => {
  // Globals and methods Node 20 lacks; `z.union(` and the like are zod's own and fine.
  const newer =
    /\bPromise\.(withResolvers|try)\b|\b(Object|Map)\.groupBy\b|\bArray\.fromAsync\b|\bprocess\.getBuiltinModule\b|\bimport\.meta\.(dirname|filename)\b|\.(isSubsetOf|isSupersetOf|isDisjointFrom|symmetricDifference)\(|\bRegExp\.escape\b|\bFloat16Array\b|\bError\.isError\b|\bURL\.parse\(|\bIterator\.from\b/g;
  const dist = join(root, "action/dist");
  const found: string[] = [];
  for (const file of (await readdir(dist)).filter((f) => f.endsWith(".js"))) {
    for (const match of (await readFile(join(dist, file), "utf8")).matchAll(newer)) found.push(`${file}: ${match[0]}`);
  }
  expect(found).toEqual([]);
});
