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

const root = new URL("..", import.meta.url).pathname;

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
