/**
 * Retention: rows that only record what happened do not grow forever. Finished tasks (commands
 * read, replies posted, announcements shown, or given up) and claim-audit rows older than the
 * retention period are deleted in batches (redelivery records and write slots have their own
 * pruning, in their migrations), each batch one short
 * statement, so pruning never holds locks long or competes with claims. Jobs, their attempts and
 * probes stay: they are the history a maintainer asks about.
 */

create index bisect_tasks_finished_idx on public.bisect_tasks (finished_at) where state <> 'pending';
create index bisect_claim_audit_claimed_idx on public.bisect_claim_audit (claimed_at);
-- The stats read a recent window of ended jobs, and of created ones for the dashboard view.
create index bisect_jobs_finished_idx on public.bisect_jobs (finished_at) where finished_at is not null;
create index bisect_jobs_created_idx on public.bisect_jobs (created_at);

/**
 * Section – prune: deletes at most `p_batch` rows of each kind older than `p_older_than_seconds`
 * (finished tasks by finished_at, claim-audit rows by claimed_at) and answers how many rows it deleted in all. A caller repeats it while it
 * answers a full batch. The oldest go first; `skip locked` leaves rows another pruner is
 * deleting, so instances that prune at once never wait for each other.
 */
create function public.bisect_prune(p_older_than_seconds integer, p_batch integer)
returns integer language plpgsql security invoker set search_path = '' as $$
declare
  v_cutoff timestamptz := now() - make_interval(secs => p_older_than_seconds);
  v_tasks integer;
  v_audit integer;
begin
  if p_older_than_seconds < 3600 then
    raise exception 'bisect_prune: keep rows at least an hour (asked %)', p_older_than_seconds using errcode = '22023';
  end if;
  with doomed as (
    select t.id from public.bisect_tasks t
    where t.state <> 'pending' and t.finished_at < v_cutoff
    order by t.finished_at limit p_batch for update skip locked
  )
  delete from public.bisect_tasks t using doomed d where t.id = d.id;
  get diagnostics v_tasks = row_count;
  with doomed as (
    select a.id from public.bisect_claim_audit a
    where a.claimed_at < v_cutoff
    order by a.claimed_at limit p_batch for update skip locked
  )
  delete from public.bisect_claim_audit a using doomed d where a.id = d.id;
  get diagnostics v_audit = row_count;
  return v_tasks + v_audit;
end $$;

/**
 * Section – privileges
 * As every migration that creates functions: PUBLIC's default EXECUTE is taken back; only the
 * owner and service_role call them.
 */
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
