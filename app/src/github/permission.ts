import { z } from "zod";
import { httpStatus, type Octokit, type RepoRef } from "./octokit.js";

const permissionSchema = z.object({
  permission: z.string(),
  role_name: z.string().optional(),
});

export type Role = "admin" | "maintain" | "write" | "triage" | "read" | "none";

/**
 * The commenter's role on the repository, from the collaborator permission API (not
 * `author_association`, which reports private org members as CONTRIBUTOR). Someone who is not a
 * collaborator is `none`.
 */
export async function repositoryRole(octokit: Octokit, where: RepoRef, login: string): Promise<Role> {
  try {
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", {
      owner: where.owner,
      repo: where.repo,
      username: login,
    });
    const parsed = permissionSchema.parse(data);
    const role = parsed.role_name ?? parsed.permission;
    if (role === "admin" || role === "maintain" || role === "write" || role === "triage" || role === "read") return role;
    // A custom repository role: GitHub maps it to its base permission.
    if (parsed.permission === "admin") return "admin";
    if (parsed.permission === "write") return "write";
    if (parsed.permission === "read") return "read";
    return "none";
  } catch (error) {
    if (httpStatus(error) === 404) return "none";
    throw error;
  }
}

/** Who may start, cancel or retry a bisect: write, maintain or admin. */
export function mayRunBisect(role: Role): boolean {
  return role === "admin" || role === "maintain" || role === "write";
}
