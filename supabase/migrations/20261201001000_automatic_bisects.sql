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
 * An automatic job has no comment and no thread until its issue is opened: its `issue_number` is
 * null until then and its `comment_id` stays null; a red-run or report task has neither (the
 * columns and their checks are in 20261201000000_tables.sql, as every table's are).
 */

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

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
