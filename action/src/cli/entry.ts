/** Entry of `bin/bisect-bot.js` (bundled to action/dist/cli.js): wires process I/O and Ctrl-C. */
import { main } from "./main.js";

const controller = new AbortController();
let interrupts = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    // First Ctrl-C: stop the tests and remove the worktrees; a second one exits at once.
    if (++interrupts > 1) process.exit(130);
    process.stderr.write("\nbisect-bot: stopping, removing worktrees…\n");
    controller.abort();
  });
}

const status = await main(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  signal: controller.signal,
});
process.exitCode = status;
