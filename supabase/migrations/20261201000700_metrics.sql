/**
 * Bisect Bot's schema: the numbers GET /metrics exports for the whole cluster (work waiting per
 * queue, unfinished jobs by state, jobs past their time limit). They are the same whichever
 * instance reads them, so only one instance exports them at a time: Prometheus sums a metric over
 * instances, and N instances each exporting the cluster's count would report it N times.
 *
 *   a scrape of any instance ─► bisect_metrics_snapshot(worker, lease)
 *       takes or renews the reporter lease (one row) ─► the holder gets the counts, others none
 *   an instance shutting down ─► bisect_release_metrics_reporter(worker): the next scrape of
 *       another instance takes over at once, not when the lease runs out
 *
 * The counts read only unfinished jobs and pending tasks, through the partial indexes of the
 * tables migration (bisect_jobs_due_idx, bisect_tasks_due_idx): finished rows, however many, are
 * never scanned.
 *
 * Security invoker with an empty search_path, as the other functions.
 */

/**
 * Section – bisect_metrics_reporter
 * One row: the instance that exports the cluster-wide metrics, until its lease ends.
 */
create table public.bisect_metrics_reporter (
  id boolean primary key default true,
  worker text not null,
  lease_expires_at timestamptz not null,
  constraint bisect_metrics_reporter_one_row check (id)
);
alter table public.bisect_metrics_reporter enable row level security;

comment on table public.bisect_metrics_reporter is 'The one instance that exports the cluster-wide metrics (queue depth, jobs by state), so that summing a metric over instances does not count them once per instance.';
select public.bisect_comment_columns('public.bisect_metrics_reporter', $$
id: Always true: there is one reporter.
worker: The instance that reports (hostname:pid:start); it renews the lease on every scrape.
lease_expires_at: When the lease ends; after that the next instance scraped takes it over.
$$);

/**
 * Section – snapshot: takes the reporter lease for `p_lease_seconds` when it is free, expired or
 * already `p_worker`'s, and then answers the counts; under another instance's live lease it
 * answers reporter = false and every count null.
 *   *_tasks: work waiting for a worker — pending tasks of the kind, due now and not held.
 *   *_jobs: unfinished jobs by state (queued jobs wait to be dispatched).
 *   overdue_jobs: dispatched or running jobs whose run has gone past the job's time limit (counted
 *     from its dispatch, as the worker judges it; options.timeoutSeconds, default 1800).
 */
create function public.bisect_metrics_snapshot(p_worker text, p_lease_seconds integer)
returns table (
  reporter boolean,
  command_tasks bigint, reply_tasks bigint, announce_tasks bigint,
  queued_jobs bigint, dispatching_jobs bigint, dispatched_jobs bigint, running_jobs bigint, overdue_jobs bigint
) language plpgsql security invoker set search_path = '' as $$
declare
  v_reporter boolean;
begin
  insert into public.bisect_metrics_reporter as r (id, worker, lease_expires_at)
  values (true, p_worker, now() + make_interval(secs => p_lease_seconds))
  on conflict (id) do update set worker = excluded.worker, lease_expires_at = excluded.lease_expires_at
  where r.worker = excluded.worker or r.lease_expires_at < now()
  returning true into v_reporter;
  if v_reporter is null then
    return query select false, null::bigint, null::bigint, null::bigint, null::bigint, null::bigint, null::bigint, null::bigint, null::bigint;
    return;
  end if;

  return query
  with tasks as (
    select
      count(*) filter (where t.kind = 'command') as command,
      count(*) filter (where t.kind = 'reply') as reply,
      count(*) filter (where t.kind = 'announce') as announce
    from public.bisect_tasks t
    where t.state = 'pending' and t.run_at <= now() and (t.locked_by is null or t.lease_expires_at < now())
  ), jobs as (
    select
      count(*) filter (where j.state = 'queued') as queued,
      count(*) filter (where j.state = 'dispatching') as dispatching,
      count(*) filter (where j.state = 'dispatched') as dispatched,
      count(*) filter (where j.state = 'running') as running,
      count(*) filter (
        where j.state in ('dispatched', 'running')
          and coalesce(j.dispatched_at, j.updated_at) + make_interval(secs => coalesce((j.options ->> 'timeoutSeconds')::integer, 1800)) < now()
      ) as overdue
    from public.bisect_jobs j
    where j.state in ('queued', 'dispatching', 'dispatched', 'running')
  )
  select true, tasks.command, tasks.reply, tasks.announce, jobs.queued, jobs.dispatching, jobs.dispatched, jobs.running, jobs.overdue
  from tasks, jobs;
end $$;

/** Section – release: an instance shutting down gives up the reporter lease, if it holds it. */
create function public.bisect_release_metrics_reporter(p_worker text)
returns boolean language sql security invoker set search_path = '' as $$
  with released as (
    delete from public.bisect_metrics_reporter r where r.worker = p_worker
    returning 1
  )
  select exists (select from released);
$$;

/**
 * Section – privileges
 * As the tables migration: no policies, only the owner and service_role reach the rows; and, as
 * every migration that creates functions, PUBLIC's default EXECUTE is taken back.
 */
revoke all on all tables in schema public from public, anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant execute on all functions in schema public to service_role;
