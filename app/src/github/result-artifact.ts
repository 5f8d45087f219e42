import { isAnyArrayBuffer } from "node:util/types";
import { z } from "zod";
import { resultDocumentSchema, type ResultDocument } from "../../../action/src/result-document.js";
import type { Octokit, RepoRef } from "./octokit.js";
import { readZipEntry, ZipError } from "./zip-entry.js";

/** A result document is a few KB; a MiB is generous, and nothing bigger is downloaded. */
export const MAX_ARTIFACT_BYTES = 1024 * 1024;

/** The run's result is missing or unusable: an infrastructure failure, worth another attempt. */
export class ArtifactProblem extends Error {}

const artifactsSchema = z.object({
  artifacts: z.array(
    z.object({
      id: z.number().int(),
      name: z.string(),
      size_in_bytes: z.number().int(),
      expired: z.boolean(),
      workflow_run: z.object({ id: z.number().int().optional() }).nullable().optional(),
    }),
  ),
});

export function artifactName(jobId: number): string {
  return `bisect-result-${jobId}`;
}

/** Whether a parsed JSON value holds U+0000 in any string, keys included. */
function holdsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (Array.isArray(value)) return value.some(holdsNul);
  if (value === null || typeof value !== "object") return false;
  return Object.entries(value).some(([key, v]) => key.includes("\u0000") || holdsNul(v));
}

/** The longest the artifact's download may take: it is at most 1 MiB, from GitHub's storage. */
export const DOWNLOAD_TIMEOUT_MS = 60_000;

/** Reads a body from a stream, giving up past `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw new ArtifactProblem(`the artifact download is ${declared} bytes; the limit is ${maxBytes}`);
  if (response.body === null) throw new ArtifactProblem("the artifact download has no body");
  const body: AsyncIterable<Uint8Array> = response.body;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > maxBytes) throw new ArtifactProblem(`the artifact download passed ${maxBytes} bytes; it was cut off`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

type Artifact = z.infer<typeof artifactsSchema>["artifacts"][number];

/**
 * The result document a run left as its artifact `bisect-result-<job id>`, treated as hostile:
 * the artifact must belong to this run, its declared size and the download are capped, the zip is
 * read in memory (only the one expected file name), the JSON is parsed with the shared schema, and
 * it must name this job. Anything else is an ArtifactProblem.
 */
export async function readResultArtifact(octokit: Octokit, where: RepoRef, runId: number, jobId: number): Promise<ResultDocument> {
  const name = artifactName(jobId);
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", { ...where, run_id: runId, name, per_page: 10 });
  const artifact = artifactsSchema.parse(data).artifacts.find((a) => a.name === name);
  if (!artifact) throw new ArtifactProblem(`the run left no artifact ${name} (the bisect step did not finish)`);
  return downloadResult(octokit, where, runId, jobId, artifact);
}

/** One matrix job's artifact of a fan-out round: `bisect-result-<job id>-<index>`. */
export interface RoundArtifact {
  index: number;
  artifact: Artifact;
}

/**
 * The artifacts of a fan-out round's run named exactly `bisect-result-<job id>-<n>`, one per
 * matrix index (one call: a round has at most 32 jobs). Any other artifact is none of ours.
 */
export async function listRoundArtifacts(octokit: Octokit, where: RepoRef, runId: number, jobId: number): Promise<RoundArtifact[]> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", { ...where, run_id: runId, per_page: 100 });
  const pattern = new RegExp(`^${artifactName(jobId)}-(0|[1-9][0-9]{0,3})$`);
  const found = new Map<number, Artifact>();
  for (const artifact of artifactsSchema.parse(data).artifacts) {
    const match = pattern.exec(artifact.name);
    // A re-uploaded name (overwrite) is listed once; keep the newest if GitHub ever lists two.
    if (match && (found.get(Number(match[1]))?.id ?? -1) < artifact.id) found.set(Number(match[1]), artifact);
  }
  return [...found].map(([index, artifact]) => ({ index, artifact }));
}

/**
 * Downloads and checks one result artifact of run `runId` (see readResultArtifact): the file in
 * the zip is always `bisect-result-<job id>.json`, whatever the artifact is called.
 */
export async function downloadResult(octokit: Octokit, where: RepoRef, runId: number, jobId: number, artifact: Artifact): Promise<ResultDocument> {
  const name = artifact.name;
  const file = `${artifactName(jobId)}.json`;
  if (artifact.expired) throw new ArtifactProblem(`the artifact ${name} has expired`);
  if (artifact.workflow_run?.id !== undefined && artifact.workflow_run.id !== runId)
    throw new ArtifactProblem(`the artifact ${name} belongs to run ${artifact.workflow_run.id}, not ${runId}`);
  if (artifact.size_in_bytes > MAX_ARTIFACT_BYTES)
    throw new ArtifactProblem(`the artifact ${name} is ${artifact.size_in_bytes} bytes; the limit is ${MAX_ARTIFACT_BYTES}`);

  // GitHub answers with a redirect to a short-lived storage URL: follow it ourselves, capped.
  const redirect = await octokit.request("GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", {
    ...where,
    artifact_id: artifact.id,
    archive_format: "zip",
    request: { redirect: "manual" },
  });
  const location = redirect.headers.location;
  let zip: Buffer;
  if (location) {
    // A storage host that accepts the connection and then says nothing must not hold the worker:
    // the download (body included) is abandoned after DOWNLOAD_TIMEOUT_MS, and the look at the
    // run fails (tried again, within the bounds of followRun).
    const response = await fetch(location, { redirect: "follow", signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
    if (!response.ok) throw new ArtifactProblem(`downloading the artifact failed with HTTP ${response.status}`);
    zip = await readCapped(response, MAX_ARTIFACT_BYTES);
  } else {
    // Octokit reads a body that is neither JSON nor text (the zip) as an ArrayBuffer.
    const data: unknown = redirect.data;
    if (!isAnyArrayBuffer(data)) throw new ArtifactProblem("the artifact download is not a zip archive");
    zip = Buffer.from(data);
    if (zip.length > MAX_ARTIFACT_BYTES) throw new ArtifactProblem(`the artifact download passed ${MAX_ARTIFACT_BYTES} bytes`);
  }

  let text: string;
  try {
    text = readZipEntry(zip, file, MAX_ARTIFACT_BYTES).toString("utf8");
  } catch (error) {
    if (error instanceof ZipError) throw new ArtifactProblem(`the artifact is not a usable zip: ${error.message}`);
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ArtifactProblem(`${file} is not JSON`);
  }
  // PostgreSQL cannot store U+0000 in text or jsonb: a document holding one (its `error`, a
  // candidate…) could never be recorded, so it is refused here like any other unusable result.
  if (holdsNul(json)) throw new ArtifactProblem(`${file} holds a NUL character (U+0000), which no result has`);
  const parsed = resultDocumentSchema.safeParse(json);
  if (!parsed.success) throw new ArtifactProblem(`${file} is not a result document: ${z.prettifyError(parsed.error).slice(0, 300)}`);
  // Counts are stored in 32-bit columns: a run (its test code can write this file) must not be
  // able to make the result unstorable and the job loop on it.
  const INT32 = 2_147_483_647;
  const numbers = [
    parsed.data.tested,
    parsed.data.rounds,
    parsed.data.range.size,
    ...parsed.data.probes.flatMap((p) => [p.durationMs, p.round, Math.abs(p.exitCode ?? 0)]),
  ];
  if (numbers.some((n) => n > INT32)) throw new ArtifactProblem(`${file} holds a number too large to be a count or a duration`);
  if (parsed.data.jobId !== String(jobId))
    throw new ArtifactProblem(`${file} is the result of job ${JSON.stringify(parsed.data.jobId ?? null).slice(0, 40)}, not ${jobId}`);
  return parsed.data;
}
