/**
 * How long a runner takes from an empty directory to the first test, for the three ways a bisect
 * workflow can check out a large repository (issue 14): the whole history (`actions/checkout`
 * with `fetch-depth: 0`, today's `bisect` job), a partial clone without blobs (`filter:
 * blob:none`: every commit, blobs fetched when a checkout needs them), and the one commit a probe
 * job tests (`ref: <sha>`, `fetch-depth: 1`).
 *
 * Each strategy runs the git commands actions/checkout runs (init, fetch of branches and tags, or
 * of the one sha; checkout), then what comes before the first test: for the bisect job, reading the
 * range (`rev-list`) and checking out its middle commit in a worktree, as the Action does; for a
 * probe job, nothing more. The "remote" is a local bare repository served through git's own pack
 * protocol (`file://` with `--no-local`, so objects are packed and sent as a server would), so
 * the figures count git's work on both ends but no network: over the internet the full history's
 * bytes cost more again.
 *
 * Run alone: npx tsx bench/checkout-strategies.ts <bare repository> [good] [bad]
 * (good and bad default to 1,000 first-parent commits below the remote's HEAD, and HEAD).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { table } from "./engine.js";

/** What the served repository lets clients ask for: filters, and any sha (GitHub allows both). */
const UPLOAD_PACK = "git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack";

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("git", args, { cwd, maxBuffer: 1024 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args.join(" ")} failed in ${cwd}: ${stderr}`));
      else resolve(stdout);
    });
  });
}

async function timed(step: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await step();
  return (performance.now() - started) / 1000;
}

/** `git init` and a remote as actions/checkout sets it up. */
async function initClone(dir: string, remote: string): Promise<void> {
  await git(dir, ["init", "--quiet"]);
  await git(dir, ["remote", "add", "origin", `file://${remote}`]);
  await git(dir, ["config", "remote.origin.uploadpack", UPLOAD_PACK]);
  await git(dir, ["config", "gc.auto", "0"]);
}

export type CheckoutRow = {
  strategy: string;
  "fetch (s)": string;
  "checkout (s)": string;
  "to the first test (s)": string;
  "objects fetched (MiB)": string;
};

export async function runCheckoutStrategies(remote: string, good?: string, bad?: string): Promise<CheckoutRow[]> {
  const badSha = (await git(remote, ["rev-parse", bad ?? "HEAD"])).trim();
  const goodSha = (await git(remote, ["rev-parse", good ?? `${badSha}~1000`])).trim();
  const rows: CheckoutRow[] = [];
  const refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
  const size = async (dir: string) => {
    const out = await git(dir, ["count-objects", "-v"]);
    // Loose objects ("size") and packs ("size-pack"), in KiB.
    const kib = [...out.matchAll(/^(?:size|size-pack): (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    return (kib / 1024).toFixed(0);
  };
  for (const strategy of ["fetch-depth: 0 (today's bisect job)", "filter: blob:none (bisect job)", "fetch-depth: 1 at the sha (probe job)"]) {
    const dir = await mkdtemp(join(tmpdir(), "checkout-strategy-"));
    try {
      await initClone(dir, remote);
      let fetch: number;
      let checkout: number;
      let before = 0;
      if (strategy.startsWith("fetch-depth: 1")) {
        fetch = await timed(() => git(dir, ["fetch", "--quiet", "--no-tags", "--depth=1", "origin", badSha]));
        checkout = await timed(() => git(dir, ["checkout", "--quiet", "--force", badSha]));
      } else {
        const filter = strategy.startsWith("filter") ? ["--filter=blob:none"] : [];
        fetch = await timed(() => git(dir, ["fetch", "--quiet", "--prune", "--no-recurse-submodules", ...filter, "origin", ...refspecs]));
        checkout = await timed(() => git(dir, ["checkout", "--quiet", "--force", badSha]));
        // What the Action does before its first test: read the range, check out its middle in a worktree.
        before = await timed(async () => {
          const range = (await git(dir, ["rev-list", "--first-parent", badSha, "--not", goodSha])).split("\n").filter(Boolean);
          const middle = range[Math.floor(range.length / 2)]!;
          await git(dir, ["worktree", "add", "--quiet", "--detach", "--no-checkout", join(dir, ".probe"), middle]);
          await git(join(dir, ".probe"), ["checkout", "--quiet", "--force", middle]);
        });
      }
      rows.push({
        strategy,
        "fetch (s)": fetch.toFixed(1),
        "checkout (s)": checkout.toFixed(1),
        "to the first test (s)": (fetch + checkout + before).toFixed(1),
        "objects fetched (MiB)": await size(dir),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [remote, good, bad] = process.argv.slice(2);
  if (!remote) {
    console.error("usage: npx tsx bench/checkout-strategies.ts <bare repository> [good] [bad]");
    process.exit(1);
  }
  const commits = (await git(remote, ["rev-list", "--count", "HEAD"])).trim();
  console.log(`${remote}: ${commits} commits reachable from HEAD\n`);
  console.log(table(await runCheckoutStrategies(remote, good, bad)));
}
