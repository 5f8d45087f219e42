import { z } from "zod";
import type { Octokit, RepoRef } from "./octokit.js";

const QUERY = `query BisectCulprit($owner: String!, $name: String!, $sha: String!) {
  repository(owner: $owner, name: $name) {
    object(expression: $sha) {
      __typename
      ... on Commit {
        oid
        messageHeadline
        committedDate
        parents(first: 2) { totalCount }
        author { name user { login } }
        associatedPullRequests(first: 1) { nodes { number title url } }
      }
    }
  }
}`;

const responseSchema = z.object({
  repository: z
    .object({
      object: z
        .object({
          __typename: z.string(),
          oid: z.string().optional(),
          messageHeadline: z.string().optional(),
          committedDate: z.string().optional(),
          parents: z.object({ totalCount: z.number().int() }).optional(),
          author: z
            .object({ name: z.string().nullable(), user: z.object({ login: z.string() }).nullable() })
            .nullable()
            .optional(),
          associatedPullRequests: z
            .object({ nodes: z.array(z.object({ number: z.number().int(), title: z.string(), url: z.string() }).nullable()).nullable() })
            .nullable()
            .optional(),
        })
        .nullable(),
    })
    .nullable(),
});

export interface CommitDetails {
  sha: string;
  subject: string;
  authorName: string | null;
  /** The GitHub user the commit maps to, when GitHub knows one. */
  authorLogin: string | null;
  committedAt: string | null;
  /** More than one makes it a merge. */
  parentCount: number | null;
  /** The pull request that brought the commit in. */
  pullRequest: { number: number; title: string; url: string } | null;
}

/** The culprit as a maintainer wants it: subject, author (and their login), its pull request — one GraphQL query. */
export async function commitDetails(octokit: Octokit, where: RepoRef, sha: string): Promise<CommitDetails | null> {
  const raw = await octokit.graphql(QUERY, { owner: where.owner, name: where.repo, sha });
  const commit = responseSchema.parse(raw).repository?.object;
  if (!commit || commit.__typename !== "Commit") return null;
  const pr = commit.associatedPullRequests?.nodes?.find((n) => n !== null) ?? null;
  return {
    sha,
    subject: commit.messageHeadline ?? "",
    authorName: commit.author?.name ?? null,
    authorLogin: commit.author?.user?.login ?? null,
    committedAt: commit.committedDate ?? null,
    parentCount: commit.parents?.totalCount ?? null,
    pullRequest: pr,
  };
}
