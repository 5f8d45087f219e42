/**
 * Section – following runs to their end
 * - `dispatched_at`: when the current attempt's run was dispatched (its time limit counts from here);
 * - `noted_run_id` / `noted_conclusion`: what a workflow_run webhook said about a run, so the worker
 *   that reads the result need not ask GitHub again — even when the webhook came before the
 *   dispatch was recorded;
 * - `resume_from_attempt`: probes of attempts from this one on are the verdicts a new attempt
 *   resumes with (a retry of a finished job starts afresh).
 * Security invoker with an empty search_path, as the lifecycle functions.
 */
alter table public.bisect_jobs
  add column dispatched_at timestamptz,
  add column noted_run_id bigint,
  add column noted_conclusion text,
  add column resume_from_attempt integer not null default 1;

/**
 * Section – record dispatch (replaces the lifecycle version): also when, and due at once if a
 * webhook already said this run completed.
 */
create or replace function public.bisect_record_dispatch(
  p_job_id bigint,
  p_token bigint,
  p_run_id bigint,
  p_run_url text,
  p_check_after_seconds integer
) returns boolean
language plpgsql security invoker set search_path = ''
as $$
declare
  v_job public.bisect_jobs;
begin
  update public.bisect_jobs set
    state = 'dispatched',
    run_id = p_run_id,
    run_url = p_run_url,
    dispatched_at = now(),
    next_check_at = case when noted_run_id = p_run_id and noted_conclusion is not null then now()
                         else now() + make_interval(secs => p_check_after_seconds) end,
    locked_by = null,
    lease_expires_at = null,
    updated_at = now()
  where id = p_job_id and lease_token = p_token and lease_expires_at > now() and state = 'dispatching'
  returning * into v_job;
  if v_job.id is null then
    return false;
  end if;
  insert into public.bisect_attempts (job_id, attempt, worker, lease_token, run_id, run_url)
  values (v_job.id, v_job.attempts, coalesce((select worker from public.bisect_claim_audit where lease_token = p_token), 'unknown'), p_token, p_run_id, p_run_url)
  on conflict (job_id, attempt) do update set run_id = excluded.run_id, run_url = excluded.run_url, lease_token = excluded.lease_token;
  return true;
end;
$$;

/**
 * Section – a run event (workflow_run / workflow_job webhook). The job is found by its run id, or
 * by the job id in the run's name while its dispatch is not recorded yet. In progress moves a
 * dispatched job to running (never backwards); completed notes the conclusion and makes the job
 * due at once, so a worker reads the result. Late, repeated or reordered events change nothing
 * more. Returns the number of jobs it concerned (0 for other workflows' runs).
 */
create function public.bisect_note_run_event(p_run_id bigint, p_job_id bigint, p_status text, p_conclusion text)
returns integer
language plpgsql security invoker set search_path = ''
as $$
declare
  v_count integer;
begin
  update public.bisect_jobs j set
    state = case when j.state = 'dispatched' and j.run_id = p_run_id and p_status in ('in_progress', 'completed') then 'running' else j.state end,
    noted_run_id = case when p_status = 'completed' then p_run_id else j.noted_run_id end,
    noted_conclusion = case when p_status = 'completed' then p_conclusion else j.noted_conclusion end,
    next_check_at = case when p_status = 'completed' and j.run_id = p_run_id and j.locked_by is null then now() else j.next_check_at end,
    updated_at = now()
  where j.state in ('dispatching', 'dispatched', 'running')
    and (j.run_id = p_run_id or (j.run_id is null and j.id = p_job_id));
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

/**
 * Section – retry a job that ended (`/bisect retry`): a new attempt, with MAX_ATTEMPTS more
 * dispatches. A job that failed, timed out or was cancelled resumes with the verdicts it has; a
 * job that succeeded starts afresh (its verdicts are not trusted again).
 */
create function public.bisect_retry_job(p_job_id bigint, p_extra_attempts integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with retried as (
    update public.bisect_jobs set
      resume_from_attempt = case when state = 'succeeded' then attempts + 1 else resume_from_attempt end,
      state = 'queued',
      max_attempts = attempts + p_extra_attempts,
      next_check_at = now(),
      run_id = null,
      run_url = null,
      dispatched_at = null,
      noted_run_id = null,
      noted_conclusion = null,
      verdict = null,
      culprit_sha = null,
      confidence = null,
      tested = null,
      rounds = null,
      error = null,
      finished_at = null,
      updated_at = now()
    where id = p_job_id and state in ('succeeded', 'failed', 'cancelled', 'timed_out')
    returning 1
  )
  select exists (select 1 from retried);
$$;

revoke execute on function
  public.bisect_record_dispatch(bigint, bigint, bigint, text, integer),
  public.bisect_note_run_event(bigint, bigint, text, text),
  public.bisect_retry_job(bigint, integer)
from public, anon, authenticated;
grant execute on function
  public.bisect_record_dispatch(bigint, bigint, bigint, text, integer),
  public.bisect_note_run_event(bigint, bigint, text, text),
  public.bisect_retry_job(bigint, integer)
to service_role;
