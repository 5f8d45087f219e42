// Bundles the CLI and the Action into action/dist (committed, so they run without a build step).
// `node scripts/build.js --out <dir>` writes elsewhere: the freshness test compares the two.
import { build } from "esbuild";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { out: { type: "string" } } });
const outdir = values.out ?? "action/dist";

// Start clean: chunk names carry a content hash, and an old chunk must not linger.
await rm(outdir, { recursive: true, force: true });

export const entryPoints = { cli: "action/src/cli/entry.ts", index: "action/src/action/entry.ts" };

await build({
  entryPoints,
  outdir,
  bundle: true,
  platform: "node",
  format: "esm",
  // The CLI and the Action share most code: one chunk, not two copies.
  splitting: true,
  chunkNames: "shared-[hash]",
  target: "node20",
  legalComments: "none",
  alias: {
    "@actions/http-client/lib/auth": "./scripts/oidc-free-http-client.js",
    "@actions/http-client": "./scripts/oidc-free-http-client.js",
  },
  logLevel: "warning",
  // @actions/* still require() Node built-ins inside the ESM bundle.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});

// The bundle is ESM wherever the action folder is checked out.
await writeFile(join(outdir, "package.json"), `${JSON.stringify({ type: "module", private: true }, null, 2)}\n`);
