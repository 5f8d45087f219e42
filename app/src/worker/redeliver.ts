import type { Logger } from "probot";
import { z } from "zod";
import type { Octokit } from "../github/octokit.js";
import type { Settings } from "../settings.js";
import type { Store } from "../store/store.js";
import { DRAIN_MS } from "./worker.js";
import { describeError, isPermanent } from "./github-errors.js";

export interface RedeliveryDeps {
  store: Store;
  settings: Settings;
  workerId: string;
  /** The App's own Octokit, authenticated with its JWT (Probot: `app.auth()` without an installation). */
  appOctokit(): Promise<Octokit>;
  log: Logger;
  limits?: Partial<RedeliveryLimits>;
}

/** What one pass may do at most, so a flood of failures is worked off over several passes. */
export interface RedeliveryLimits {
  /** Deliveries per page of the log (GitHub's maximum is 100). */
  perPage: number;
  /** Pages listed per pass; a scan that needs more resumes next pass from where it stopped. */
  maxPages: number;
  /** Redeliveries asked for per pass. */
  maxRedeliveries: number;
  /** Redeliveries of one guid, ever: again only when every earlier one failed too (the database was still down). */
  maxRequestsPerGuid: number;
}

export const REDELIVERY_LIMITS: RedeliveryLimits = { perPage: 100, maxPages: 10, maxRedeliveries: 100, maxRequestsPerGuid: 3 };

/** What a pass did, for logs and tests. */
export interface PassReport {
  pass: number;
  /** Deliveries listed (pages × their size). */
  listed: number;
  /** Guids within the bound with no successful (2xx) attempt. */
  failed: number;
  redelivered: number;
  /** The scan reached its bound: the next one starts from this one's start. */
  complete: boolean;
  error: string | null;
}

/** One attempt of `GET /app/hook/deliveries`, the fields read here. */
const hookDeliverySchema = z.object({
  id: z.number().int(),
  guid: z.string().min(1),
  delivered_at: z.iso.datetime({ offset: true }).transform((v) => new Date(v)),
  redelivery: z.boolean(),
  status_code: z.number().int(),
  event: z.string(),
  action: z.string().nullable(),
});
type HookDelivery = z.infer<typeof hookDeliverySchema>;
const hookDeliveriesSchema = z.array(hookDeliverySchema);

/** The `cursor` of the `rel="next"` link (GitHub pages the delivery log by cursor, not by page number). */
export function nextCursor(link: string | undefined): string | null {
  for (const part of (link ?? "").split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="next"/.exec(part);
    if (!match) continue;
    try {
      return new URL(match[1]!).searchParams.get("cursor");
    } catch {
      return null;
    }
  }
  return null;
}

const succeeded = (d: HookDelivery) => d.status_code >= 200 && d.status_code < 300;

/** A guid worth redelivering: every attempt within the bound failed. */
interface Candidate {
  guid: string;
  /** Its newest attempt: the one asked to be redelivered. */
  newest: HookDelivery;
  /** Its oldest attempt within the bound: failures are redelivered in the order they happened. */
  oldest: HookDelivery;
  failedRedeliveries: number;
}

/**
 * The guids with no successful attempt, oldest first. Attempts are grouped by guid, as GitHub's
 * recovery script does: a guid one attempt of which was answered 2xx is not redelivered.
 */
export function failedGuids(deliveries: readonly HookDelivery[]): Candidate[] {
  const groups = new Map<string, HookDelivery[]>();
  for (const d of deliveries) groups.set(d.guid, [...(groups.get(d.guid) ?? []), d]);
  const candidates: Candidate[] = [];
  for (const [guid, attempts] of groups) {
    if (attempts.some(succeeded)) continue;
    const byTime = [...attempts].sort((a, b) => a.delivered_at.getTime() - b.delivered_at.getTime() || a.id - b.id);
    candidates.push({ guid, newest: byTime.at(-1)!, oldest: byTime[0]!, failedRedeliveries: attempts.filter((a) => a.redelivery).length });
  }
  return candidates.sort((a, b) => a.oldest.delivered_at.getTime() - b.oldest.delivered_at.getTime() || a.oldest.id - b.oldest.id);
}

/**
 * Webhook recovery. GitHub does not redeliver a webhook the App answered with an error (the
 * webhook handler answers 500 when the database is down) or did not answer: every
 * `REDELIVERY_INTERVAL_SECONDS`, one instance of the cluster (the one that claims the pass in the
 * database) lists the App's deliveries newest first, page by page, back to the last complete
 * scan (at most `REDELIVERY_LOOKBACK_SECONDS`), and asks GitHub to redeliver each guid none of
 * whose attempts succeeded: once, recorded per guid in the database, so no two instances or
 * passes ask twice. A pass is bounded (REDELIVERY_LIMITS); a scan that did not reach its bound
 * resumes next pass. Failures are logged and tried again next pass: the loop never throws.
 *
 * @example
 * const loop = new RedeliveryLoop({ store, settings, workerId, appOctokit: () => app.auth(), log: app.log });
 * loop.start();
 * await loop.stop();
 */
export class RedeliveryLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopping = false;
  private readonly limits: RedeliveryLimits;
  /** Counters for /metrics and tests. */
  readonly counters = { passes: 0, redelivered: 0, errors: 0 };

  constructor(private readonly deps: RedeliveryDeps) {
    this.limits = { ...REDELIVERY_LIMITS, ...deps.limits };
  }

  /** Looks every interval (the database decides which instance scans); the first look is at once. */
  start(): void {
    const loop = async () => {
      if (this.stopping) return;
      this.running = this.pass().catch((error: unknown) => {
        this.counters.errors++;
        this.deps.log.error({ err: error }, "webhook redelivery pass failed");
      });
      await this.running;
      if (!this.stopping) this.timer = setTimeout(() => void loop(), this.deps.settings.REDELIVERY_INTERVAL_SECONDS * 1000);
    };
    this.timer = setTimeout(() => void loop(), 0);
  }

  /** Stops looking; a pass in progress ends after its current GitHub call (waited for at most DRAIN_MS). */
  async stop(drainMs = DRAIN_MS): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
  }

  /**
   * One pass, when it is due and this instance claims it (undefined otherwise). Throws only when
   * the database cannot be reached; GitHub's failures end the pass early, recorded.
   */
  async pass(): Promise<PassReport | undefined> {
    const { store, settings, workerId, log } = this.deps;
    const claimed = await store.call("claimRedeliveryPass", {
      worker: workerId,
      intervalSeconds: settings.REDELIVERY_INTERVAL_SECONDS,
      lookbackSeconds: settings.REDELIVERY_LOOKBACK_SECONDS,
    });
    if (!claimed) return undefined;
    this.counters.passes++;
    const since = claimed.since.getTime();
    const report: PassReport = { pass: claimed.pass, listed: 0, failed: 0, redelivered: 0, complete: false, error: null };
    let octokit: Octokit;
    try {
      octokit = await this.deps.appOctokit();
    } catch (error) {
      report.error = `could not authenticate as the App: ${describeError(error)}`;
      return this.finish(report, claimed.resume_cursor);
    }

    // List: newest first, from where the scan stopped last pass, until the bound, the end of the log or the page cap.
    const deliveries: HookDelivery[] = [];
    let cursor = claimed.resume_cursor;
    let reachedBound = false;
    for (let page = 0; page < this.limits.maxPages && !reachedBound && !this.stopping; page++) {
      let listed: HookDelivery[];
      let next: string | null;
      try {
        const response = await octokit.request("GET /app/hook/deliveries", { per_page: this.limits.perPage, ...(cursor === null ? {} : { cursor }) });
        listed = hookDeliveriesSchema.parse(response.data);
        next = nextCursor(response.headers.link);
      } catch (error) {
        report.error = `listing the App's webhook deliveries failed: ${describeError(error)}`;
        // A cursor GitHub refuses (expired) would fail every pass: the scan starts again from the newest.
        if (isPermanent(error) && cursor !== null) cursor = null;
        break;
      }
      report.listed += listed.length;
      deliveries.push(...listed.filter((d) => d.delivered_at.getTime() >= since));
      reachedBound = next === null || listed.some((d) => d.delivered_at.getTime() < since);
      cursor = next;
    }

    // Redeliver, oldest failure first, up to the cap.
    const candidates = failedGuids(deliveries);
    report.failed = candidates.length;
    let capped = false;
    for (const candidate of candidates) {
      if (this.stopping) break;
      if (report.redelivered >= this.limits.maxRedeliveries) {
        capped = true;
        break;
      }
      if (await this.redeliver(octokit, candidate)) report.redelivered++;
    }
    report.complete = reachedBound && report.error === null && !capped && !this.stopping;
    // Capped: the same pages again next pass (what was asked for is skipped there); else onward from the cursor.
    if (report.redelivered > 0 || report.error !== null) {
      log.info(
        { pass: report.pass, listed: report.listed, failed: report.failed, redelivered: report.redelivered, error: report.error },
        "webhook redelivery pass",
      );
    }
    return this.finish(report, capped ? claimed.resume_cursor : cursor);
  }

  /** Claims the guid's redelivery in the database, then asks GitHub; a request GitHub did not take is given back for the next pass. */
  private async redeliver(octokit: Octokit, candidate: Candidate): Promise<boolean> {
    const { store, log } = this.deps;
    const claimed = await store.call("claimRedelivery", {
      guid: candidate.guid,
      deliveryId: candidate.newest.id,
      event: candidate.newest.event,
      action: candidate.newest.action,
      failedRedeliveries: candidate.failedRedeliveries,
      maxRequests: this.limits.maxRequestsPerGuid,
    });
    if (!claimed) return false;
    try {
      await octokit.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: candidate.newest.id });
      this.counters.redelivered++;
      return true;
    } catch (error) {
      const retry = !isPermanent(error);
      log.warn({ err: error, guid: candidate.guid, delivery: candidate.newest.id, retry }, "GitHub did not redeliver a failed webhook delivery");
      await store.call("failRedelivery", { guid: candidate.guid, error: describeError(error), retry });
      return false;
    }
  }

  private async finish(report: PassReport, cursor: string | null): Promise<PassReport> {
    if (report.error !== null) this.counters.errors++;
    await this.deps.store.call("finishRedeliveryPass", {
      pass: report.pass,
      cursor: report.complete ? null : cursor,
      complete: report.complete,
      listed: report.listed,
      redelivered: report.redelivered,
      error: report.error,
    });
    return report;
  }
}
