import { z } from "zod";
import type { Octokit, RepoRef } from "./octokit.js";

export { MAX_GOOD_REFS as MAX_GOODS } from "../command/bisect-command.js";

/** Where the repository keeps its Bisect Bot settings, on the default branch. */
export const CONFIG_PATH = ".github/bisect.yml";

/** A ref as git peels it: a tag names (through any number of tags) a commit, or something else. */
const gitObject: z.ZodType<GitObject> = z.lazy(() =>
  z.object({
    __typename: z.string(),
    oid: z.string(),
    target: gitObject.optional().nullable(),
  }),
);
interface GitObject {
  __typename: string;
  oid: string;
  target?: GitObject | null | undefined;
}

const responseSchema = z.object({
  repository: z
    .object({
      defaultBranchRef: z
        .object({
          name: z.string(),
          target: z
            .object({
              oid: z.string(),
              config: z
                .object({ object: z.object({ text: z.string().nullable().optional(), isTruncated: z.boolean().optional() }).nullable() })
                .nullable()
                .optional(),
              workflows: z
                .object({ object: z.object({ entries: z.array(z.object({ name: z.string() })).optional() }).nullable() })
                .nullable()
                .optional(),
            })
            .nullable(),
        })
        .nullable(),
      pullRequest: z
        .object({
          baseRefName: z.string(),
          baseRefOid: z.string(),
          headRefName: z.string(),
          headRefOid: z.string(),
        })
        .nullable()
        .optional(),
    })
    .catchall(z.unknown())
    .nullable(),
});

export interface ResolvedRef {
  /** What the user wrote. */
  ref: string;
  /** The commit's full sha, or null when GitHub knows no such revision (or it is not a commit). */
  sha: string | null;
  /** What the ref names when it is not a commit (a Tree, a Blob). */
  kind: string | null;
}

export interface RepositorySnapshot {
  defaultBranch: string;
  defaultBranchSha: string;
  /** `.github/bisect.yml` on the default branch: null when absent. */
  configText: string | null;
  configTruncated: boolean;
  /** File names in `.github/workflows` on the default branch. */
  workflowFiles: string[];
  goods: ResolvedRef[];
  bad: ResolvedRef | null;
  pullRequest: { baseRefName: string; baseSha: string; headRefName: string; headSha: string } | null;
}

const REV_FIELDS = "__typename oid ... on Tag { target { __typename oid ... on Tag { target { __typename oid ... on Tag { target { __typename oid } } } } } }";

/** One query for everything a `/bisect` comment needs to know before anything is spent. */
export function snapshotQuery(goodCount: number, withBad: boolean, withPullRequest: boolean): string {
  const vars = ["$owner: String!", "$name: String!"];
  const fields: string[] = [];
  for (let i = 0; i < goodCount; i++) {
    vars.push(`$good${i}: String!`);
    fields.push(`good${i}: object(expression: $good${i}) { ${REV_FIELDS} }`);
  }
  if (withBad) {
    vars.push("$bad: String!");
    fields.push(`bad: object(expression: $bad) { ${REV_FIELDS} }`);
  }
  if (withPullRequest) {
    vars.push("$number: Int!");
    fields.push("pullRequest(number: $number) { baseRefName baseRefOid headRefName headRefOid }");
  }
  return `query BisectSnapshot(${vars.join(", ")}) {
  repository(owner: $owner, name: $name) {
    defaultBranchRef {
      name
      target {
        oid
        ... on Commit {
          config: file(path: "${CONFIG_PATH}") { object { ... on Blob { text isTruncated } } }
          workflows: file(path: ".github/workflows") { object { ... on Tree { entries { name } } } }
        }
      }
    }
    ${fields.join("\n    ")}
  }
}`;
}

function peel(object: GitObject | null | undefined, depth = 0): { sha: string | null; kind: string | null } {
  if (!object) return { sha: null, kind: null };
  if (object.__typename === "Commit") return { sha: object.oid, kind: "Commit" };
  if (object.__typename === "Tag" && depth < 4) return peel(object.target, depth + 1);
  return { sha: null, kind: object.__typename };
}

export class RepositoryNotFoundError extends Error {}

/**
 * Resolves the refs of a command to full SHAs, and reads the default branch, the repository's
 * config and its workflow files — one GraphQL query. Refs travel as variables, never inside the
 * query text.
 */
export async function snapshotRepository(
  octokit: Octokit,
  where: RepoRef,
  refs: { goods: string[]; bad: string | null; pullRequest: number | null },
): Promise<RepositorySnapshot> {
  const variables: Record<string, unknown> = { owner: where.owner, name: where.repo };
  refs.goods.forEach((g, i) => (variables[`good${i}`] = g));
  if (refs.bad !== null) variables.bad = refs.bad;
  if (refs.pullRequest !== null) variables.number = refs.pullRequest;
  const raw = await octokit.graphql(snapshotQuery(refs.goods.length, refs.bad !== null, refs.pullRequest !== null), variables);
  const { repository } = responseSchema.parse(raw);
  if (!repository || !repository.defaultBranchRef?.target) {
    throw new RepositoryNotFoundError(`GitHub answered no default branch for ${where.owner}/${where.repo}: is the repository empty?`);
  }
  const target = repository.defaultBranchRef.target;
  const resolve = (ref: string, key: string): ResolvedRef => ({ ref, ...peel(gitObject.nullable().optional().parse(repository[key])) });
  const pr = repository.pullRequest ?? null;
  return {
    defaultBranch: repository.defaultBranchRef.name,
    defaultBranchSha: target.oid,
    configText: target.config?.object?.text ?? null,
    configTruncated: target.config?.object?.isTruncated ?? false,
    workflowFiles: (target.workflows?.object?.entries ?? []).map((e) => e.name),
    goods: refs.goods.map((g, i) => resolve(g, `good${i}`)),
    bad: refs.bad === null ? null : resolve(refs.bad, "bad"),
    pullRequest: pr ? { baseRefName: pr.baseRefName, baseSha: pr.baseRefOid, headRefName: pr.headRefName, headSha: pr.headRefOid } : null,
  };
}
