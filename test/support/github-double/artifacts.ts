/**
 * Run artifacts as GitHub keeps them: one zip per artifact, listed by the run, downloaded through a
 * 302 to a short-lived URL on a separate storage origin (GitHub's signed blob URLs expire after
 * one minute and need no token; fetch drops `Authorization` when a redirect changes origin).
 */
import { createHash, randomBytes } from "node:crypto";
import { isoSeconds } from "./git-data.js";
import type { ArtifactRecord, DoubleState, WorkflowRunRecord } from "./state.js";

/** How long a download URL from the archive route stays valid (GitHub: "expires after 1 minute"). */
export const BLOB_TTL_MS = 60_000;

/** The workflow's `retention-days: 7`. */
const RETENTION_MS = 7 * 86_400_000;

export interface ArtifactOptions {
  /** Default `bisect-result-<job_id>`, from the run's `job_id` input. */
  name?: string;
  zip: Buffer;
  /** Declared `size_in_bytes` (e.g. 1 GB) while the download serves the real, small body. */
  sizeOverride?: number;
  /** Served by the download URL instead of `zip` (not a zip, truncated, another archive…). */
  serveBytes?: Buffer;
  /** Listed with `expired: true`; the archive route answers 410. */
  expired?: boolean;
  /** Default: `sha256:` of `zip`. Null as for artifacts uploaded before upload-artifact v4. */
  digest?: string | null;
  /**
   * When the run already has an artifact of this name (an earlier attempt uploaded it): replace it,
   * as `upload-artifact` with `overwrite: true` does (a new id). Default false: upload-artifact v4
   * refuses the upload (409 "an artifact with this name already exists on the workflow run") and
   * the earlier attempt's artifact stays, which is what a re-run of bisect.yml does today.
   */
  overwrite?: boolean;
}

/** The default artifact name of a bisect run: `bisect-result-<job_id>`. */
export function resultArtifactName(run: WorkflowRunRecord): string {
  const jobId = run.inputs.job_id;
  if (jobId === undefined) throw new Error(`run ${run.id} has no job_id input; pass the artifact's name`);
  return `bisect-result-${jobId}`;
}

/**
 * Uploads an artifact to a run, as upload-artifact v4 would at the end of the run's current
 * attempt. Returns the artifact the run now lists under that name (the earlier one when the
 * upload was refused, see `overwrite`).
 */
export function addArtifact(state: DoubleState, run: WorkflowRunRecord, options: ArtifactOptions): ArtifactRecord {
  const name = options.name ?? resultArtifactName(run);
  const existing = state.artifacts.find((a) => a.runId === run.id && a.name === name);
  if (existing && !options.overwrite) return existing;
  if (existing) state.artifacts.splice(state.artifacts.indexOf(existing), 1);
  const now = Date.now();
  // An expired artifact was uploaded a retention period (and a day) ago.
  const created = options.expired ? now - RETENTION_MS - 86_400_000 : now;
  const record: ArtifactRecord = {
    id: state.nextArtifactId++,
    runId: run.id,
    repository: run.repository,
    runAttempt: run.runAttempt,
    name,
    zip: options.zip,
    sizeInBytes: options.sizeOverride ?? options.zip.length,
    digest: options.digest === undefined ? `sha256:${createHash("sha256").update(options.zip).digest("hex")}` : options.digest,
    expired: options.expired ?? false,
    createdAt: isoSeconds(created),
    updatedAt: isoSeconds(created),
    expiresAt: isoSeconds(created + RETENTION_MS),
  };
  if (options.serveBytes) record.serveBytes = options.serveBytes;
  state.artifacts.push(record);
  return record;
}

/** A fresh download URL for an artifact on the storage origin. */
export function grantBlob(state: DoubleState, artifact: ArtifactRecord, now = Date.now()): string {
  const token = randomBytes(18).toString("base64url");
  state.blobs.set(token, { artifactId: artifact.id, expiresAt: now + BLOB_TTL_MS });
  const expires = encodeURIComponent(new Date(now + BLOB_TTL_MS).toISOString());
  return `${state.blobUrl}/_blobs/${token}?se=${expires}&sp=r&sig=${randomBytes(12).toString("base64url")}`;
}
