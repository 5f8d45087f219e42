/**
 * Bisect Bot's schema: automatic bisects. When a workflow the repository's config lists goes red
 * on the default branch after a green run, the App bisects last green head..first red head
 * without being asked, once per (workflow, red head), and opens an issue naming the culprit.
 *
 *   workflow_run completed (failure) ─► red-run task (one per run, whatever the redeliveries and re-runs)
 *     ─► worker: config, previous run, range, free verdicts ─► bisect_create_auto_job:
 *          one decision per (repository, workflow, red head): a new job, a job already bisecting
 *          the same red head (joined), or none (over the day's budget)
 *     ─► the job runs as any other ─► answered with a culprit ─► report task: the issue, then a
 *        comment on the culprit's pull request
 *
 * An automatic job has no comment and no thread until its issue is opened: `issue_number` and
 * `comment_id` are null until then (and `comment_id` stays null).
 */

/** Section – jobs: where a job came from, the run that went red, and what CI runs already said. */
alter table public.bisect_jobs alter column issue_number drop not null;
alter table public.bisect_jobs alter column comment_id drop not null;
alter table public.bisect_jobs add column origin text not null default 'comment';
alter table public.bisect_jobs add column red_run jsonb;
alter table public.bisect_jobs add column free_verdicts jsonb not null default '[]'::jsonb;
alter table public.bisect_jobs add constraint bisect_jobs_origin_check check (origin in ('comment', 'auto'));
alter table public.bisect_jobs add constraint bisect_jobs_thread_check
  check (origin = 'auto' or (issue_number is not null and comment_id is not null));
alter table public.bisect_jobs add constraint bisect_jobs_free_verdicts_check check (jsonb_typeof(free_verdicts) = 'array');
-- One automatic bisect of a red head with a command, whichever workflows went red on it.
create unique index bisect_jobs_auto_once_idx on public.bisect_jobs (repository_id, bad_sha, md5(command)) where origin = 'auto';
create index bisect_jobs_auto_recent_idx on public.bisect_jobs (repository_id, created_at) where origin = 'auto';

select public.bisect_comment_columns('public.bisect_jobs', $$
issue_number: The issue or pull request the /bisect comment was made on, or the issue an automatic bisect opened (null until then); answers go there.
comment_id: The /bisect comment (one job per comment, whatever the redeliveries); null for an automatic bisect.
origin: comment (a /bisect command) or auto (a listed workflow went red on the default branch).
red_run: The failed workflow run the range ends at, when the job came from one (automatic, or /bisect <run URL>): {id, url, workflow, number}.
free_verdicts: Verdicts completed CI runs of the workflow gave for commits of the range ([{sha, verdict, runId}]): passed on as known, never tested again.
$$);

/**
 * Section – create, again: a job from `/bisect <run URL>` keeps its red run and the verdicts CI
 * runs gave (as an automatic one does). Idempotent on the delivery id and on (repository, comment).
 */
drop function public.bisect_create_job(text, text, bigint, bigint, integer, bigint, text, text[], text, text[], text, text, jsonb, integer);
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
 * Section – bisect_auto_triggers
 * One row per (repository, workflow, red head): what the App decided for it. A redelivery, a
 * re-run or a second look finds the decision made.
 */
create table public.bisect_auto_triggers (
  repository_id bigint not null,
  workflow text not null,
  head_sha text not null,
  run_id bigint not null,
  job_id bigint references public.bisect_jobs (id) on delete set null,
  outcome text not null,
  created_at timestamptz not null default now(),
  primary key (repository_id, workflow, head_sha),
  constraint bisect_auto_triggers_outcome_check check (outcome in ('created', 'joined', 'over budget'))
);
alter table public.bisect_auto_triggers enable row level security;
create index bisect_auto_triggers_job_idx on public.bisect_auto_triggers (job_id);

comment on table public.bisect_auto_triggers is 'Automatic bisects: for each workflow that went red at a head of the default branch, what the App did (once, whatever the redeliveries and re-runs).';
select public.bisect_comment_columns('public.bisect_auto_triggers', $$
repository_id: GitHub's id of the repository.
workflow: The workflow's path (.github/workflows/ci.yml).
head_sha: The red head: the commit its failed run tested.
run_id: The failed run that asked first.
job_id: The job bisecting it (made for it, or joined); null when none was started.
outcome: created (a new job), joined (a job already bisecting this red head), over budget (max_auto_bisects_per_day reached).
created_at: When the App decided.
$$);

/**
 * Section – create an automatic job: one decision per (repository, workflow, red head), taken
 * under a per-repository lock so that two workflows red on the same push make one job. Joins
 * `p_join_job_id` (a job the worker found bisecting a range holding this red head) or a job of
 * the same red head and command; else, under `p_max_per_day` automatic jobs in the last day, a
 * new job. Answers the job (null when none) and what was decided (`already` prefixed when
 * decided before).
 */
create function public.bisect_create_auto_job(
  p_delivery_id text, p_repository text, p_repository_id bigint, p_installation_id bigint,
  p_workflow text, p_run_id bigint, p_red_run jsonb,
  p_good_refs text[], p_bad_ref text, p_good_shas text[], p_bad_sha text,
  p_command text, p_options jsonb, p_free_verdicts jsonb, p_max_attempts integer,
  p_join_job_id bigint, p_max_per_day integer
) returns table (job_id bigint, outcome text) language plpgsql security invoker set search_path = '' as $$
declare
  v_decided public.bisect_auto_triggers;
  v_job bigint;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('bisect_auto:' || p_repository_id::text, 0));
  select t.* into v_decided from public.bisect_auto_triggers t
  where t.repository_id = p_repository_id and t.workflow = p_workflow and t.head_sha = p_bad_sha;
  if found then
    return query select v_decided.job_id, 'already ' || v_decided.outcome;
    return;
  end if;
  v_job := p_join_job_id;
  if v_job is null then
    select j.id into v_job from public.bisect_jobs j
    where j.origin = 'auto' and j.repository_id = p_repository_id and j.bad_sha = p_bad_sha and md5(j.command) = md5(p_command);
  end if;
  if v_job is not null then
    insert into public.bisect_auto_triggers (repository_id, workflow, head_sha, run_id, job_id, outcome)
    values (p_repository_id, p_workflow, p_bad_sha, p_run_id, v_job, 'joined');
    return query select v_job, 'joined'::text;
    return;
  end if;
  if (select count(*) from public.bisect_jobs j
      where j.origin = 'auto' and j.repository_id = p_repository_id and j.created_at > now() - interval '1 day') >= p_max_per_day then
    insert into public.bisect_auto_triggers (repository_id, workflow, head_sha, run_id, job_id, outcome)
    values (p_repository_id, p_workflow, p_bad_sha, p_run_id, null, 'over budget');
    return query select null::bigint, 'over budget'::text;
    return;
  end if;
  insert into public.bisect_jobs (
    delivery_id, repository, repository_id, installation_id, issue_number, comment_id, requester, origin, red_run, free_verdicts,
    good_refs, bad_ref, good_shas, bad_sha, command, options, max_attempts
  ) values (
    p_delivery_id, p_repository, p_repository_id, p_installation_id, null, null, 'automatic', 'auto', p_red_run, coalesce(p_free_verdicts, '[]'::jsonb),
    p_good_refs, p_bad_ref, p_good_shas, p_bad_sha, p_command, coalesce(p_options, '{}'::jsonb), p_max_attempts
  ) returning id into v_job;
  insert into public.bisect_auto_triggers (repository_id, workflow, head_sha, run_id, job_id, outcome)
  values (p_repository_id, p_workflow, p_bad_sha, p_run_id, v_job, 'created');
  return query select v_job, 'created'::text;
end $$;

/**
 * Section – automatic jobs that may hold a red head in their range: the repository's of the last
 * day with the same command, newest first (the worker checks the ancestry).
 */
create function public.bisect_auto_jobs_from(p_repository_id bigint, p_command text)
returns setof public.bisect_jobs language sql stable security invoker set search_path = '' as $$
  select j.* from public.bisect_jobs j
  where j.origin = 'auto' and j.repository_id = p_repository_id and md5(j.command) = md5(p_command)
    and j.created_at > now() - interval '1 day'
  order by j.id desc
  limit 10;
$$;

/** Section – the issue an automatic job's answer opened: from now on the job's thread (once). */
create function public.bisect_set_job_issue(p_job_id bigint, p_issue_number integer)
returns boolean language sql security invoker set search_path = '' as $$
  with moved as (
    update public.bisect_jobs set issue_number = p_issue_number, updated_at = now()
    where id = p_job_id and origin = 'auto' and issue_number is null
    returning id
  )
  select exists (select from moved) or exists (select from public.bisect_jobs j where j.id = p_job_id and j.issue_number = p_issue_number);
$$;

/**
 * Section – tasks: a red run to look at (red-run, one per run) and an automatic job's answer to
 * report (report, one per job). Neither answers a comment.
 */
alter table public.bisect_tasks alter column issue_number drop not null;
alter table public.bisect_tasks alter column comment_id drop not null;
alter table public.bisect_tasks add column run_id bigint;
alter table public.bisect_tasks drop constraint bisect_tasks_kind_check;
alter table public.bisect_tasks add constraint bisect_tasks_kind_check check (kind in ('command', 'reply', 'announce', 'red-run', 'report'));
alter table public.bisect_tasks drop constraint bisect_tasks_job_check;
alter table public.bisect_tasks add constraint bisect_tasks_job_check check ((kind = 'announce' or kind = 'report') = (job_id is not null));
alter table public.bisect_tasks add constraint bisect_tasks_thread_check
  check ((kind = 'red-run' or kind = 'report') = (issue_number is null and comment_id is null));
alter table public.bisect_tasks add constraint bisect_tasks_run_check check ((kind = 'red-run') = (run_id is not null));
create unique index bisect_tasks_red_run_once_idx on public.bisect_tasks (repository_id, run_id) where kind = 'red-run';
create unique index bisect_tasks_report_once_idx on public.bisect_tasks (job_id) where kind = 'report';

select public.bisect_comment_columns('public.bisect_tasks', $$
kind: command (read a /bisect comment), reply (post an answer), announce (show a waiting job's place in the queue), red-run (a listed workflow failed on the default branch: bisect it?), report (open the issue an automatic job's answer goes to).
issue_number: The thread it answers on (null for red-run and report tasks).
comment_id: The comment it answers (null for red-run and report tasks).
run_id: red-run: the failed workflow run (one task per run, whatever its re-runs and redeliveries).
$$);

/** Section – enqueue a red run: one task per run (a re-run or a redelivery finds it). */
create function public.bisect_enqueue_red_run(
  p_delivery_id text, p_repository text, p_repository_id bigint, p_installation_id bigint, p_run_id bigint, p_payload jsonb
) returns table (task_id bigint, created boolean) language plpgsql security invoker set search_path = '' as $$
declare
  v_id bigint;
begin
  insert into public.bisect_tasks (kind, delivery_id, repository, repository_id, installation_id, run_id, payload)
  values ('red-run', p_delivery_id, p_repository, p_repository_id, p_installation_id, p_run_id, coalesce(p_payload, '{}'::jsonb))
  on conflict do nothing
  returning id into v_id;
  return query
    select t.id, v_id is not null from public.bisect_tasks t
    where t.kind = 'red-run' and t.repository_id = p_repository_id and t.run_id = p_run_id;
end $$;

/** Section – enqueue an automatic job's report: one per job. */
create function public.bisect_enqueue_report(p_job_id bigint, p_payload jsonb)
returns table (task_id bigint, created boolean) language plpgsql security invoker set search_path = '' as $$
declare
  v_id bigint;
begin
  insert into public.bisect_tasks (kind, delivery_id, repository, repository_id, installation_id, job_id, payload)
  select 'report', j.delivery_id, j.repository, j.repository_id, j.installation_id, j.id, coalesce(p_payload, '{}'::jsonb)
  from public.bisect_jobs j where j.id = p_job_id
  on conflict do nothing
  returning id into v_id;
  return query select t.id, v_id is not null from public.bisect_tasks t where t.kind = 'report' and t.job_id = p_job_id;
end $$;

/**
 * Section – claims, again: a job without a thread (automatic, before its issue) gets no announce
 * task; only an announce task holds its job's lease (a report task is about a job that ended).
 */

create or replace function public.bisect_claim_jobs(
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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
