/**
 * Bisect Bot's schema: fan-out across runners (`runners` > 1). A job bisects in rounds: each round
 * is one workflow run in probe mode, a matrix with one runner per commit. The App plans every
 * round from the range's commit graph (read once from the compare API and kept here) and the
 * verdicts recorded so far.
 *
 *   dispatching(round r) ─► dispatched ─► (every verdict of round r) ─► dispatching(round r+1) … ─► succeeded
 *                                      └► (a verdict missing: runner lost, artifact gone) ─► bisect_fail_attempt:
 *                                          the next attempt dispatches round r again, for the missing commits only
 *
 * A round is one attempt's run while it lasts; the attempt goes on across the rounds that succeed,
 * so `max_attempts` bounds the failures, not the rounds.
 */

-- The job's round, its commits, its runner jobs and minutes are bisect_jobs columns (20261201000000_tables.sql).

create table public.bisect_job_graphs (
  job_id bigint primary key references public.bisect_jobs (id) on delete cascade,
  commits jsonb not null,
  api_calls integer not null,
  created_at timestamptz not null default now(),
  constraint bisect_job_graphs_commits_check check (jsonb_typeof(commits) = 'array')
);
alter table public.bisect_job_graphs enable row level security;

comment on table public.bisect_job_graphs is 'Fan-out: the range''s commits and their parents, read once from the compare API, from which the App plans every round.';
select public.bisect_comment_columns('public.bisect_job_graphs', $$
job_id: The job.
commits: The range as [[sha, parent sha, …], …], first parent first.
api_calls: The compare API pages it took.
created_at: When it was read.
$$);

/** Section – the range's graph: kept once by the worker that read it (a second holder's copy is the same). */
create function public.bisect_set_job_graph(p_job_id bigint, p_token bigint, p_commits jsonb, p_api_calls integer)
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  insert into public.bisect_job_graphs (job_id, commits, api_calls)
  select h.id, p_commits, p_api_calls from public.bisect_held_job(p_job_id, p_token) h where h.id is not null
  on conflict (job_id) do nothing;
  return exists (select 1 from public.bisect_job_graphs g where g.job_id = p_job_id);
end $$;

create function public.bisect_job_graph(p_job_id bigint)
returns jsonb language sql stable security invoker set search_path = '' as $$
  select g.commits from public.bisect_job_graphs g where g.job_id = p_job_id;
$$;

/**
 * Section – a round's intent: the dispatch intent (as bisect_record_dispatch_intent), with the
 * round and its commits, so a successor that finds the run knows what it tests.
 */
create function public.bisect_record_round_intent(p_job_id bigint, p_token bigint, p_round integer, p_commits text[])
returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  update public.bisect_jobs j set dispatch_intent_attempt = j.attempts, round = p_round, round_commits = p_commits, updated_at = now()
  from public.bisect_held_job(p_job_id, p_token) h where j.id = h.id and h.state = 'dispatching';
  return found;
end $$;

/**
 * Section – the next round: every commit of the round has its verdict. The verdicts are kept under
 * the attempt, and the held job goes back to dispatching (same attempt, lease kept) for the
 * worker to dispatch the next round. Returns false without the lease.
 */
create function public.bisect_next_round(p_job_id bigint, p_token bigint, p_probes jsonb)
returns boolean language plpgsql security invoker set search_path = '' as $$
declare
  v_job public.bisect_jobs := public.bisect_held_job(p_job_id, p_token);
begin
  if v_job.id is null or v_job.state not in ('dispatched', 'running') then
    return false;
  end if;
  perform public.bisect_add_probes(v_job.id, v_job.attempts, p_probes);
  update public.bisect_jobs set
    state = 'dispatching', run_id = null, run_url = null, dispatched_at = null,
    noted_run_id = null, noted_conclusion = null, noted_run_attempt = null,
    dispatch_intent_attempt = null, failed_checks = 0, round_commits = '{}', updated_at = now()
  where id = v_job.id;
  return true;
end $$;

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
