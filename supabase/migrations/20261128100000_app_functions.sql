/**
 * Section – what the App needs beyond the job lifecycle
 * - a dispatch intent, so a worker that takes over a job looks for the run a dead worker may have
 *   started before it dispatches again (dispatch is not idempotent on GitHub's side);
 * - the status comment, posted once and edited in place;
 * - queued jobs waiting for a repository slot are announced (status comment with their place in
 *   the queue) without starting an attempt;
 * - an outbox of replies (refusals, errors, help, status), so a reply is posted by the worker
 *   loop after a claim, once per comment, whatever the redeliveries;
 * - lookups for `/bisect status|cancel|retry`, the redelivery short-cut and `GET /stats`.
 * Security invoker with an empty search_path, as the lifecycle functions.
 */

/** Section – bisect_jobs: the attempt whose dispatch a worker started. */
alter table public.bisect_jobs add column dispatch_intent_attempt integer;

/**
 * Section – bisect_replies
 * One row per comment answered with a reply instead of a job. The webhook inserts it (idempotent
 * on the delivery id and on the comment); a worker claims it with a lease and posts it.
 */
create table public.bisect_replies (
  id bigint generated always as identity primary key,
  delivery_id text not null,
  repository text not null,
  repository_id bigint not null,
  installation_id bigint,
  issue_number integer not null,
  comment_id bigint not null,
  body text not null,
  -- A reaction to the user's comment (GitHub's reaction content), posted with the reply.
  reaction text,
  -- `/bisect cancel`: the run the worker cancels through the API before replying.
  cancel_run_id bigint,
  state text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  locked_by text,
  lease_token bigint,
  lease_expires_at timestamptz,
  posted_comment_id bigint,
  error text,
  created_at timestamptz not null default now(),
  posted_at timestamptz,
  constraint bisect_replies_delivery_id_key unique (delivery_id),
  constraint bisect_replies_comment_key unique (repository_id, comment_id),
  constraint bisect_replies_state_check check (state in ('pending', 'posted', 'failed')),
  constraint bisect_replies_reaction_check check (reaction is null or reaction in ('+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'))
);
alter table public.bisect_replies enable row level security;
create index bisect_replies_due_idx on public.bisect_replies (next_attempt_at, id) where state = 'pending';

revoke all on table public.bisect_replies from public, anon, authenticated;
grant select, insert, update, delete on table public.bisect_replies to service_role;

/**
 * Section – announce queued jobs
 * A queued job whose repository has no free slot waits unclaimed (bisect_claim_jobs). Before it
 * waits, a worker leases it once, without starting an attempt (it stays queued), to post its place
 * in the queue as the job's status comment. Jobs that have a status comment are not announced.
 */
create function public.bisect_claim_announcements(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer,
  p_max_active integer
) returns setof public.bisect_jobs
language sql security invoker set search_path = ''
as $$
  with waiting as (
    select j.id from public.bisect_jobs j
    where j.state = 'queued' and j.status_comment_id is null
      and (j.locked_by is null or j.lease_expires_at < now())
      and (select count(*) from public.bisect_jobs a
           where a.repository_id = j.repository_id and a.state in ('dispatching', 'dispatched', 'running')) >= p_max_active
    order by j.next_check_at, j.id
    limit p_limit
    for update skip locked
  ),
  leased as (
    update public.bisect_jobs j set
      locked_by = p_worker,
      lease_token = nextval('public.bisect_lease_token_seq'),
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      updated_at = now()
    from waiting w
    where j.id = w.id
    returning j.*
  ),
  audited as (
    insert into public.bisect_claim_audit (job_id, lease_token, attempt, worker, from_state)
    select l.id, l.lease_token, l.attempts, p_worker, 'queued' from leased l
  )
  select * from leased;
$$;

/** Section – dispatch intent: this attempt's run may exist from here on. */
create function public.bisect_record_dispatch_intent(p_job_id bigint, p_token bigint)
returns boolean
language sql security invoker set search_path = ''
as $$
  with marked as (
    update public.bisect_jobs set dispatch_intent_attempt = attempts, updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now() and state = 'dispatching'
    returning 1
  )
  select exists (select 1 from marked);
$$;

/** Section – status comment: the one comment a job's updates edit in place. */
create function public.bisect_set_status_comment(p_job_id bigint, p_token bigint, p_comment_id bigint)
returns boolean
language sql security invoker set search_path = ''
as $$
  with set_comment as (
    update public.bisect_jobs set status_comment_id = p_comment_id, updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now()
    returning 1
  )
  select exists (select 1 from set_comment);
$$;

/** Section – queue position: 1 for the next queued job of its repository; null when not queued. */
create function public.bisect_queue_position(p_job_id bigint)
returns integer
language sql stable security invoker set search_path = ''
as $$
  select (
    select count(*)::integer from public.bisect_jobs q
    where q.repository_id = j.repository_id and q.state = 'queued'
      and (q.next_check_at, q.id) <= (j.next_check_at, j.id)
  )
  from public.bisect_jobs j
  where j.id = p_job_id and j.state = 'queued';
$$;

/** Section – the latest job started from an issue or pull request (`/bisect status|cancel|retry`). */
create function public.bisect_latest_job(p_repository_id bigint, p_issue_number integer)
returns setof public.bisect_jobs
language sql stable security invoker set search_path = ''
as $$
  select j.* from public.bisect_jobs j
  where j.repository_id = p_repository_id and j.issue_number = p_issue_number
  order by j.id desc
  limit 1;
$$;

/** Section – has this delivery or comment been handled already (as a job or as a reply)? */
create function public.bisect_comment_handled(p_delivery_id text, p_repository_id bigint, p_comment_id bigint)
returns boolean
language sql stable security invoker set search_path = ''
as $$
  select exists (
    select 1 from public.bisect_jobs j
    where j.delivery_id = p_delivery_id or (j.repository_id = p_repository_id and j.comment_id = p_comment_id)
  ) or exists (
    select 1 from public.bisect_replies r
    where r.delivery_id = p_delivery_id or (r.repository_id = p_repository_id and r.comment_id = p_comment_id)
  );
$$;

/** Section – counts for GET /stats; `p_worker`'s leases are the jobs this instance holds. */
create function public.bisect_stats(p_worker text)
returns table (pending bigint, running bigint, completed bigint, failed bigint, cancelled bigint, running_on_this_instance bigint)
language sql stable security invoker set search_path = ''
as $$
  select
    count(*) filter (where j.state = 'queued'),
    count(*) filter (where j.state in ('dispatching', 'dispatched', 'running')),
    count(*) filter (where j.state = 'succeeded'),
    count(*) filter (where j.state in ('failed', 'timed_out')),
    count(*) filter (where j.state = 'cancelled'),
    count(*) filter (where j.locked_by = p_worker and j.lease_expires_at > now())
  from public.bisect_jobs j;
$$;

/** Section – replies: enqueue (idempotent), claim, finish. */
create function public.bisect_enqueue_reply(
  p_delivery_id text,
  p_repository text,
  p_repository_id bigint,
  p_installation_id bigint,
  p_issue_number integer,
  p_comment_id bigint,
  p_body text,
  p_reaction text,
  p_cancel_run_id bigint
) returns table (reply_id bigint, created boolean)
language plpgsql security invoker set search_path = ''
as $$
declare
  v_id bigint;
begin
  insert into public.bisect_replies (delivery_id, repository, repository_id, installation_id, issue_number, comment_id, body, reaction, cancel_run_id)
  values (p_delivery_id, p_repository, p_repository_id, p_installation_id, p_issue_number, p_comment_id, p_body, p_reaction, p_cancel_run_id)
  on conflict do nothing
  returning id into v_id;
  if v_id is not null then
    return query select v_id, true;
    return;
  end if;
  return query
    select r.id, false from public.bisect_replies r
    where r.delivery_id = p_delivery_id or (r.repository_id = p_repository_id and r.comment_id = p_comment_id)
    order by r.id limit 1;
end;
$$;

create function public.bisect_claim_replies(p_worker text, p_limit integer, p_lease_seconds integer)
returns setof public.bisect_replies
language sql security invoker set search_path = ''
as $$
  with due as (
    select r.id from public.bisect_replies r
    where r.state = 'pending' and ((r.locked_by is null and r.next_attempt_at <= now()) or r.lease_expires_at < now())
    order by r.next_attempt_at, r.id
    limit p_limit
    for update skip locked
  )
  update public.bisect_replies r set
    attempts = r.attempts + 1,
    locked_by = p_worker,
    lease_token = nextval('public.bisect_lease_token_seq'),
    lease_expires_at = now() + make_interval(secs => p_lease_seconds)
  from due
  where r.id = due.id
  returning r.*;
$$;

/**
 * Posted (p_comment_id set), or not: then tried again after p_retry_seconds, or given up for good
 * when p_retry_seconds is null (an error retrying cannot fix) or after five attempts.
 */
create function public.bisect_finish_reply(p_reply_id bigint, p_token bigint, p_comment_id bigint, p_error text, p_retry_seconds integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with finished as (
    update public.bisect_replies set
      state = case
        when p_comment_id is not null then 'posted'
        when p_retry_seconds is null or attempts >= 5 then 'failed'
        else 'pending' end,
      posted_comment_id = p_comment_id,
      posted_at = case when p_comment_id is not null then now() else null end,
      error = p_error,
      next_attempt_at = now() + make_interval(secs => coalesce(p_retry_seconds, 0)),
      locked_by = null,
      lease_token = null,
      lease_expires_at = null
    where id = p_reply_id and lease_token = p_token and lease_expires_at > now() and state = 'pending'
    returning 1
  )
  select exists (select 1 from finished);
$$;

/**
 * Section – privileges
 * Named one by one (Supabase's default privileges grant new functions to anon and authenticated).
 */
revoke execute on function
  public.bisect_claim_announcements(text, integer, integer, integer),
  public.bisect_record_dispatch_intent(bigint, bigint),
  public.bisect_set_status_comment(bigint, bigint, bigint),
  public.bisect_queue_position(bigint),
  public.bisect_latest_job(bigint, integer),
  public.bisect_comment_handled(text, bigint, bigint),
  public.bisect_stats(text),
  public.bisect_enqueue_reply(text, text, bigint, bigint, integer, bigint, text, text, bigint),
  public.bisect_claim_replies(text, integer, integer),
  public.bisect_finish_reply(bigint, bigint, bigint, text, integer)
from public, anon, authenticated;
grant execute on function
  public.bisect_claim_announcements(text, integer, integer, integer),
  public.bisect_record_dispatch_intent(bigint, bigint),
  public.bisect_set_status_comment(bigint, bigint, bigint),
  public.bisect_queue_position(bigint),
  public.bisect_latest_job(bigint, integer),
  public.bisect_comment_handled(text, bigint, bigint),
  public.bisect_stats(text),
  public.bisect_enqueue_reply(text, text, bigint, bigint, integer, bigint, text, text, bigint),
  public.bisect_claim_replies(text, integer, integer),
  public.bisect_finish_reply(bigint, bigint, bigint, text, integer)
to service_role;
