/**
 * Section – the runs a job's attempts recorded
 * Before dispatching again, a worker looks for a run of this job that no attempt recorded (a
 * dispatch GitHub accepted although its answer was lost or an error); the runs listed here are
 * not that run. Security invoker with an empty search_path, as the other functions.
 */
create function public.bisect_attempt_runs(p_job_id bigint)
returns table (attempt integer, run_id bigint)
language sql stable security invoker set search_path = ''
as $$
  select a.attempt, a.run_id from public.bisect_attempts a
  where a.job_id = p_job_id and a.run_id is not null
  order by a.attempt;
$$;

revoke execute on function public.bisect_attempt_runs(bigint) from public, anon, authenticated;
grant execute on function public.bisect_attempt_runs(bigint) to service_role;
