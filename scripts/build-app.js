// Bundles the App (app/src/main.ts) into app/dist/main.js for the container image, which runs it
// with plain node instead of tsx. Packages stay in node_modules (installed with --omit=dev).
// Not committed: the Dockerfile builds it; `npm start` still runs the sources through tsx.
// `node scripts/build-app.js --out <dir>` writes elsewhere.
import { build } from "esbuild";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { out: { type: "string" } } });
const outdir = values.out ?? "app/dist";

await rm(outdir, { recursive: true, force: true });

await build({
  entryPoints: { main: "app/src/main.ts" },
  outdir,
  bundle: true,
  platform: "node",
  format: "esm",
  // Modules the App imports on demand (the Supabase adapter) stay in chunks of their own, loaded
  // only when configured.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  target: "node20",
  // Probot, pg, PGlite (its WebAssembly files), supabase-js and prom-client load from node_modules.
  packages: "external",
  legalComments: "none",
  // Stack traces point at app/src (the image runs node --enable-source-maps).
  sourcemap: "linked",
  logLevel: "warning",
});

// The bundle is ESM wherever it is copied, with or without the project's package.json.
await writeFile(join(outdir, "package.json"), `${JSON.stringify({ type: "module", private: true }, null, 2)}\n`);
