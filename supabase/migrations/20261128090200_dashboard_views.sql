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
  -- Place in its repository's line of queued jobs (null once it holds a slot).
  case when j.state = 'queued'
    then row_number() over (partition by j.repository_id, (j.state = 'queued') order by j.next_check_at, j.id)
  end as queue_position
from public.bisect_jobs j
where j.state in ('queued', 'dispatching', 'dispatched', 'running')
order by j.next_check_at, j.id;

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
  round(avg(j.tested) filter (where j.tested is not null), 1) as tests_per_bisect
from public.bisect_jobs j
group by j.repository;

revoke all on table public.bisect_queue, public.bisect_repository_stats from public, anon, authenticated;
grant select on table public.bisect_queue, public.bisect_repository_stats to service_role;
