/**
 * Bisect Bot's schema, part 4 of 4: what the App reads (through functions: the PostgREST
 * transport reaches the database only through `.rpc()`, and the tables stay closed to every API
 * role) and what a maintainer reads in the Supabase dashboard (views).
 * Security invoker with an empty search_path, as the other functions.
 */

/** Section – one job, as stored (no row when the id is unknown). */
create function public.bisect_get_job(p_job_id bigint)
returns setof public.bisect_jobs language sql stable security invoker set search_path = '' as $$
  select j.* from public.bisect_jobs j where j.id = p_job_id;
$$;

/** Section – the latest job started from an issue or pull request (`/bisect status|cancel|retry`). */
create function public.bisect_latest_job(p_repository_id bigint, p_issue_number integer)
returns setof public.bisect_jobs language sql stable security invoker set search_path = '' as $$
  select j.* from public.bisect_jobs j
  where j.repository_id = p_repository_id and j.issue_number = p_issue_number
  order by j.id desc
  limit 1;
$$;

/** Section – the probes of a job, every attempt, in the order they were recorded. */
create function public.bisect_job_probes(p_job_id bigint)
returns table (attempt integer, sha text, verdict text, exit_code integer, duration_ms integer, round integer) language sql stable security invoker set search_path = '' as $$
  select p.attempt, p.sha, p.verdict, p.exit_code, p.duration_ms, p.round
  from public.bisect_probes p
  where p.job_id = p_job_id
  order by p.id;
$$;

/**
 * Section – the runs a job's attempts recorded. Before dispatching again, a worker looks for a
 * run of this job that no attempt recorded (a dispatch GitHub accepted although its answer was
 * lost); the runs listed here are not that run.
 */
create function public.bisect_attempt_runs(p_job_id bigint)
returns table (attempt integer, run_id bigint, started_at timestamptz) language sql stable security invoker set search_path = '' as $$
  select a.attempt, a.run_id, a.started_at from public.bisect_attempts a
  where a.job_id = p_job_id and a.run_id is not null
  order by a.attempt;
$$;

/** Section – queue position: 1 for the next queued job of its repository; null when not queued. */
create function public.bisect_queue_position(p_job_id bigint)
returns integer language sql stable security invoker set search_path = '' as $$
  select (
    select count(*)::integer from public.bisect_jobs q
    where q.repository_id = j.repository_id and q.state = 'queued'
      and (q.next_check_at, q.id) <= (j.next_check_at, j.id)
  )
  from public.bisect_jobs j
  where j.id = p_job_id and j.state = 'queued';
$$;

/** Section – has this comment been answered already, with a job or with a reply? */
create function public.bisect_comment_handled(p_repository_id bigint, p_comment_id bigint)
returns boolean language sql stable security invoker set search_path = '' as $$
  select exists (select 1 from public.bisect_jobs j where j.repository_id = p_repository_id and j.comment_id = p_comment_id)
    or exists (select 1 from public.bisect_tasks t where t.kind = 'reply' and t.repository_id = p_repository_id and t.comment_id = p_comment_id);
$$;

/** Section – per-repository load: jobs holding a slot and jobs waiting for one. */
create function public.bisect_active_counts()
returns table (repository_id bigint, repository text, active bigint, queued bigint) language sql stable security invoker set search_path = '' as $$
  select j.repository_id, min(j.repository),
    count(*) filter (where j.state in ('dispatching', 'dispatched', 'running')),
    count(*) filter (where j.state = 'queued')
  from public.bisect_jobs j
  where j.state in ('queued', 'dispatching', 'dispatched', 'running')
  group by j.repository_id;
$$;

/**
 * Section – counts for GET /stats and /health: the jobs waiting and in flight now, and those that
 * ended in the last 24 hours; `p_worker`'s leases are the jobs this instance holds. Each count
 * reads an index (the active jobs' partial index, the ended jobs' finished_at): the cost follows
 * the day's work, not every job ever kept.
 */
create function public.bisect_stats(p_worker text)
returns table (pending bigint, running bigint, completed bigint, failed bigint, cancelled bigint, running_on_this_instance bigint) language sql stable security invoker set search_path = '' as $$
  with active as (
    select j.state, j.locked_by, j.lease_expires_at from public.bisect_jobs j
    where j.state in ('queued', 'dispatching', 'dispatched', 'running')
  ), ended as (
    select j.state from public.bisect_jobs j
    where j.finished_at > now() - interval '24 hours'
  )
  select
    (select count(*) from active a where a.state = 'queued'),
    (select count(*) from active a where a.state <> 'queued'),
    (select count(*) from ended e where e.state = 'succeeded'),
    (select count(*) from ended e where e.state in ('failed', 'timed_out')),
    (select count(*) from ended e where e.state = 'cancelled'),
    (select count(*) from active a where a.locked_by = p_worker and a.lease_expires_at > now());
$$;

/**
 * Section – dashboard views
 * What a maintainer reads in the Supabase dashboard. security_invoker: a view answers with the
 * rights of whoever reads it, so it opens nothing the tables do not.
 */
create view public.bisect_queue with (security_invoker = true) as
select
  j.id,
  j.repository,
  j.issue_number,
  j.requester,
  j.state,
  j.attempts,
  j.max_attempts,
  j.next_check_at,
  j.locked_by,
  j.lease_expires_at,
  j.run_url,
  j.created_at,
  case when j.state = 'queued'
    then row_number() over (partition by j.repository_id, (j.state = 'queued') order by j.next_check_at, j.id)
  end as queue_position
from public.bisect_jobs j
where j.state in ('queued', 'dispatching', 'dispatched', 'running')
order by j.next_check_at, j.id;

comment on view public.bisect_queue is 'Jobs not finished yet, in the order workers take them: who holds each, and each waiting job''s place in its repository''s queue.';
select public.bisect_comment_columns('public.bisect_queue', $$
id: The job id.
repository: owner/name.
issue_number: The issue or pull request it answers on.
requester: Who asked.
state: queued, dispatching, dispatched or running.
attempts: Workflow runs started so far.
max_attempts: Runs allowed before an infrastructure failure fails it.
next_check_at: When a worker looks at it next.
locked_by: The worker holding it, if any.
lease_expires_at: When that worker's lease ends.
run_url: Its workflow run.
created_at: When the comment was accepted.
queue_position: Place in its repository's line of queued jobs (null once it holds a slot).
$$);

create view public.bisect_repository_stats with (security_invoker = true) as
select
  j.repository,
  count(*) as jobs,
  count(*) filter (where j.state = 'queued') as queued,
  count(*) filter (where j.state in ('dispatching', 'dispatched', 'running')) as active,
  count(*) filter (where j.state = 'succeeded') as succeeded,
  count(*) filter (where j.state = 'failed') as failed,
  count(*) filter (where j.state = 'cancelled') as cancelled,
  count(*) filter (where j.state = 'timed_out') as timed_out,
  count(*) filter (where j.verdict = 'culprit') as culprits_found,
  round(
    (count(*) filter (where j.state = 'succeeded'))::numeric
      / nullif(count(*) filter (where j.state in ('succeeded', 'failed', 'timed_out')), 0),
    3
  ) as success_rate,
  percentile_cont(0.5) within group (order by extract(epoch from j.finished_at - j.created_at))
    filter (where j.finished_at is not null) as median_seconds,
  percentile_cont(0.95) within group (order by extract(epoch from j.finished_at - j.created_at))
    filter (where j.finished_at is not null) as p95_seconds,
  round(avg(j.tested) filter (where j.tested is not null), 1) as tests_per_bisect,
  count(*) filter (where j.round > 0) as fan_outs,
  sum(j.runner_jobs) as runner_jobs,
  sum(j.runner_minutes) as runner_minutes
from public.bisect_jobs j
where j.created_at > now() - interval '30 days'
group by j.repository;

comment on view public.bisect_repository_stats is 'Per repository, for the jobs of the last 30 days: jobs by state, how often a culprit was found, how long bisects take, how many tests they need and what fan-outs cost in runners.';
select public.bisect_comment_columns('public.bisect_repository_stats', $$
repository: owner/name.
jobs: Jobs accepted in the last 30 days.
queued: Waiting for a slot.
active: Holding a slot (dispatching, dispatched or running).
succeeded: Ended with an answer (culprit, ambiguous or no culprit).
failed: Ended without one (an error result, or infrastructure failures on every attempt).
cancelled: Cancelled with /bisect cancel.
timed_out: Stopped at their time limit.
culprits_found: Jobs that named a first bad commit.
success_rate: succeeded / (succeeded + failed + timed out).
median_seconds: Median time from the comment to the answer.
p95_seconds: 95th percentile of that time.
tests_per_bisect: Average test runs per finished bisect.
fan_outs: Jobs that bisected in rounds across several runners (runners > 1).
runner_jobs: Runner jobs those fan-outs dispatched (one per commit of every round).
runner_minutes: Runner minutes their tests took, each job counted in whole minutes (as GitHub bills).
$$);

/**
 * Section – privileges
 * PostgreSQL lets PUBLIC execute every new function, and a default privilege per schema cannot
 * take that back (the first migration's only reach anon and authenticated): so each migration
 * that creates functions closes them itself. Only the owner and service_role call them.
 */
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
