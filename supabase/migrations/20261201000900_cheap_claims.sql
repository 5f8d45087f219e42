/**
 * Claims that stay cheap however much work is in flight. A claim walked every active job (and
 * every pending task) on each pass, because "due" was one condition with an OR in it: not leased
 * and its time has come, or leased by a worker whose lease expired. Jobs wait for their runs for
 * hours, so a busy installation keeps thousands of them active, and each claim (every poll of
 * every instance) read them all. Now each half of the condition has an index, and a claim reads
 * what is due and what was abandoned, nothing else. What a claim does with them is unchanged.
 */

-- Leases that may have expired: only leased rows, by when their lease ends.
create index bisect_jobs_lease_expiry_idx on public.bisect_jobs (lease_expires_at)
  where locked_by is not null and state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_tasks_lease_expiry_idx on public.bisect_tasks (lease_expires_at)
  where locked_by is not null and state = 'pending';
-- Due and not leased: the due indexes of the first migration, narrowed to rows no one holds.
create index bisect_jobs_unleased_due_idx on public.bisect_jobs (next_check_at, id)
  where locked_by is null and state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_tasks_unleased_due_idx on public.bisect_tasks (run_at, id)
  where locked_by is null and state = 'pending';

/**
 * Section – claim jobs: as in the job lifecycle migration, reading only due and abandoned jobs.
 */
create or replace function public.bisect_claim_jobs(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer,
  p_max_active integer
) returns setof public.bisect_jobs language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs;
  v_count integer := 0;
begin
  for v_job in
    select j.* from public.bisect_jobs j
    where j.id in (
        select d.id from public.bisect_jobs d
        where d.state in ('queued', 'dispatching', 'dispatched', 'running') and d.locked_by is null and d.next_check_at <= now()
        union all
        select e.id from public.bisect_jobs e
        where e.state in ('queued', 'dispatching', 'dispatched', 'running') and e.locked_by is not null and e.lease_expires_at < now())
      -- Checked again on the row itself: a row another claim leased after the lists above were
      -- read is re-read once locked, and left out when it no longer qualifies.
      and j.state in ('queued', 'dispatching', 'dispatched', 'running')
      and ((j.locked_by is null and j.next_check_at <= now()) or j.lease_expires_at < now())
    order by j.next_check_at, j.id
    for update of j skip locked
  loop
    exit when v_count >= p_limit;
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

/**
 * Section – claim tasks: as in the task queue migration, reading only due and abandoned tasks.
 */
create or replace function public.bisect_claim_tasks(p_worker text, p_limit integer, p_lease_seconds integer)
returns setof public.bisect_tasks language plpgsql security invoker set search_path = '' as $$
declare
  v_task public.bisect_tasks;
  v_job public.bisect_jobs;
  v_token bigint;
  v_claimed public.bisect_tasks;
  v_count integer := 0;
begin
  for v_task in
    select t.* from public.bisect_tasks t
    where t.id in (
        select d.id from public.bisect_tasks d where d.state = 'pending' and d.locked_by is null and d.run_at <= now()
        union all
        select e.id from public.bisect_tasks e where e.state = 'pending' and e.locked_by is not null and e.lease_expires_at < now())
      and t.state = 'pending' and ((t.locked_by is null and t.run_at <= now()) or t.lease_expires_at < now())
    order by t.run_at, t.id
    for update of t skip locked
  loop
    exit when v_count >= p_limit;
    if v_task.attempts >= v_task.max_attempts then
      update public.bisect_tasks set state = 'failed', error = coalesce(error || ' ', '') || '(its worker stopped answering on the last try)',
        finished_at = now(), locked_by = null, lease_expires_at = null
      where id = v_task.id;
      continue;
    end if;
    v_token := nextval('public.bisect_lease_token_seq');
    if v_task.job_id is not null then
      select j.* into v_job from public.bisect_jobs j where j.id = v_task.job_id for update skip locked;
      -- Being claimed by someone else this very moment: next time.
      continue when v_job.id is null;
      if v_job.state <> 'queued' or v_job.status_comment_id is not null then
        update public.bisect_tasks set state = 'done', outcome = 'not needed: job ' || v_job.state, finished_at = now(), locked_by = null, lease_expires_at = null
        where id = v_task.id;
        continue;
      end if;
      continue when v_job.lease_expires_at >= now();
      perform public.bisect_lease_job(v_job.id, p_worker, v_token, p_lease_seconds, false, v_task.kind);
    end if;
    update public.bisect_tasks t set
      attempts = t.attempts + 1, locked_by = p_worker, lease_token = v_token, lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where t.id = v_task.id
    returning t.* into v_claimed;
    v_count := v_count + 1;
    return next v_claimed;
  end loop;
end $$;
