/**
 * Bisect Bot's schema, part 2 of 4: the job lifecycle. Every change of a job's state is one of
 * these functions, so the PGlite, PostgreSQL and PostgREST transports are thin and behave alike.
 *
 *   queued ─► dispatching ─► dispatched(run) ─► running ─► succeeded | failed | cancelled | timed_out
 *                ▲                                 │
 *                └── bisect_fail_attempt while attempts < max_attempts (backoff with jitter)
 *
 * Functions that act for a worker take its fencing token: once its lease has expired (and
 * another worker may hold the job) they change nothing and answer false (or null).
 * All are security invoker with an empty search_path: they run with the caller's rights (the
 * owner, or service_role) and name every object by schema.
 */

/**
 * Section – backoff (jobs and tasks): base · 2^(attempt−1) seconds, ±20 % jitter so failures
 * that happened together do not retry together, at most an hour, and never sooner than GitHub
 * asked (`p_at_least`, from retry-after).
 */
create function public.bisect_backoff(p_base_seconds double precision, p_attempt integer, p_at_least double precision)
returns timestamptz language sql volatile security invoker set search_path = '' as $$
  select now() + make_interval(secs => greatest(
    least(3600, p_base_seconds * power(2, greatest(p_attempt, 1) - 1)) * (0.8 + random() * 0.4),
    coalesce(p_at_least, 0)));
$$;

/**
 * Section – create: idempotent on the delivery id and on (repository, comment). A job from
 * `/bisect <run URL>` keeps its red run and the verdicts CI runs gave (an automatic one is made by
 * bisect_create_auto_job, 20261201001000_automatic_bisects.sql).
 */
create function public.bisect_create_job(
  -- The comment that asks for it: its delivery, repository, installation, thread and id.
  p_delivery_id text, p_repository text, p_repository_id bigint, p_installation_id bigint, p_issue_number integer, p_comment_id bigint,
  p_requester text,
  p_good_refs text[],
  p_bad_ref text,
  p_good_shas text[],
  p_bad_sha text,
  p_command text,
  p_options jsonb,
  p_max_attempts integer,
  p_red_run jsonb default null,
  p_free_verdicts jsonb default '[]'::jsonb
) returns table (job_id bigint, created boolean) language plpgsql security invoker set search_path = '' as $$
declare
  v_id bigint;
begin
  insert into public.bisect_jobs (
    delivery_id, repository, repository_id, installation_id, issue_number, comment_id, requester,
    good_refs, bad_ref, good_shas, bad_sha, command, options, max_attempts, red_run, free_verdicts
  ) values (
    p_delivery_id, p_repository, p_repository_id, p_installation_id, p_issue_number, p_comment_id, p_requester,
    p_good_refs, p_bad_ref, p_good_shas, p_bad_sha, p_command, coalesce(p_options, '{}'::jsonb), p_max_attempts,
    p_red_run, coalesce(p_free_verdicts, '[]'::jsonb)
  )
  on conflict do nothing
  returning id into v_id;
  -- A redelivery, or the same comment under a new delivery id: the job that exists.
  return query
    select j.id, v_id is not null from public.bisect_jobs j
    where j.id = v_id or j.delivery_id = p_delivery_id or (j.repository_id = p_repository_id and j.comment_id = p_comment_id)
    order by j.id limit 1;
end $$;

/**
 * Section – the job a token holds: the row, locked, while the lease lasts (null otherwise).
 * Every function that acts for a worker starts here.
 */
create function public.bisect_held_job(p_job_id bigint, p_token bigint)
returns public.bisect_jobs language sql security invoker set search_path = '' as $$
  select j.* from public.bisect_jobs j
  where j.id = p_job_id and j.lease_token = p_token and j.lease_expires_at > now()
  for update;
$$;

/**
 * Section – lease a job: to `p_worker` under the fencing token `p_token`, for `p_lease_seconds`,
 * recorded in the claim audit (`p_claimed_as`: the job's state, or the kind of task that holds
 * it). `p_start`: the claim starts an attempt (a queued job becomes dispatching).
 */
create function public.bisect_lease_job(p_job_id bigint, p_worker text, p_token bigint, p_lease_seconds integer, p_start boolean, p_claimed_as text)
returns public.bisect_jobs language plpgsql security invoker set search_path = '' as $$
declare
  v_leased public.bisect_jobs;
begin
  update public.bisect_jobs j set
    state = case when p_start then 'dispatching' else j.state end,
    attempts = case when p_start then j.attempts + 1 else j.attempts end,
    started_at = case when p_start then coalesce(j.started_at, now()) else j.started_at end,
    locked_by = p_worker,
    lease_token = p_token,
    lease_expires_at = now() + make_interval(secs => p_lease_seconds),
    updated_at = now()
  where j.id = p_job_id
  returning j.* into v_leased;
  insert into public.bisect_claim_audit (job_id, lease_token, attempt, worker, from_state)
  values (p_job_id, p_token, v_leased.attempts, p_worker, p_claimed_as);
  return v_leased;
end $$;

/**
 * Section – claim
 * Walks the due jobs in order (FOR UPDATE SKIP LOCKED) and leases up to p_limit of them to the
 * worker, each with a fresh fencing token. Due means: not leased and its time has come, or
 * leased by a worker whose lease has expired (it died). A job in flight taken over from a dead worker counts a failed check. A queued job also needs a free slot:
 * fewer than p_max_active jobs of its repository dispatching, dispatched or running. One that
 * must wait keeps its place, and gets an announce task (once) so the thread learns its place
 * in the queue (an automatic bisect has no thread before its answer: none). Claiming a queued job starts an attempt.
 */
create function public.bisect_claim_jobs(
  p_worker text,
  p_limit integer,
  p_lease_seconds integer,
  p_max_active integer
) returns setof public.bisect_jobs language plpgsql security invoker set search_path = '' as $$
declare
  v_next record;
  v_job public.bisect_jobs;
  v_count integer := 0;
begin
  -- In queue order: the due free jobs and the abandoned ones, each half read through its own
  -- index (one condition with an OR read every active job, and jobs wait hours for their runs).
  for v_next in
    select d.id, d.repository_id, d.state from (
      select f.id, f.repository_id, f.state, f.next_check_at from public.bisect_jobs f
      where f.state in ('queued', 'dispatching', 'dispatched', 'running') and f.locked_by is null and f.next_check_at <= now()
      union all
      select e.id, e.repository_id, e.state, e.next_check_at from public.bisect_jobs e
      where e.state in ('queued', 'dispatching', 'dispatched', 'running') and e.locked_by is not null and e.lease_expires_at < now()
    ) d
    order by d.next_check_at, d.id
  loop
    exit when v_count >= p_limit;
    -- A queued job's repository first (see below): a claim that cannot have it locks no row of
    -- it, so the claim that has it can take every job it has room for.
    continue when v_next.state = 'queued'
      and not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('bisect_claim:' || v_next.repository_id::text, 0));
    -- Then the row, checked again on its own: another claim may have taken it meanwhile.
    select j.* into v_job from public.bisect_jobs j
    where j.id = v_next.id and j.state in ('queued', 'dispatching', 'dispatched', 'running')
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
        where v_job.status_comment_id is null and v_job.issue_number is not null and not exists (
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

/** Section – dispatch intent: from here on this attempt's run may exist, and a successor looks for it first. */
create function public.bisect_record_dispatch_intent(p_job_id bigint, p_token bigint)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set dispatch_intent_attempt = j.attempts, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h where j.id = h.id and h.state = 'dispatching';
  return found;
end $$;

/**
 * Section – defer a dispatch GitHub's rate limit held back: GitHub made no run, so this was no
 * attempt. The held job, dispatching with no run yet, goes back to the queue uncounted (its
 * attempt undone, its place kept) and is due again after p_seconds at least (what GitHub asked,
 * a minute when it named no time), longer on repeats: the backoff (base 60 s) counts the claims
 * of this attempt, and is cut at the job's time limit. p_error says why it waits (/job/:id shows it). The dispatch intent stays:
 * this dispatch made no run, but an earlier holder of the same attempt may have dispatched
 * before it died, and the attempt gets the same number when claimed again, so the next dispatch
 * still looks for that run first. Returns false without the lease.
 */
create function public.bisect_defer_job(p_job_id bigint, p_token bigint, p_seconds integer, p_error text)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set
    state = 'queued',
    attempts = j.attempts - 1,
    -- Never past the job's time limit, counted from its creation: the try due then fails the job
    -- when GitHub still asks to wait (the caller decides), so the job ends on time.
    next_check_at = least(
      public.bisect_backoff(60, (
        select count(*)::integer from public.bisect_claim_audit a where a.job_id = j.id and a.attempt = j.attempts and a.from_state = 'queued'
      ), p_seconds),
      greatest(now() + make_interval(secs => p_seconds), j.created_at + make_interval(secs => coalesce((j.options ->> 'timeoutSeconds')::integer, 1800)))
    ),
    error = p_error,
    locked_by = null, lease_expires_at = null, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h
  where j.id = h.id and h.state = 'dispatching' and h.run_id is null;
  return found;
end $$;

/** Section – status comment: the one comment a job's updates edit in place. */
create function public.bisect_set_status_comment(p_job_id bigint, p_token bigint, p_comment_id bigint)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set status_comment_id = p_comment_id, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h where j.id = h.id;
  return found;
end $$;

/**
 * Section – dispatch: the run exists; the lease ends until the run needs a look (at once if a
 * webhook already said this run completed). The status comment posted with the run's link is
 * remembered in the same call (`p_status_comment_id`; null keeps the one known). A fan-out
 * round's run counts one runner job per commit it tests (none on one runner: no round commits).
 */
create function public.bisect_record_dispatch(p_job_id bigint, p_token bigint, p_run_id bigint, p_run_url text, p_check_after_seconds integer, p_status_comment_id bigint)
returns boolean language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs;
begin
  update public.bisect_jobs j set
    state = 'dispatched',
    run_id = p_run_id,
    run_url = p_run_url,
    status_comment_id = coalesce(p_status_comment_id, j.status_comment_id),
    dispatched_at = now(),
    failed_checks = 0,
    runner_jobs = j.runner_jobs + cardinality(j.round_commits),
    next_check_at = case when j.noted_run_id = p_run_id and j.noted_conclusion is not null then now()
                         else now() + make_interval(secs => p_check_after_seconds) end,
    locked_by = null,
    lease_expires_at = null,
    updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h
  where j.id = h.id and h.state = 'dispatching'
  returning j.* into v_job;
  if v_job.id is null then
    return false;
  end if;
  insert into public.bisect_attempts (job_id, attempt, worker, lease_token, run_id, run_url)
  values (v_job.id, v_job.attempts, coalesce((select a.worker from public.bisect_claim_audit a where a.lease_token = p_token), 'unknown'), p_token, p_run_id, p_run_url)
  on conflict (job_id, attempt) do update set run_id = excluded.run_id, run_url = excluded.run_url, lease_token = excluded.lease_token;
  return true;
end $$;

/** Section – check later: the run is still going; look again after p_seconds. */
create function public.bisect_check_later(p_job_id bigint, p_token bigint, p_seconds integer)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set
    next_check_at = now() + make_interval(secs => p_seconds), failed_checks = 0, locked_by = null, lease_expires_at = null, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h where j.id = h.id;
  return found;
end $$;

/**
 * Section – a look that came to nothing: GitHub failed, or answered something unusable, while
 * the worker followed the run. The job is looked at again after the backoff (base 30 s, at least
 * what GitHub asked); the error is kept for /job/:id. Returns the failed looks in a row (the
 * worker ends the attempt after a few, and the job at its time limit whatever happens), or null
 * without the lease.
 */
create function public.bisect_check_failed(p_job_id bigint, p_token bigint, p_error text, p_retry_after_seconds integer)
returns integer language plpgsql security invoker set search_path = '' as $$
declare
  v_failed integer;
begin
  update public.bisect_jobs j set
    failed_checks = j.failed_checks + 1,
    error = p_error,
    next_check_at = public.bisect_backoff(30, j.failed_checks + 1, p_retry_after_seconds),
    locked_by = null, lease_expires_at = null, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h where j.id = h.id
  returning j.failed_checks into v_failed;
  return v_failed;
end $$;

/**
 * Section – a run event (workflow_run / workflow_job webhook) of a run in repository
 * p_repository_id. The job is found, in that repository only, by its run id, or by the job id in
 * the run's name while its dispatch is not recorded yet. Events are tracked per run attempt (a
 * re-run reuses the run id): an event about an older attempt than one already seen changes
 * nothing; a newer attempt starting forgets the older attempt's conclusion. In progress moves a
 * dispatched job to running (never backwards); completed notes the conclusion and makes the job
 * due at once, so a worker reads the result. Late, repeated or reordered events change nothing
 * more. Returns the number of jobs it concerned (0 for other workflows' runs).
 */
create function public.bisect_note_run_event(p_repository_id bigint, p_run_id bigint, p_run_attempt integer, p_job_id bigint, p_status text, p_conclusion text)
returns integer language sql security invoker set search_path = '' as $$
  with noted as (
    update public.bisect_jobs j set
      state = case when j.state = 'dispatched' and j.run_id = p_run_id and p_status in ('in_progress', 'completed') then 'running' else j.state end,
      noted_run_id = case when p_status = 'completed' or j.run_id = p_run_id then p_run_id else j.noted_run_id end,
      noted_run_attempt = case when p_status = 'completed' or j.run_id = p_run_id then p_run_attempt else j.noted_run_attempt end,
      noted_conclusion = case when p_status = 'completed' then p_conclusion
                              when j.run_id = p_run_id and (j.noted_run_id is distinct from p_run_id or j.noted_run_attempt is distinct from p_run_attempt) then null
                              else j.noted_conclusion end,
      next_check_at = case when p_status = 'completed' and j.run_id = p_run_id and j.locked_by is null then now() else j.next_check_at end,
      updated_at = now()
    where j.repository_id = p_repository_id
      and j.state in ('dispatching', 'dispatched', 'running')
      and (j.run_id = p_run_id or (j.run_id is null and j.id = p_job_id))
      and (j.noted_run_id is distinct from p_run_id or p_run_attempt >= coalesce(j.noted_run_attempt, 0))
    returning 1
  )
  select count(*)::integer from noted;
$$;

/**
 * Section – probes: the verdicts a run reported (the result document's probes), under the attempt
 * that ran them. On a fan-out job (round > 0) each probe was one runner job, and its runner
 * minutes are counted as GitHub bills them: whole minutes, at least one.
 */
create function public.bisect_add_probes(p_job_id bigint, p_attempt integer, p_probes jsonb)
returns void language sql security invoker set search_path = '' as $$
  with added as (
    insert into public.bisect_probes (job_id, attempt, sha, verdict, exit_code, duration_ms, round)
    select p_job_id, p_attempt, p.sha, p.verdict, p."exitCode", p."durationMs", p.round
    from jsonb_to_recordset(coalesce(p_probes, '[]'::jsonb)) as p(sha text, verdict text, "exitCode" integer, "durationMs" integer, round integer)
    returning duration_ms
  )
  update public.bisect_jobs j set runner_minutes = j.runner_minutes + (
    select coalesce(sum(greatest(1, ceil(a.duration_ms / 60000.0)::integer)), 0) from added a)
  where j.id = p_job_id and j.round > 0;
$$;

/**
 * Section – end an attempt: the job's last word for the attempt it is on. `p_outcome` is the
 * attempt's (succeeded, failed, cancelled, timed_out); the probes it reported are kept.
 */
create function public.bisect_end_attempt(p_job public.bisect_jobs, p_token bigint, p_outcome text, p_reason text, p_probes jsonb)
returns void language sql security invoker set search_path = '' as $$
  insert into public.bisect_attempts (job_id, attempt, worker, lease_token, outcome, reason, finished_at)
  values (p_job.id, p_job.attempts, coalesce((select a.worker from public.bisect_claim_audit a where a.lease_token = p_token), 'unknown'), coalesce(p_token, 0), p_outcome, p_reason, now())
  on conflict (job_id, attempt) do update set outcome = excluded.outcome, reason = excluded.reason, finished_at = excluded.finished_at;
  -- After the attempt: a probe belongs to the attempt that ran it.
  select public.bisect_add_probes(p_job.id, p_job.attempts, p_probes);
$$;

/**
 * Section – end the attempt a token holds: the held job, if it is dispatching, dispatched or
 * running, with its attempt's outcome and probes kept; null without the lease. A result, a
 * failure and a time-out each start here, then say what becomes of the job (and end the lease).
 */
create function public.bisect_end_held_attempt(p_job_id bigint, p_token bigint, p_outcome text, p_reason text, p_probes jsonb)
returns public.bisect_jobs language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs := public.bisect_held_job(p_job_id, p_token);
begin
  if v_job.state in ('dispatching', 'dispatched', 'running') then
    perform public.bisect_end_attempt(v_job, p_token, p_outcome, p_reason, p_probes);
    return v_job;
  end if;
  return null;
end $$;

/** Section – result: the run reported its answer (a culprit is a success, an error result a failure). */
create function public.bisect_record_result(
  p_job_id bigint,
  p_token bigint,
  p_verdict text,
  p_reason text,
  p_culprit_sha text,
  p_confidence double precision,
  p_tested integer,
  p_rounds integer,
  p_error text,
  p_probes jsonb
) returns boolean language plpgsql security invoker set search_path = '' as $$
declare
  v_state text := case when p_verdict = 'error' then 'failed' else 'succeeded' end;
  v_job public.bisect_jobs := public.bisect_end_held_attempt(p_job_id, p_token, v_state, p_error, p_probes);
begin
  update public.bisect_jobs set
    state = v_state, verdict = p_verdict, reason = p_reason, culprit_sha = p_culprit_sha, confidence = p_confidence,
    tested = p_tested, rounds = p_rounds, error = p_error,
    finished_at = now(), locked_by = null, lease_expires_at = null, updated_at = now()
  where id = v_job.id;
  return found;
end $$;

/**
 * Section – fail an attempt: an infrastructure failure. While attempts remain the job is queued
 * again after the backoff (base 30 s); then it fails with the reason. Probes already reported are
 * kept, so the next attempt resumes. Returns the job's new state, or null without the lease.
 */
create function public.bisect_fail_attempt(p_job_id bigint, p_token bigint, p_error text, p_retry_after_seconds integer, p_probes jsonb)
returns text language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs := public.bisect_end_held_attempt(p_job_id, p_token, 'failed', p_error, p_probes);
  v_retry boolean := v_job.attempts < v_job.max_attempts;
  v_state text;
begin
  update public.bisect_jobs set
    state = case when v_retry then 'queued' else 'failed' end,
    next_check_at = case when v_retry then public.bisect_backoff(30, attempts, p_retry_after_seconds) else next_check_at end,
    error = case when v_retry then error else p_error end,
    finished_at = case when v_retry then null else now() end,
    run_id = null, run_url = null, failed_checks = 0, locked_by = null, lease_expires_at = null, updated_at = now()
  where id = v_job.id
  returning state into v_state;
  return v_state;
end $$;

/** Section – time out: the run outlived its budget and was cancelled. */
create function public.bisect_time_out_job(p_job_id bigint, p_token bigint, p_error text, p_tested integer)
returns boolean language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs := public.bisect_end_held_attempt(p_job_id, p_token, 'timed_out', p_error, '[]'::jsonb);
begin
  update public.bisect_jobs set
    state = 'timed_out', error = p_error, tested = p_tested, finished_at = now(), locked_by = null, lease_expires_at = null, updated_at = now()
  where id = v_job.id;
  return found;
end $$;

/**
 * Section – cancel (a user's /bisect cancel): needs no lease, and fences out whoever holds the
 * job. Returns whether it was cancelled now, and the run to cancel, if any.
 */
create function public.bisect_cancel_job(p_job_id bigint, p_by text)
returns table (cancelled boolean, run_id bigint) language plpgsql security invoker set search_path = '' as $$
declare
  v_run_id bigint;
  v_job public.bisect_jobs;
begin
  select j.run_id into v_run_id from public.bisect_jobs j where j.id = p_job_id for update;
  update public.bisect_jobs j set
    state = 'cancelled', cancelled_by = p_by, error = 'cancelled by ' || p_by,
    finished_at = now(), locked_by = null, lease_expires_at = null, updated_at = now()
  where j.id = p_job_id and j.state in ('queued', 'dispatching', 'dispatched', 'running')
  returning j.* into v_job;
  if v_job.id is not null and v_job.attempts > 0 and exists (
    select 1 from public.bisect_attempts a where a.job_id = v_job.id and a.attempt = v_job.attempts and a.outcome = 'running') then
    perform public.bisect_end_attempt(v_job, null, 'cancelled', v_job.error, '[]'::jsonb);
  end if;
  return query select v_job.id is not null, case when v_job.id is not null then v_run_id end;
end $$;

/**
 * Section – retry a job that ended (`/bisect retry`): a new attempt, with p_extra_attempts more
 * runs. A job that failed, timed out or was cancelled resumes with the verdicts it has; a job
 * that succeeded starts afresh (its verdicts are not trusted again).
 */
create function public.bisect_retry_job(p_job_id bigint, p_extra_attempts integer)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set
    resume_from_attempt = case when j.state = 'succeeded' then j.attempts + 1 else j.resume_from_attempt end,
    state = 'queued',
    max_attempts = j.attempts + p_extra_attempts,
    next_check_at = now(),
    run_id = null,
    run_url = null,
    dispatched_at = null,
    noted_run_id = null,
    noted_conclusion = null,
    noted_run_attempt = null,
    -- The dispatch intent was the ended attempt's: the new attempt dispatches afresh and never
    -- adopts the run it replaces (a cancelled or finished one).
    dispatch_intent_attempt = null,
    failed_checks = 0,
    verdict = null,
    reason = null,
    culprit_sha = null,
    confidence = null,
    tested = null,
    rounds = null,
    error = null,
    cancelled_by = null,
    finished_at = null,
    updated_at = now()
  where j.id = p_job_id and j.state in ('succeeded', 'failed', 'cancelled', 'timed_out');
  return found;
end $$;

/**
 * Section – privileges
 * PostgreSQL lets PUBLIC execute every new function, and a default privilege per schema cannot
 * take that back (the first migration's only reach anon and authenticated): so each migration
 * that creates functions closes them itself. Only the owner and service_role call them.
 */
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
