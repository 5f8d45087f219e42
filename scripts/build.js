// Bundles the CLI and the Action into action/dist (committed, so they run without a build step).
// `node scripts/build.js --out <dir>` writes elsewhere: the freshness test compares the two.
import { build } from "esbuild";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { out: { type: "string" } } });
const outdir = values.out ?? "action/dist";

export const entryPoints = { cli: "action/src/cli-entry.ts" };

await build({
  entryPoints,
  outdir,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  legalComments: "none",
  logLevel: "warning",
  // @actions/* still require() Node built-ins inside the ESM bundle.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
