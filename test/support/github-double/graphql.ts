/**
 * GitHub's GraphQL API, executed by graphql-js against GitHub's real published schema
 * (`@octokit/graphql-schema`), so a misspelt field or a wrong argument type is refused exactly as
 * GitHub would. Only the fields the app reads have resolvers (backed by git); everything else
 * resolves to null, and a non-null field left unresolved surfaces as an execution error, which
 * the server records as a violation ("the double does not implement ...").
 */
import { buildClientSchema, execute, GraphQLError, parse, validate, type DocumentNode, type GraphQLSchema, type IntrospectionQuery } from "graphql";
import {
  commitInfo,
  defaultBranchOf,
  lsTree,
  objectType,
  readBlob,
  resolveBranchOrTag,
  resolveCommit,
  resolveExpression,
  tagInfo,
  type CommitInfo,
  type TagInfo,
  type TreeEntryInfo,
} from "./git-data.js";
import { nodeId } from "./objects.js";
import { fullNameOf, type DoubleRepository, type DoubleState, type PullRequestRecord } from "./state.js";

let schemaPromise: Promise<GraphQLSchema> | null = null;

/**
 * GitHub's schema, built once per process. From the package's introspection JSON rather than
 * `schema.idl`: the SDL defines two `EnterpriseOwnerInfo` fields twice, so `buildSchema` rejects
 * it unless told to skip SDL validation, and importing the package parses the JSON anyway.
 */
export function loadGraphqlSchema(): Promise<GraphQLSchema> {
  schemaPromise ??= import("@octokit/graphql-schema").then(({ schema }) => buildClientSchema(schema.json as unknown as IntrospectionQuery));
  return schemaPromise;
}

/** GitHub's "Could not resolve to a …" error: data null at that path plus `type: NOT_FOUND`. */
class NotFoundError extends Error {
  readonly type = "NOT_FOUND";
}

interface Context {
  state: DoubleState;
  installationId: number;
}

function actor(state: DoubleState, login: string) {
  const user = state.user(login);
  return { __typename: user.type === "Bot" ? "Bot" : "User", login, id: nodeId(user.type, user.id), databaseId: user.id, url: `${state.url}/${login}` };
}

function gitActor(ctx: Context, name: string, email: string, date: string) {
  const login = ctx.state.loginsByEmail.get(email.toLowerCase());
  return { name, email, date, user: login ? actor(ctx.state, login) : null };
}

async function gitObject(ctx: Context, repo: DoubleRepository, oid: string | null, path?: string): Promise<GitObjectNode | null> {
  if (!oid) return null;
  switch (await objectType(repo.path, oid)) {
    case "commit":
      return new CommitNode(ctx, repo, oid);
    case "tree":
      return new TreeNode(ctx, repo, oid, path);
    case "blob":
      return new BlobNode(ctx, repo, oid);
    case "tag":
      return new TagNode(ctx, repo, oid);
    default:
      return null;
  }
}

type GitObjectNode = CommitNode | TreeNode | BlobNode | TagNode;

/** Fields every GitObject shares. Private state uses #fields so it never shadows a schema field. */
abstract class GitObjectBase {
  abstract readonly __typename: string;
  readonly #repo: DoubleRepository;
  protected readonly ctx: Context;
  constructor(
    ctx: Context,
    repo: DoubleRepository,
    readonly oid: string,
  ) {
    this.ctx = ctx;
    this.#repo = repo;
  }
  protected get repo(): DoubleRepository {
    return this.#repo;
  }
  get id(): string {
    return nodeId(this.__typename, this.oid);
  }
  get abbreviatedOid(): string {
    return this.oid.slice(0, 7);
  }
  repository(): RepositoryNode {
    return new RepositoryNode(this.ctx, this.#repo);
  }
}

class CommitNode extends GitObjectBase {
  readonly __typename = "Commit";
  #info: Promise<CommitInfo> | null = null;
  private info(): Promise<CommitInfo> {
    this.#info ??= commitInfo(this.repo.path, this.oid);
    return this.#info;
  }
  get url(): string {
    return `${this.ctx.state.url}/${fullNameOf(this.repo)}/commit/${this.oid}`;
  }
  get commitUrl(): string {
    return this.url;
  }
  async message(): Promise<string> {
    return (await this.info()).message;
  }
  async messageHeadline(): Promise<string> {
    return (await this.info()).message.split("\n")[0] ?? "";
  }
  async messageBody(): Promise<string> {
    const message = (await this.info()).message;
    const blank = message.indexOf("\n\n");
    return blank < 0 ? "" : message.slice(blank + 2);
  }
  async committedDate(): Promise<string> {
    return (await this.info()).committerDate;
  }
  async authoredDate(): Promise<string> {
    return (await this.info()).authorDate;
  }
  async author() {
    const info = await this.info();
    return gitActor(this.ctx, info.authorName, info.authorEmail, info.authorDate);
  }
  async committer() {
    const info = await this.info();
    return gitActor(this.ctx, info.committerName, info.committerEmail, info.committerDate);
  }
  async tree(): Promise<TreeNode> {
    return new TreeNode(this.ctx, this.repo, (await this.info()).tree, "");
  }
  async parents(args: { first?: number; last?: number }) {
    const parents = (await this.info()).parents;
    const nodes = window(parents, args).map((oid) => new CommitNode(this.ctx, this.repo, oid));
    return connection(nodes, parents.length);
  }
  /** The entry at `path` in this commit's tree (null when there is none), as GitHub's `Commit.file`. */
  async file(args: { path: string }): Promise<TreeEntryNode | null> {
    const path = args.path.replace(/^\/+|\/+$/g, "");
    if (path === "") return null;
    const [entry] = await lsTree(this.repo.path, this.oid, path);
    return entry && entry.path === path ? new TreeEntryNode(this.ctx, this.repo, entry) : null;
  }
  /** Pull requests registered with this merge commit, or whose head is this commit. */
  async associatedPullRequests(args: { first?: number; last?: number }) {
    const prs = this.ctx.state.pullRequests.get(fullNameOf(this.repo).toLowerCase()) ?? [];
    const matches: PullRequestNode[] = [];
    for (const pr of prs) {
      const merge = pr.mergeCommitSha ? await resolveCommit(this.repo.path, pr.mergeCommitSha) : null;
      const head = await resolveCommit(this.repo.path, pr.headRef);
      if (merge === this.oid || head === this.oid) matches.push(new PullRequestNode(this.ctx, this.repo, pr));
    }
    return connection(window(matches, args), matches.length);
  }
}

/** `first` / `last` applied to a list (GitHub requires one of them on connections; not enforced). */
function window<T>(items: T[], args: { first?: number | null; last?: number | null }): T[] {
  let out = items;
  if (typeof args.first === "number") out = out.slice(0, args.first);
  if (typeof args.last === "number") out = out.slice(Math.max(out.length - args.last, 0));
  return out;
}

function connection<T>(nodes: T[], totalCount: number) {
  return {
    totalCount,
    nodes,
    edges: nodes.map((node, i) => ({ node, cursor: Buffer.from(`cursor:${i + 1}`).toString("base64") })),
    pageInfo: { hasNextPage: nodes.length < totalCount, hasPreviousPage: false, startCursor: null, endCursor: null },
  };
}

class TreeNode extends GitObjectBase {
  readonly __typename = "Tree";
  readonly #path: string | undefined;
  constructor(ctx: Context, repo: DoubleRepository, oid: string, path?: string) {
    super(ctx, repo, oid);
    this.#path = path;
  }
  async entries(): Promise<TreeEntryNode[]> {
    const prefix = this.#path ? `${this.#path}/` : "";
    return (await lsTree(this.repo.path, this.oid)).map((e) => new TreeEntryNode(this.ctx, this.repo, { ...e, path: `${prefix}${e.path}` }));
  }
}

class TreeEntryNode {
  readonly #ctx: Context;
  readonly #repo: DoubleRepository;
  readonly #entry: TreeEntryInfo;
  constructor(ctx: Context, repo: DoubleRepository, entry: TreeEntryInfo) {
    this.#ctx = ctx;
    this.#repo = repo;
    this.#entry = entry;
  }
  get name(): string {
    return this.#entry.path.slice(this.#entry.path.lastIndexOf("/") + 1);
  }
  get path(): string {
    return this.#entry.path;
  }
  get type(): string {
    return this.#entry.type;
  }
  get oid(): string {
    return this.#entry.oid;
  }
  /** The file mode as an integer, e.g. 33188 for 100644 (GitHub's `Int!`). */
  get mode(): number {
    return parseInt(this.#entry.mode, 8);
  }
  get size(): number {
    return this.#entry.size;
  }
  get extension(): string | null {
    const dot = this.name.lastIndexOf(".");
    return dot > 0 ? this.name.slice(dot) : null;
  }
  get isGenerated(): boolean {
    return false;
  }
  object(): Promise<GitObjectNode | null> {
    // A submodule's commit is not in this repository.
    return this.#entry.type === "commit" ? Promise.resolve(null) : gitObject(this.#ctx, this.#repo, this.#entry.oid, this.#entry.path);
  }
  repository(): RepositoryNode {
    return new RepositoryNode(this.#ctx, this.#repo);
  }
}

/** Like git's binary heuristic: a NUL byte in the first 8000 bytes. */
function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

class BlobNode extends GitObjectBase {
  readonly __typename = "Blob";
  #bytes: Promise<Buffer> | null = null;
  private bytes(): Promise<Buffer> {
    this.#bytes ??= readBlob(this.repo.path, this.oid).then((b) => b ?? Buffer.alloc(0));
    return this.#bytes;
  }
  async byteSize(): Promise<number> {
    return (await this.bytes()).length;
  }
  async isBinary(): Promise<boolean> {
    return looksBinary(await this.bytes());
  }
  /** Never truncated here (GitHub truncates very large blobs). */
  get isTruncated(): boolean {
    return false;
  }
  async text(): Promise<string | null> {
    const bytes = await this.bytes();
    return looksBinary(bytes) ? null : bytes.toString("utf8");
  }
}

class TagNode extends GitObjectBase {
  readonly __typename = "Tag";
  #info: Promise<TagInfo> | null = null;
  private info(): Promise<TagInfo> {
    this.#info ??= tagInfo(this.repo.path, this.oid);
    return this.#info;
  }
  async name(): Promise<string> {
    return (await this.info()).name;
  }
  async message(): Promise<string> {
    return (await this.info()).message;
  }
  async tagger() {
    const info = await this.info();
    return info.taggerName === null ? null : gitActor(this.ctx, info.taggerName, info.taggerEmail ?? "", info.taggerDate ?? "");
  }
  async target(): Promise<GitObjectNode | null> {
    return gitObject(this.ctx, this.repo, (await this.info()).object);
  }
}

class RefNode {
  readonly __typename = "Ref";
  readonly #ctx: Context;
  readonly #repo: DoubleRepository;
  readonly #oid: string;
  constructor(
    ctx: Context,
    repo: DoubleRepository,
    readonly prefix: string,
    readonly name: string,
    oid: string,
  ) {
    this.#ctx = ctx;
    this.#repo = repo;
    this.#oid = oid;
  }
  get id(): string {
    return nodeId("Ref", `${this.#repo.id}:${this.prefix}${this.name}`);
  }
  target(): Promise<GitObjectNode | null> {
    return gitObject(this.#ctx, this.#repo, this.#oid);
  }
  repository(): RepositoryNode {
    return new RepositoryNode(this.#ctx, this.#repo);
  }
}

class PullRequestNode {
  readonly __typename = "PullRequest";
  readonly #ctx: Context;
  readonly #repo: DoubleRepository;
  readonly #pr: PullRequestRecord;
  constructor(ctx: Context, repo: DoubleRepository, pr: PullRequestRecord) {
    this.#ctx = ctx;
    this.#repo = repo;
    this.#pr = pr;
  }
  get id(): string {
    return nodeId("PullRequest", `${this.#repo.id}:${this.#pr.number}`);
  }
  get number(): number {
    return this.#pr.number;
  }
  get title(): string {
    return this.#pr.title ?? `Pull request #${this.#pr.number}`;
  }
  get url(): string {
    return `${this.#ctx.state.url}/${fullNameOf(this.#repo)}/pull/${this.#pr.number}`;
  }
  get permalink(): string {
    return this.url;
  }
  get state(): string {
    return this.#pr.state ?? (this.#pr.mergeCommitSha ? "MERGED" : "OPEN");
  }
  get merged(): boolean {
    return this.state === "MERGED";
  }
  get closed(): boolean {
    return this.state !== "OPEN";
  }
  get isCrossRepository(): boolean {
    return false;
  }
  get baseRefName(): string {
    return this.#pr.baseRef;
  }
  get headRefName(): string {
    return this.#pr.headRef;
  }
  author() {
    return actor(this.#ctx.state, this.#pr.author ?? this.#repo.owner);
  }
  /** Resolved in git at query time, so moving a branch moves the pull request. */
  private async oidOf(ref: string): Promise<string> {
    const oid = await resolveCommit(this.#repo.path, ref);
    if (!oid) throw new Error(`the double cannot resolve ${ref} of pull request #${this.#pr.number} in ${this.#repo.path}`);
    return oid;
  }
  baseRefOid(): Promise<string> {
    return this.oidOf(this.#pr.baseRef);
  }
  headRefOid(): Promise<string> {
    return this.oidOf(this.#pr.headRef);
  }
  async mergeCommit(): Promise<CommitNode | null> {
    const oid = this.#pr.mergeCommitSha ? await resolveCommit(this.#repo.path, this.#pr.mergeCommitSha) : null;
    return oid ? new CommitNode(this.#ctx, this.#repo, oid) : null;
  }
  baseRepository(): RepositoryNode {
    return new RepositoryNode(this.#ctx, this.#repo);
  }
  headRepository(): RepositoryNode {
    return new RepositoryNode(this.#ctx, this.#repo);
  }
  repository(): RepositoryNode {
    return new RepositoryNode(this.#ctx, this.#repo);
  }
}

class RepositoryNode {
  readonly __typename = "Repository";
  readonly #ctx: Context;
  readonly #repo: DoubleRepository;
  constructor(ctx: Context, repo: DoubleRepository) {
    this.#ctx = ctx;
    this.#repo = repo;
  }
  get id(): string {
    return nodeId("Repository", this.#repo.id);
  }
  get databaseId(): number {
    return this.#repo.id;
  }
  get name(): string {
    return this.#repo.name;
  }
  get nameWithOwner(): string {
    return fullNameOf(this.#repo);
  }
  get url(): string {
    return `${this.#ctx.state.url}/${fullNameOf(this.#repo)}`;
  }
  get isPrivate(): boolean {
    return this.#repo.private ?? false;
  }
  get visibility(): string {
    return this.#repo.private ? "PRIVATE" : "PUBLIC";
  }
  owner() {
    return actor(this.#ctx.state, this.#repo.owner);
  }
  async defaultBranchRef(): Promise<RefNode | null> {
    const name = await defaultBranchOf(this.#repo);
    const ref = await resolveBranchOrTag(this.#repo.path, `refs/heads/${name}`);
    return ref ? new RefNode(this.#ctx, this.#repo, ref.prefix, ref.name, ref.oid) : null;
  }
  /** Any revision expression git understands; an unknown one is null, not an error (as on GitHub). */
  async object(args: { expression?: string | null; oid?: string | null }): Promise<GitObjectNode | null> {
    if (args.expression != null) {
      // `rev:path` names a tree or blob at that path; its entries' paths continue from there.
      const path = /^[^:]+:(.+)$/.exec(args.expression)?.[1]?.replace(/\/+$/, "");
      return gitObject(this.#ctx, this.#repo, await resolveExpression(this.#repo.path, args.expression), path);
    }
    if (args.oid != null) return gitObject(this.#ctx, this.#repo, args.oid);
    return null;
  }
  async ref(args: { qualifiedName: string }): Promise<RefNode | null> {
    const ref = await resolveBranchOrTag(this.#repo.path, args.qualifiedName);
    return ref ? new RefNode(this.#ctx, this.#repo, ref.prefix, ref.name, ref.oid) : null;
  }
  pullRequest(args: { number: number }): PullRequestNode {
    const pr = (this.#ctx.state.pullRequests.get(fullNameOf(this.#repo).toLowerCase()) ?? []).find((p) => p.number === args.number);
    if (!pr) throw new NotFoundError(`Could not resolve to a PullRequest with the number of ${args.number}.`);
    return new PullRequestNode(this.#ctx, this.#repo, pr);
  }
}

class QueryRoot {
  readonly #ctx: Context;
  constructor(ctx: Context) {
    this.#ctx = ctx;
  }
  /** Repositories outside the token's installation are hidden, as on GitHub. */
  repository(args: { owner: string; name: string }): RepositoryNode {
    const repo = this.#ctx.state.repository(`${args.owner}/${args.name}`);
    if (!repo || repo.installationId !== this.#ctx.installationId) {
      throw new NotFoundError(`Could not resolve to a Repository with the name '${args.owner}/${args.name}'.`);
    }
    return new RepositoryNode(this.#ctx, repo);
  }
}

export interface GraphqlOutcome {
  body: unknown;
  violations: string[];
}

/** GitHub's JSON for an error: graphql-js's, plus `type` for NOT_FOUND. */
function errorJson(error: GraphQLError): Record<string, unknown> {
  const json: Record<string, unknown> = { ...error.toJSON() };
  if (error.originalError instanceof NotFoundError) json.type = error.originalError.type;
  return json;
}

/** Validates and executes one GraphQL request body (`{query, variables, operationName}`). */
export async function runGraphql(state: DoubleState, installationId: number, body: unknown): Promise<GraphqlOutcome> {
  const schema = await loadGraphqlSchema();
  const request = (body ?? {}) as { query?: unknown; variables?: unknown; operationName?: unknown };
  if (typeof request.query !== "string") {
    return {
      body: { errors: [{ message: "A query attribute must be specified and must be a string." }] },
      violations: ["GraphQL request without a query string"],
    };
  }
  let document: DocumentNode;
  try {
    document = parse(request.query);
  } catch (error) {
    const e = error as GraphQLError;
    return { body: { errors: [errorJson(e)] }, violations: [`GraphQL syntax error: ${e.message}`] };
  }
  const invalid = validate(schema, document);
  if (invalid.length > 0) {
    return { body: { errors: invalid.map(errorJson) }, violations: invalid.map((e) => `GraphQL query does not match GitHub's schema: ${e.message}`) };
  }
  const ctx: Context = { state, installationId };
  const result = await execute({
    schema,
    document,
    rootValue: new QueryRoot(ctx),
    contextValue: ctx,
    variableValues: (request.variables ?? undefined) as Record<string, unknown> | undefined,
    operationName: typeof request.operationName === "string" ? request.operationName : undefined,
  });
  const violations = (result.errors ?? [])
    .filter((e) => !(e.originalError instanceof NotFoundError))
    .map((e) => `GraphQL error at ${e.path?.join(".") ?? "(request)"}: ${e.message} (a wrong variable, or a field the double does not implement)`);
  const json: Record<string, unknown> = { data: result.data ?? null };
  if (result.errors?.length) json.errors = result.errors.map(errorJson);
  return { body: json, violations };
}
