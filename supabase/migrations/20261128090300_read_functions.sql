/**
 * Section – read functions
 * The stores read jobs and probes through these functions, not the tables: the Supabase adapter
 * reaches the database only through `.rpc()`, and the tables stay closed to every API role.
 * Security invoker with an empty search_path, as the lifecycle functions.
 */

/** Section – one job, as stored (no row when the id is unknown). */
create function public.bisect_get_job(p_job_id bigint)
returns setof public.bisect_jobs
language sql stable security invoker set search_path = ''
as $$
  select j.* from public.bisect_jobs j where j.id = p_job_id;
$$;

/** Section – the probes of a job, every attempt, in the order they were recorded. */
create function public.bisect_job_probes(p_job_id bigint)
returns table (attempt integer, sha text, verdict text, exit_code integer, duration_ms integer, round integer)
language sql stable security invoker set search_path = ''
as $$
  select p.attempt, p.sha, p.verdict, p.exit_code, p.duration_ms, p.round
  from public.bisect_probes p
  where p.job_id = p_job_id
  order by p.id;
$$;

/**
 * Section – privileges
 * Named one by one: the blanket revoke in the lifecycle migration does not reach functions
 * created after it, and Supabase's default privileges grant new functions to anon and
 * authenticated.
 */
revoke execute on function public.bisect_get_job(bigint), public.bisect_job_probes(bigint) from public, anon, authenticated;
grant execute on function public.bisect_get_job(bigint), public.bisect_job_probes(bigint) to service_role;
