/**
 * `app/src/main.ts` with one difference: Probot's Octokit without its throttling plugin (as the
 * tests' FastRetryOctokit), for `BENCH_WEBHOOK_OCTOKIT=unthrottled npx tsx bench/webhooks.ts`.
 *
 * Probot's throttling keeps GitHub's advice of one write (and one GraphQL query) per second and one
 * notifying write per three seconds, per installation and process; against the double that is
 * what bounds the workers, so this entry shows what the App's own pipeline (store, worker loop)
 * can do. Retries stay Probot's own, with waits cut to milliseconds.
 */
import { ProbotOctokit } from "probot";
import { startServer } from "../../app/src/server.js";

const UnthrottledOctokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({
  ...options,
  retry: { ...(options.retry as object), retryAfterBaseValue: 5 },
  throttle: { ...(options.throttle as object), enabled: false },
}));

try {
  const server = await startServer(process.env, { Octokit: UnthrottledOctokit });
  console.log(`Bisect Bot listening on ${server.url} (worker ${server.workerId})`);
  const shutdown = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
} catch (error) {
  console.error(`Bisect Bot could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
