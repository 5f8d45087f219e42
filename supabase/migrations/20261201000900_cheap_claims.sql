/**
 * Claims of jobs that stay cheap however many jobs are running. A claim walked the due index with
 * one condition that had an OR in it (not leased and due, or leased with an expired lease), so
 * when fewer than its limit were claimable (most passes) it read every active job: jobs wait
 * hours for their runs, and a busy installation keeps thousands active, read on every pass of
 * every instance. Now each half of the condition has its own index; a claim reads the jobs that
 * are due and free and those whose lease expired, nothing else. What it does with each is
 * unchanged. (Tasks are not waiting long: their queue is read as before.)
 */

create index bisect_jobs_free_due_idx on public.bisect_jobs (next_check_at, id)
  where locked_by is null and state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_jobs_lease_expiry_idx on public.bisect_jobs (lease_expires_at)
  where locked_by is not null and state in ('queued', 'dispatching', 'dispatched', 'running');

/**
 * Section – claim jobs: as in the job lifecycle migration.
 */
create or replace function public.bisect_claim_jobs(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer,
  p_max_active integer
) returns setof public.bisect_jobs language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs;
  v_id bigint;
  v_count integer := 0;
begin
  -- In queue order: the due free jobs and the abandoned ones, each read through its own index.
  -- Each row is then locked, and checked again, on its own (another claim may have taken it).
  for v_id in
    select d.id from (
      select f.id, f.next_check_at from public.bisect_jobs f
      where f.state in ('queued', 'dispatching', 'dispatched', 'running') and f.locked_by is null and f.next_check_at <= now()
      union all
      select e.id, e.next_check_at from public.bisect_jobs e
      where e.state in ('queued', 'dispatching', 'dispatched', 'running') and e.locked_by is not null and e.lease_expires_at < now()
    ) d
    order by d.next_check_at, d.id
  loop
    exit when v_count >= p_limit;
    select j.* into v_job from public.bisect_jobs j
    where j.id = v_id and j.state in ('queued', 'dispatching', 'dispatched', 'running')
      and ((j.locked_by is null and j.next_check_at <= now()) or j.lease_expires_at < now())
    for update skip locked;
    continue when not found;
    if v_job.state = 'queued' then
      -- Two claims side by side could each see a free slot in this repository and together
      -- overfill it: a transaction lock per repository (released at commit) makes them take
      -- turns. A claim that finds it taken leaves this job for the next claim.
      continue when not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('bisect_claim:' || v_job.repository_id::text, 0));
      if (select count(*) from public.bisect_jobs a
          where a.repository_id = v_job.repository_id and a.state in ('dispatching', 'dispatched', 'running')) >= p_max_active then
        insert into public.bisect_tasks (kind, delivery_id, repository, repository_id, installation_id, issue_number, comment_id, job_id)
        select 'announce', v_job.delivery_id, v_job.repository, v_job.repository_id, v_job.installation_id, v_job.issue_number, v_job.comment_id, v_job.id
        where v_job.status_comment_id is null and not exists (
          select 1 from public.bisect_tasks t where t.kind = 'announce' and t.repository_id = v_job.repository_id and t.comment_id = v_job.comment_id)
        on conflict do nothing;
        continue;
      end if;
    end if;
    -- Taking over from a worker whose lease expired while it acted on the job: that look came to
    -- nothing. Counted, so a job that kills its worker every time still ends (see failed_checks).
    if v_job.state <> 'queued' and v_job.lease_expires_at < now() then
      update public.bisect_jobs set failed_checks = failed_checks + 1 where id = v_job.id;
    end if;
    return next public.bisect_lease_job(v_job.id, p_worker, nextval('public.bisect_lease_token_seq'), p_lease_seconds, v_job.state = 'queued', v_job.state);
    v_count := v_count + 1;
  end loop;
end $$;
