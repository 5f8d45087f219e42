/**
 * Bisect Bot's schema: when each pull request's head last moved, as the App heard it. A bare
 * `/bisect` on a pull request bisects its base..head; the head is read when a worker takes the
 * command, which may be seconds (or, under load, minutes) after the comment. A fork's author who
 * pushes in between must not get the new head bisected (DESIGN: Trust): the worker compares the
 * head it reads with the head this table says the pull request had when the comment was written.
 *
 *   pull_request opened / reopened / synchronize ─► bisect_note_pull_request_head (moved_at = now())
 *   /bisect on the pull request ─► bisect_pull_request_head: the head and when it moved
 *
 * moved_at is when the App received the event, never earlier than the push: an error can only
 * refuse a bisect (asking the maintainer to comment again), never bisect a later head.
 *
 * Security invoker with an empty search_path, as the other functions.
 */

/**
 * Section – bisect_pull_request_heads
 * One row per pull request the App has heard of: its head, and when the App heard it moved there.
 */
create table public.bisect_pull_request_heads (
  repository_id bigint not null,
  pr_number integer not null,
  head_sha text not null,
  moved_at timestamptz not null default now(),
  primary key (repository_id, pr_number)
);
alter table public.bisect_pull_request_heads enable row level security;

comment on table public.bisect_pull_request_heads is 'The head of each pull request and when the App heard it move there (pull_request webhooks): a /bisect is refused when the head moved after the comment.';
select public.bisect_comment_columns('public.bisect_pull_request_heads', $$
repository_id: The repository's GitHub id.
pr_number: The pull request's number.
head_sha: The head commit, as the latest opened, reopened or synchronize event said.
moved_at: When the App received that event (no earlier than the push itself).
$$);

/**
 * Section – note a head: a pull_request event said the head is `p_head_sha`. When it moved, the
 * time is now; an event that names the head already known (a redelivery, a reopen) keeps the time
 * it first moved there. Answers whether the head moved (or was first heard of).
 */
create function public.bisect_note_pull_request_head(p_repository_id bigint, p_pr_number integer, p_head_sha text)
returns boolean language sql security invoker set search_path = '' as $$
  insert into public.bisect_pull_request_heads as h (repository_id, pr_number, head_sha)
  values (p_repository_id, p_pr_number, p_head_sha)
  on conflict (repository_id, pr_number) do update set
    moved_at = case when h.head_sha = excluded.head_sha then h.moved_at else now() end,
    head_sha = excluded.head_sha
  returning h.moved_at = now();
$$;

/** Section – read a head: the latest head the App heard of for the pull request, and when; no row when it heard none. */
create function public.bisect_pull_request_head(p_repository_id bigint, p_pr_number integer)
returns table (head_sha text, moved_at timestamptz) language sql stable security invoker set search_path = '' as $$
  select h.head_sha, h.moved_at from public.bisect_pull_request_heads h
  where h.repository_id = p_repository_id and h.pr_number = p_pr_number;
$$;

/**
 * Section – privileges
 * As the tables migration: no policies, only the owner and service_role reach the rows; and, as
 * every migration that creates functions, PUBLIC's default EXECUTE is taken back.
 */
revoke all on all tables in schema public from public, anon, authenticated;
revoke all on all sequences in schema public from public, anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
grant execute on all functions in schema public to service_role;
