/**
 * Section – job lifecycle functions
 * Every change of state is one of these functions, so the PGlite, PostgreSQL and Supabase stores
 * are thin translations and behave the same. Functions that act for a worker take its fencing
 * token: once a lease has expired (and another worker may hold the job) they change nothing.
 *
 *   queued ─► dispatching ─► dispatched(run) ─► running ─► succeeded | failed | cancelled | timed_out
 *                ▲                                 │
 *                └── fail_attempt while attempts < max_attempts (backoff with jitter)
 *
 * All functions are security invoker with an empty search_path: they run with the caller's
 * rights (the owner, or service_role) and name every object by schema.
 */

/** Section – create: idempotent on the delivery id and on (repository, comment). */
create function public.bisect_create_job(
  p_delivery_id text,
  p_repository text,
  p_repository_id bigint,
  p_installation_id bigint,
  p_issue_number integer,
  p_comment_id bigint,
  p_requester text,
  p_good_refs text[],
  p_bad_ref text,
  p_good_shas text[],
  p_bad_sha text,
  p_command text,
  p_options jsonb,
  p_max_attempts integer
) returns table (job_id bigint, created boolean)
language plpgsql security invoker set search_path = ''
as $$
declare
  v_id bigint;
begin
  insert into public.bisect_jobs (
    delivery_id, repository, repository_id, installation_id, issue_number, comment_id, requester,
    good_refs, bad_ref, good_shas, bad_sha, command, options, max_attempts
  ) values (
    p_delivery_id, p_repository, p_repository_id, p_installation_id, p_issue_number, p_comment_id, p_requester,
    p_good_refs, p_bad_ref, p_good_shas, p_bad_sha, p_command, coalesce(p_options, '{}'::jsonb), p_max_attempts
  )
  on conflict do nothing
  returning id into v_id;

  if v_id is not null then
    return query select v_id, true;
    return;
  end if;
  -- A redelivery, or the same comment under a new delivery id: the job that exists.
  return query
    select j.id, false from public.bisect_jobs j
    where j.delivery_id = p_delivery_id or (j.repository_id = p_repository_id and j.comment_id = p_comment_id)
    order by j.id limit 1;
end;
$$;

/**
 * Section – claim
 * Walks the due jobs in order (FOR UPDATE SKIP LOCKED) and leases up to p_limit of them to the
 * worker, each with a fresh fencing token. Due means: not leased and its time has come (queued
 * jobs also need fewer than p_max_active jobs of their repository dispatching, dispatched or
 * running; the rest wait in order), or leased by a worker whose lease has expired (it died).
 * Claiming a queued job starts an attempt.
 */
create function public.bisect_claim_jobs(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer,
  p_max_active integer
) returns setof public.bisect_jobs
language plpgsql security invoker set search_path = ''
as $$
declare
  v_job public.bisect_jobs;
  v_claimed public.bisect_jobs;
  v_active bigint;
  v_count integer := 0;
begin
  -- Each claim walks the due-jobs index from the front and stops at p_limit. Claims run side by
  -- side; only two claims placing queued jobs of the same repository take turns (below).
  for v_job in
    select j.* from public.bisect_jobs j
    where j.state in ('queued', 'dispatching', 'dispatched', 'running')
      and ((j.locked_by is null and j.next_check_at <= now()) or j.lease_expires_at < now())
    order by j.next_check_at, j.id
    for update skip locked
  loop
    exit when v_count >= p_limit;
    if v_job.state = 'queued' then
      -- Two claims side by side could each see a free slot in this repository and together
      -- overfill it: a transaction lock per repository (released at commit) makes them take
      -- turns. A claim that finds it taken leaves this job for the next claim.
      continue when not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('bisect_claim:' || v_job.repository_id::text, 0));
      -- A repository's slots are full: this job waits, in order, for one to free up.
      select count(*) into v_active from public.bisect_jobs a
      where a.repository_id = v_job.repository_id and a.state in ('dispatching', 'dispatched', 'running');
      continue when v_active >= p_max_active;
    end if;
    update public.bisect_jobs j set
      state = case when v_job.state = 'queued' then 'dispatching' else j.state end,
      attempts = case when v_job.state = 'queued' then j.attempts + 1 else j.attempts end,
      started_at = coalesce(j.started_at, now()),
      locked_by = p_worker,
      lease_token = nextval('public.bisect_lease_token_seq'),
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      updated_at = now()
    where j.id = v_job.id
    returning j.* into v_claimed;
    insert into public.bisect_claim_audit (job_id, lease_token, attempt, worker, from_state)
    values (v_claimed.id, v_claimed.lease_token, v_claimed.attempts, p_worker, v_job.state);
    v_count := v_count + 1;
    return next v_claimed;
  end loop;
end;
$$;

/** Section – lease: extend while working, release on graceful shutdown (not an attempt). */
create function public.bisect_extend_lease(p_job_id bigint, p_token bigint, p_lease_seconds integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with extended as (
    update public.bisect_jobs set lease_expires_at = now() + make_interval(secs => p_lease_seconds), updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now()
    returning 1
  )
  select exists (select 1 from extended);
$$;

create function public.bisect_release_job(p_job_id bigint, p_token bigint)
returns boolean
language sql security invoker set search_path = ''
as $$
  with released as (
    update public.bisect_jobs set
      -- A job released before its run was dispatched goes back to the queue uncounted.
      state = case when state = 'dispatching' and run_id is null then 'queued' else state end,
      attempts = case when state = 'dispatching' and run_id is null then attempts - 1 else attempts end,
      next_check_at = now(),
      locked_by = null,
      lease_expires_at = null,
      updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now()
    returning 1
  )
  select exists (select 1 from released);
$$;

/** Section – dispatch: the run exists; the lease ends until the run needs a look. */
create function public.bisect_record_dispatch(
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
    next_check_at = now() + make_interval(secs => p_check_after_seconds),
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

/** Section – check later: the run is still going; look again after p_seconds. */
create function public.bisect_check_later(p_job_id bigint, p_token bigint, p_seconds integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with deferred as (
    update public.bisect_jobs set
      next_check_at = now() + make_interval(secs => p_seconds), locked_by = null, lease_expires_at = null, updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now()
    returning 1
  )
  select exists (select 1 from deferred);
$$;

/** Section – time out: the run outlived its budget and was cancelled. */
create function public.bisect_time_out_job(p_job_id bigint, p_token bigint, p_reason text, p_tested integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with timed_out as (
    update public.bisect_jobs set
      state = 'timed_out', error = p_reason, tested = p_tested, finished_at = now(), locked_by = null, lease_expires_at = null, updated_at = now()
    where id = p_job_id and lease_token = p_token and lease_expires_at > now() and state in ('dispatching', 'dispatched', 'running')
    returning id, attempts
  ),
  attempt as (
    update public.bisect_attempts a set outcome = 'timed_out', reason = p_reason, finished_at = now()
    from timed_out t
    where a.job_id = t.id and a.attempt = t.attempts and a.outcome = 'running'
  )
  select exists (select 1 from timed_out);
$$;

/** Section – progress: a run started (workflow_job webhook). Never moves a job backwards. */
create function public.bisect_record_running(p_run_id bigint)
returns boolean
language sql security invoker set search_path = ''
as $$
  with moved as (
    update public.bisect_jobs set state = 'running', updated_at = now()
    where run_id = p_run_id and state = 'dispatched'
    returning 1
  )
  select exists (select 1 from moved);
$$;

/**
 * Section – probes: the verdicts a run reported, as the result document's probes array
 * (sha, verdict, exitCode, durationMs, round), stored under the attempt that ran them.
 */
create function public.bisect_add_probes(p_job_id bigint, p_attempt integer, p_probes jsonb)
returns void
language sql security invoker set search_path = ''
as $$
  insert into public.bisect_probes (job_id, attempt, sha, verdict, exit_code, duration_ms, round)
  select p_job_id, p_attempt, p.sha, p.verdict, p."exitCode", p."durationMs", p.round
  from jsonb_to_recordset(coalesce(p_probes, '[]'::jsonb)) as p(sha text, verdict text, "exitCode" integer, "durationMs" integer, round integer);
$$;

/** Section – result: the run reported a verdict (a culprit is a success, not a failure). */
create function public.bisect_record_result(
  p_job_id bigint,
  p_token bigint,
  p_verdict text,
  p_culprit_sha text,
  p_confidence double precision,
  p_tested integer,
  p_rounds integer,
  p_error text,
  p_probes jsonb
) returns boolean
language plpgsql security invoker set search_path = ''
as $$
declare
  v_job public.bisect_jobs;
begin
  update public.bisect_jobs set
    state = case when p_verdict = 'error' then 'failed' else 'succeeded' end,
    verdict = p_verdict,
    culprit_sha = p_culprit_sha,
    confidence = p_confidence,
    tested = p_tested,
    rounds = p_rounds,
    error = p_error,
    finished_at = now(),
    locked_by = null,
    lease_expires_at = null,
    updated_at = now()
  where id = p_job_id and lease_token = p_token and lease_expires_at > now()
    and state in ('dispatching', 'dispatched', 'running')
  returning * into v_job;
  if v_job.id is null then
    return false;
  end if;
  perform public.bisect_add_probes(v_job.id, v_job.attempts, p_probes);
  update public.bisect_attempts set
    outcome = case when p_verdict = 'error' then 'failed' else 'succeeded' end,
    reason = p_error,
    finished_at = now()
  where job_id = v_job.id and attempt = v_job.attempts;
  return true;
end;
$$;

/**
 * Section – fail an attempt: an infrastructure failure. While attempts remain the job is queued
 * again after base · 2^(attempt-1) seconds, ±20% jitter; then it fails with the reason.
 * Probes already reported are kept, so the next attempt resumes.
 */
create function public.bisect_fail_attempt(
  p_job_id bigint,
  p_token bigint,
  p_reason text,
  p_base_delay_seconds double precision,
  p_probes jsonb
) returns text
language plpgsql security invoker set search_path = ''
as $$
declare
  v_job public.bisect_jobs;
begin
  update public.bisect_jobs j set
    state = case when j.attempts < j.max_attempts then 'queued' else 'failed' end,
    next_check_at = case when j.attempts < j.max_attempts
      then now() + make_interval(secs => p_base_delay_seconds * power(2, j.attempts - 1) * (0.8 + random() * 0.4))
      else j.next_check_at end,
    error = case when j.attempts < j.max_attempts then j.error else p_reason end,
    finished_at = case when j.attempts < j.max_attempts then null else now() end,
    run_id = null,
    run_url = null,
    locked_by = null,
    lease_expires_at = null,
    updated_at = now()
  where j.id = p_job_id and j.lease_token = p_token and j.lease_expires_at > now()
    and j.state in ('dispatching', 'dispatched', 'running')
  returning * into v_job;
  if v_job.id is null then
    return null;
  end if;
  perform public.bisect_add_probes(v_job.id, v_job.attempts, p_probes);
  insert into public.bisect_attempts (job_id, attempt, worker, lease_token, outcome, reason, finished_at)
  values (v_job.id, v_job.attempts, coalesce((select worker from public.bisect_claim_audit where lease_token = p_token), 'unknown'), p_token, 'failed', p_reason, now())
  on conflict (job_id, attempt) do update set outcome = 'failed', reason = excluded.reason, finished_at = excluded.finished_at;
  return v_job.state;
end;
$$;

/** Section – cancel (a user's /bisect cancel): returns the run to cancel, if any. */
create function public.bisect_cancel_job(p_job_id bigint, p_reason text)
returns table (cancelled boolean, run_id bigint)
language sql security invoker set search_path = ''
as $$
  with before as (
    select j.id, j.run_id from public.bisect_jobs j where j.id = p_job_id for update
  ),
  cancelled as (
    update public.bisect_jobs j set
      state = 'cancelled', error = p_reason, finished_at = now(), locked_by = null, lease_expires_at = null, updated_at = now()
    from before b
    where j.id = b.id and j.state in ('queued', 'dispatching', 'dispatched', 'running')
    returning j.id, j.attempts, b.run_id
  ),
  attempt as (
    update public.bisect_attempts a set outcome = 'cancelled', reason = p_reason, finished_at = now()
    from cancelled c
    where a.job_id = c.id and a.attempt = c.attempts and a.outcome = 'running'
  )
  select exists (select 1 from cancelled), (select c.run_id from cancelled c);
$$;

/** Section – recovery: leases of dead workers end, so any instance can take their jobs. */
create function public.bisect_recover_expired_leases()
returns integer
language sql security invoker set search_path = ''
as $$
  with recovered as (
    update public.bisect_jobs set locked_by = null, lease_expires_at = null, next_check_at = least(next_check_at, now()), updated_at = now()
    where lease_expires_at < now() and state in ('dispatching', 'dispatched', 'running')
    returning 1
  )
  select count(*)::integer from recovered;
$$;

/** Section – per-repository load: jobs holding a slot and jobs waiting for one. */
create function public.bisect_active_counts()
returns table (repository_id bigint, repository text, active bigint, queued bigint)
language sql security invoker set search_path = ''
as $$
  select j.repository_id, min(j.repository),
    count(*) filter (where j.state in ('dispatching', 'dispatched', 'running')),
    count(*) filter (where j.state = 'queued')
  from public.bisect_jobs j
  where j.state in ('queued', 'dispatching', 'dispatched', 'running')
  group by j.repository_id;
$$;

/**
 * Section – privileges
 * Functions are executable by the owner and service_role only.
 */
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
