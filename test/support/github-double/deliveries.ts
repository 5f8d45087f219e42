/**
 * The GitHub App's webhook, as GitHub keeps it: every delivery the double sends to the App
 * (`double.deliverWebhook`) is recorded with the App's answer, listed by
 * `GET /app/hook/deliveries` (newest first, cursor pagination, `status=success|failure`) and sent
 * again by `POST /app/hook/deliveries/{delivery_id}/attempts`: the same payload with the same
 * guid (`X-GitHub-Delivery`), after the 202, recorded as a new delivery with `redelivery: true`.
 * Both routes take the App's JWT, as on GitHub.
 *
 * As GitHub records them: a 2xx answer is "OK"; any other answer is a failure with its status
 * code; no answer (refused connection, reset, the 10 s time-out) is a failure with status code 0,
 * which `status=failure` lists too.
 */
import { createHmac, randomUUID } from "node:crypto";
import { sign } from "../webhooks.js";
import { isoSeconds } from "./git-data.js";
import type { Reply, RestRequest } from "./rest.js";
import type { DoubleState } from "./state.js";

/** One attempt to deliver a webhook to the App. Tests may read and age these records. */
export interface HookDeliveryRecord {
  /** GitHub's id of this attempt (`delivery_id`). */
  id: number;
  /** `X-GitHub-Delivery`: the same for every attempt of one event. */
  guid: string;
  event: string;
  action: string | null;
  installationId: number | null;
  repositoryId: number | null;
  redelivery: boolean;
  /** When it was sent (ms since the epoch); `age()` moves it back. */
  deliveredAt: number;
  /** How long the App took to answer (or to fail). */
  durationMs: number;
  /** The App's HTTP status; 0 when it did not answer. */
  statusCode: number;
  /** "OK", "Invalid HTTP Response: 500", "failed to connect to host" or "timed out". */
  status: string;
  /** The App's answer, for test messages. */
  responseBody: string;
}

/** What an attempt sends, kept for its redeliveries. */
interface Sent {
  url: string;
  secret: string;
  event: string;
  guid: string;
  body: string;
}

export interface WebhookToSend {
  event: string;
  payload: unknown;
  /** Default: a fresh UUID, as GitHub's. */
  guid?: string;
}

/** `double.webhooks`. */
export interface HookDeliveries {
  /** Every attempt, in the order they were answered. */
  readonly deliveries: HookDeliveryRecord[];
  /**
   * While true, redeliveries GitHub accepted (202) wait to be sent, as when GitHub is slow to
   * perform them; `releaseRedeliveries()` sends them.
   */
  holdRedeliveries: boolean;
  releaseRedeliveries(): void;
  /** Time passes: every recorded delivery becomes `seconds` older. */
  age(seconds: number): void;
  /** Resolves when no delivery or accepted redelivery is pending (held ones are not waited for). */
  idle(): Promise<void>;
}

const TIMEOUT_MS = 10_000;

/** The double's webhook log: records, sends and resends. */
export class HookDeliveryLog implements HookDeliveries {
  readonly deliveries: HookDeliveryRecord[] = [];
  holdRedeliveries = false;
  private readonly sent = new Map<number, Sent>();
  private readonly pending = new Set<Promise<unknown>>();
  private held: Sent[] = [];
  private nextId = 90_000_000_001;

  constructor(private readonly state: DoubleState) {}

  /** Sends a webhook to the App as GitHub does (signed) and records the attempt once answered. */
  deliver(url: string, secret: string, webhook: WebhookToSend): Promise<HookDeliveryRecord> {
    const body = JSON.stringify(webhook.payload);
    return this.track(this.send({ url, secret, event: webhook.event, guid: webhook.guid ?? randomUUID(), body }, false));
  }

  /**
   * `POST …/attempts`: the attempt `id` is sent again once the returned function is called (after
   * the 202 went out), and `idle()` waits for it from now on; undefined when there is no such attempt.
   */
  redeliver(id: number): (() => void) | undefined {
    const original = this.sent.get(id);
    if (!original) return undefined;
    if (this.holdRedeliveries) {
      this.held.push(original);
      return () => undefined;
    }
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    void this.track(gate.then(() => this.send(original, true)));
    return open;
  }

  releaseRedeliveries(): void {
    for (const original of this.held.splice(0)) void this.track(this.send(original, true));
  }

  age(seconds: number): void {
    for (const d of this.deliveries) d.deliveredAt -= seconds * 1000;
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise)).catch(() => undefined);
    return promise;
  }

  private async send(what: Sent, redelivery: boolean): Promise<HookDeliveryRecord> {
    const id = this.nextId++;
    const at = Date.now();
    let statusCode = 0;
    let status: string;
    let responseBody: string;
    try {
      const response = await fetch(what.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "GitHub-Hookshot/double",
          "x-github-event": what.event,
          "x-github-delivery": what.guid,
          "x-github-hook-id": "1",
          "x-github-hook-installation-target-type": "integration",
          "x-github-hook-installation-target-id": String(this.state.appId),
          "x-hub-signature": `sha1=${createHmac("sha1", what.secret).update(what.body).digest("hex")}`,
          "x-hub-signature-256": sign(what.secret, what.body),
        },
        body: what.body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      responseBody = await response.text();
      statusCode = response.status;
      status = statusCode >= 200 && statusCode < 300 ? "OK" : `Invalid HTTP Response: ${statusCode}`;
    } catch (error) {
      status = error instanceof Error && error.name === "TimeoutError" ? "timed out" : "failed to connect to host";
      responseBody = error instanceof Error ? error.message : String(error);
    }
    const payload = parsedObject(what.body);
    const record: HookDeliveryRecord = {
      id,
      guid: what.guid,
      event: what.event,
      action: typeof payload.action === "string" ? payload.action : null,
      installationId: idOf(payload.installation),
      repositoryId: idOf(payload.repository),
      redelivery,
      deliveredAt: at,
      durationMs: Date.now() - at,
      statusCode,
      status,
      responseBody,
    };
    this.sent.set(id, what);
    this.deliveries.push(record);
    return record;
  }
}

function parsedObject(body: string): Record<string, unknown> {
  const value: unknown = JSON.parse(body);
  return typeof value === "object" && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value)) : {};
}

function idOf(value: unknown): number | null {
  if (typeof value !== "object" || value === null || !("id" in value)) return null;
  return typeof value.id === "number" ? value.id : null;
}

const logs = new WeakMap<DoubleState, HookDeliveryLog>();

/** The webhook log of a double (one per double). */
export function hookDeliveryLog(state: DoubleState): HookDeliveryLog {
  let log = logs.get(state);
  if (!log) {
    log = new HookDeliveryLog(state);
    logs.set(state, log);
  }
  return log;
}

/** As GitHub's `hook-delivery-item`. */
function deliveryItem(d: HookDeliveryRecord) {
  return {
    id: d.id,
    guid: d.guid,
    delivered_at: isoSeconds(d.deliveredAt),
    redelivery: d.redelivery,
    duration: d.durationMs / 1000,
    status: d.status,
    status_code: d.statusCode,
    event: d.event,
    action: d.action,
    installation_id: d.installationId,
    repository_id: d.repositoryId,
    throttled_at: null,
  };
}

const CURSOR = /^v1_(\d+)$/;

/** `GET /app/hook/deliveries`: newest first; `cursor` names the first attempt of the page (as GitHub's `v1_<id>`). */
export function listHookDeliveries(req: RestRequest): Reply {
  const log = hookDeliveryLog(req.state);
  const perPage = Math.min(Math.max(Number(req.query.per_page ?? 30) || 30, 1), 100);
  const cursor = req.query.cursor;
  const from = cursor === undefined ? undefined : CURSOR.exec(cursor)?.[1];
  if (cursor !== undefined && from === undefined) return { status: 400, body: { message: `Invalid cursor: ${cursor}` } };
  const success = (d: HookDeliveryRecord) => d.statusCode >= 200 && d.statusCode < 400;
  const listed = log.deliveries
    .filter((d) => req.query.status === undefined || (req.query.status === "success") === success(d))
    .filter((d) => from === undefined || d.id <= Number(from))
    .sort((a, b) => b.id - a.id);
  const page = listed.slice(0, perPage);
  const next = listed[perPage];
  const headers: Record<string, string> = {};
  if (next) {
    const url = new URL(`${req.state.api}/app/hook/deliveries`);
    url.searchParams.set("per_page", String(perPage));
    if (req.query.status !== undefined) url.searchParams.set("status", req.query.status);
    url.searchParams.set("cursor", `v1_${next.id}`);
    headers.link = `<${url.toString()}>; rel="next"`;
  }
  return { status: 200, body: page.map(deliveryItem), headers };
}

/** `POST /app/hook/deliveries/{delivery_id}/attempts`: 202 at once; the attempt is sent again right after. */
export function redeliverHookDelivery(req: RestRequest): Reply {
  const send = hookDeliveryLog(req.state).redeliver(Number(req.params.delivery_id));
  if (!send) return { status: 404, body: { message: "Not Found" } };
  return { status: 202, body: {}, after: send };
}
