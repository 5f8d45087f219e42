/**
 * Bisect Bot's schema, part 3 of 4: the task queue (commands, replies, announcements) and the
 * leases every claim takes, of jobs and of tasks alike.
 *
 *   pending ─claim─► (leased) ─finish─► done
 *      ▲                 │
 *      └── fail: retried after the backoff (base 5 s) while attempts < max_attempts;
 *          else, or when the error is permanent, failed — with an optional last reply
 *
 * Security invoker with an empty search_path, as the lifecycle functions.
 */

/**
 * Section – enqueue: idempotent, one task of a kind per comment whatever the redeliveries;
 * `created` is false when the task was there already.
 */
create function public.bisect_enqueue_task(
  p_kind text,
  -- The comment it answers: its delivery, repository, installation, thread and id.
  p_delivery_id text, p_repository text, p_repository_id bigint, p_installation_id bigint, p_issue_number integer, p_comment_id bigint,
  p_payload jsonb
) returns table (task_id bigint, created boolean) language plpgsql security invoker set search_path = '' as $$
declare
  v_id bigint;
begin
  insert into public.bisect_tasks (kind, delivery_id, repository, repository_id, installation_id, issue_number, comment_id, payload)
  values (p_kind, p_delivery_id, p_repository, p_repository_id, p_installation_id, p_issue_number, p_comment_id, coalesce(p_payload, '{}'::jsonb))
  on conflict do nothing
  returning id into v_id;
  return query
    select t.id, v_id is not null from public.bisect_tasks t
    where t.kind = p_kind and t.repository_id = p_repository_id and t.comment_id = p_comment_id;
end $$;

/**
 * Section – claim: due tasks, oldest first (FOR UPDATE SKIP LOCKED), each leased with a fresh
 * fencing token and counted as an attempt. Due means pending and its time has come, or leased
 * by a worker whose lease expired (it died: that try counts, so a task that kills its worker
 * cannot loop; one that dies on its last try is given up).
 * An announce task holds its job's lease too, with the same token, so no worker
 * dispatches the job while its place in the queue is being shown; it waits while someone else
 * holds the job, and is done at once when the job no longer waits (it started, ended, or already
 * has its status comment).
 */
create function public.bisect_claim_tasks(p_worker text, p_limit integer, p_lease_seconds integer)
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
    where t.state = 'pending' and ((t.locked_by is null and t.run_at <= now()) or t.lease_expires_at < now())
    order by t.run_at, t.id
    for update skip locked
  loop
    exit when v_count >= p_limit;
    if v_task.attempts >= v_task.max_attempts then
      update public.bisect_tasks set state = 'failed', error = coalesce(error || ' ', '') || '(its worker stopped answering on the last try)',
        finished_at = now(), locked_by = null, lease_expires_at = null
      where id = v_task.id;
      continue;
    end if;
    v_token := nextval('public.bisect_lease_token_seq');
    if v_task.kind = 'announce' then
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

/**
 * Section – leases of jobs and tasks, by fencing token (tokens are unique across both).
 * Extend: while working (GitHub calls can wait out a rate limit). Release: graceful shutdown;
 * not an attempt, so a job released before its run was dispatched goes back to the queue
 * uncounted and keeps its place, and a task is tried again at once.
 */
create function public.bisect_extend_lease(p_token bigint, p_lease_seconds integer)
returns boolean language sql security invoker set search_path = '' as $$
  with job as (
    update public.bisect_jobs set lease_expires_at = now() + make_interval(secs => p_lease_seconds), updated_at = now()
    where lease_token = p_token and lease_expires_at > now()
    returning id
  ), task as (
    update public.bisect_tasks set lease_expires_at = now() + make_interval(secs => p_lease_seconds)
    where lease_token = p_token and lease_expires_at > now()
    returning id
  )
  select exists (select from job) or exists (select from task);
$$;

create function public.bisect_release_lease(p_token bigint)
returns boolean language sql security invoker set search_path = '' as $$
  with job as (
    update public.bisect_jobs set
      state = case when state = 'dispatching' and run_id is null then 'queued' else state end,
      attempts = case when state = 'dispatching' and run_id is null then attempts - 1 else attempts end,
      next_check_at = least(next_check_at, now()),
      locked_by = null,
      lease_expires_at = null,
      updated_at = now()
    where lease_token = p_token and lease_expires_at > now()
    returning id
  ), task as (
    update public.bisect_tasks set attempts = attempts - 1, run_at = least(run_at, now()), locked_by = null, lease_expires_at = null
    where lease_token = p_token and lease_expires_at > now() and state = 'pending'
    returning id
  )
  select exists (select from job) or exists (select from task);
$$;

/** Section – finish: done; `p_outcome` says what came of it. A job the task held is given back. */
create function public.bisect_finish_task(p_task_id bigint, p_token bigint, p_outcome text)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_tasks set state = 'done', outcome = p_outcome, error = null, finished_at = now(), locked_by = null, lease_expires_at = null
  where id = p_task_id and lease_token = p_token and lease_expires_at > now() and state = 'pending';
  if not found then
    return false;
  end if;
  -- The task no longer holds its lease; what the token still holds is the job.
  perform public.bisect_release_lease(p_token);
  return true;
end $$;

/**
 * Section – fail: tried again after the backoff, or given up (`failed`) when the error is
 * permanent or this was the last attempt. A task given up may leave a last reply on its thread
 * (`p_give_up_reply`: a reply task's payload), in the same transaction. A job the task held is
 * given back. Returns the task's new state, or null without the lease.
 */
create function public.bisect_fail_task(
  p_task_id bigint,
  p_token bigint,
  p_error text,
  p_permanent boolean,
  p_retry_after_seconds integer,
  p_give_up_reply jsonb
) returns text language plpgsql security invoker set search_path = '' as $$
declare
  v_task public.bisect_tasks;
  v_give_up boolean;
begin
  update public.bisect_tasks t set
    state = case when p_permanent or t.attempts >= t.max_attempts then 'failed' else 'pending' end,
    run_at = case when p_permanent or t.attempts >= t.max_attempts then t.run_at else public.bisect_backoff(5, t.attempts, p_retry_after_seconds) end,
    finished_at = case when p_permanent or t.attempts >= t.max_attempts then now() end,
    error = p_error,
    locked_by = null,
    lease_expires_at = null
  where t.id = p_task_id and t.lease_token = p_token and t.lease_expires_at > now() and t.state = 'pending'
  returning t.* into v_task;
  if v_task.id is null then
    return null;
  end if;
  perform public.bisect_release_lease(p_token);
  v_give_up := v_task.state = 'failed' and p_give_up_reply is not null;
  insert into public.bisect_tasks (kind, delivery_id, repository, repository_id, installation_id, issue_number, comment_id, payload)
  select 'reply', v_task.delivery_id, v_task.repository, v_task.repository_id, v_task.installation_id, v_task.issue_number, v_task.comment_id, p_give_up_reply
  where v_give_up
  on conflict do nothing;
  return v_task.state;
end $$;

/**
 * Section – defer: the task cannot be done yet, and waiting is no failure (GitHub's webhooks
 * about the thread may still be on their way): pending again after `p_seconds`, the claim not
 * counted as an attempt. Whoever defers bounds how long it waits.
 */
create function public.bisect_defer_task(p_task_id bigint, p_token bigint, p_seconds integer, p_reason text)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_tasks t set
    attempts = t.attempts - 1,
    run_at = now() + make_interval(secs => greatest(p_seconds, 1)),
    error = p_reason,
    locked_by = null,
    lease_expires_at = null
  where t.id = p_task_id and t.lease_token = p_token and t.lease_expires_at > now() and t.state = 'pending';
  if not found then
    return false;
  end if;
  perform public.bisect_release_lease(p_token);
  return true;
end $$;

/**
 * Section – privileges
 * PostgreSQL lets PUBLIC execute every new function, and a default privilege per schema cannot
 * take that back (the first migration's only reach anon and authenticated): so each migration
 * that creates functions closes them itself. Only the owner and service_role call them.
 */
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
