import { hostname } from "node:os";
import { z } from "zod";
import { OPTIONS } from "../../action/src/options.js";

const positiveInt = (fallback: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: "expected a whole number" })
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .transform((v) => v ?? fallback);

/**
 * The App's own settings, from the environment (Probot reads its own: APP_ID, PRIVATE_KEY,
 * WEBHOOK_SECRET, PORT, HOST, WEBHOOK_PATH, LOG_LEVEL, GHE_HOST, GHE_PROTOCOL).
 */
export const settingsSchema = z.object({
  /** Active bisects per repository; more wait in the queue. */
  MAX_CONCURRENT_JOBS: positiveInt(4, 256),
  /** A run's budget, unless the command or the repository gives `timeout` (the option's range: 1m–6h; `30m` or seconds). */
  BISECT_TIMEOUT_SECONDS: OPTIONS.timeoutSeconds.text.optional().transform((v) => v ?? OPTIONS.timeoutSeconds.default),
  /** Dispatches per job before an infrastructure failure fails it. */
  MAX_ATTEMPTS: positiveInt(3, 20),
  /** How often the worker loop looks for due work. */
  WORKER_POLL_MS: positiveInt(1000, 60_000),
  /** How long a claimed job stays this worker's without a word from it. */
  LEASE_SECONDS: positiveInt(60, 3600),
  /**
   * Tasks and jobs one worker loop works on at once. Each mostly waits for GitHub and the
   * database, so this bounds an instance's decisions per second long before its CPU does (8 gave
   * ~23 decided commands/s on 2 instances under load, 32 gave ~50).
   */
  WORKER_CONCURRENCY: positiveInt(32, 100),
  /** The reconciler: a run quiet this long is checked through the API (then less often as it ages). */
  RUN_CHECK_SECONDS: positiveInt(30, 3600),
  /**
   * Content-creating requests (comments, reactions, dispatches) a minute per installation, all
   * instances together. GitHub.com allows 80; GitHub Enterprise Server may allow more.
   */
  GITHUB_WRITES_PER_MINUTE: positiveInt(80, 1000),
  /** Webhook recovery: how often one instance of the cluster looks for failed deliveries and has GitHub redeliver them. */
  REDELIVERY_INTERVAL_SECONDS: positiveInt(300, 86_400),
  /**
   * Webhook recovery: the furthest back a scan looks (after a long stop of every instance). GitHub
   * keeps deliveries 3 days (the default), GitHub Enterprise Server 7 (the most).
   */
  REDELIVERY_LOOKBACK_SECONDS: positiveInt(259_200, 604_800),
  /**
   * The port of the metrics listener: `GET /metrics` only, without the admin token, for Prometheus
   * to scrape at the pod's address (it carries no job data). `0` turns the listener off.
   */
  METRICS_PORT: z
    .string()
    .trim()
    .regex(/^\d+$/, { error: "expected a port number (0 turns the metrics listener off)" })
    .transform(Number)
    .pipe(z.number().int().min(0).max(65_535))
    .optional()
    .transform((v) => v ?? 9464),
  /** Finished commands and replies, and claim-audit rows, are deleted this many days after they ended. */
  RETENTION_DAYS: positiveInt(30, 3650),
});
export type Settings = z.infer<typeof settingsSchema>;

/** Reads the settings; a bad value throws an error naming the variable, the value and the fix. */
export function readSettings(env: Record<string, string | undefined> = process.env): Settings {
  const picked = Object.fromEntries(Object.keys(settingsSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const parsed = settingsSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0]);
    throw new Error(`Invalid ${key}='${env[key]}': ${issue.message}. Unset it for the default, or give a value within range.`);
  }
  return parsed.data;
}

/** hostname:pid:start time — unique per process, and says where a job's worker ran. */
export function workerId(now: Date = new Date()): string {
  return `${hostname()}:${process.pid}:${now.toISOString()}`;
}
