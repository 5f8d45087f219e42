/**
 * Bisect Bot's schema: GitHub's rate limits, one budget for every instance of the App.
 * GitHub counts per installation, not per process: at most 80 content-creating requests a
 * minute, and a pause whenever it answers with a rate limit (until `retry-after`, or until
 * `x-ratelimit-reset` when the hourly quota is used up, or a minute when it names no time).
 * Octokit's throttling plugin keeps those limits in one process only; these tables keep them
 * for the whole cluster, so N instances never spend N budgets.
 *
 *   before a request ─► bisect_take_github_slot: paused? wait. A write: a free slot, or how long until one frees
 *   after the answers ─► bisect_note_github_answers: the quota GitHub reported, a pause it asked for, the writes done
 *
 * Security invoker with an empty search_path, as the lifecycle functions.
 */

/**
 * Section – bisect_github_budget
 * One row per installation: the quota GitHub last reported, and the pause every instance keeps
 * before its next request to that installation.
 */
create table public.bisect_github_budget (
  installation_id bigint primary key,
  remaining integer,
  reset_at timestamptz,
  paused_until timestamptz,
  pause_reason text,
  updated_at timestamptz not null default now()
);
alter table public.bisect_github_budget enable row level security;

comment on table public.bisect_github_budget is 'GitHub''s rate limits per installation, shared by every instance: the quota it last reported and the pause it asked for.';
select public.bisect_comment_columns('public.bisect_github_budget', $$
installation_id: The GitHub App installation whose requests this counts.
remaining: Requests left in the hourly quota, as GitHub last reported (x-ratelimit-remaining).
reset_at: When that quota fills up again (x-ratelimit-reset).
paused_until: No instance sends this installation a request before then: GitHub answered with a rate limit (retry-after, the quota's reset, or a minute when it named no time).
pause_reason: What GitHub said when it asked for the pause.
updated_at: When GitHub's answer was last recorded.
$$);

/**
 * Section – bisect_github_writes
 * The content-creating requests (comments, reactions, dispatches: every request but a read) of
 * the last window, per installation. A write holds its slot from the moment it is allowed until
 * a window after GitHub answered it, so however long the request took, no window of that length
 * holds more writes than the budget, measured where GitHub receives them.
 */
create table public.bisect_github_writes (
  id bigint generated always as identity primary key,
  installation_id bigint not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
alter table public.bisect_github_writes enable row level security;
create index bisect_github_writes_installation_idx on public.bisect_github_writes (installation_id, finished_at);

comment on table public.bisect_github_writes is 'Content-creating requests to GitHub of the last window, per installation: the slots of the cluster-wide write budget.';
select public.bisect_comment_columns('public.bisect_github_writes', $$
id: Row id (the slot's id, handed to the instance that sends the write).
installation_id: The installation the write is sent to.
started_at: When the write was allowed.
finished_at: When GitHub answered it (null while it is in flight); the slot frees a window later.
$$);

/**
 * Section – take a slot: before every request to an installation. While GitHub's pause lasts,
 * answers `paused` and the seconds left (nothing is sent). A read needs nothing more. A write
 * takes one of `p_writes_per_window` slots of the sliding window of `p_window_seconds`, or
 * answers how long until one frees (the caller waits without holding a connection, then asks
 * again). Writes of one installation take turns on its row, so two instances never both take
 * the last slot.
 */
create function public.bisect_take_github_slot(p_installation_id bigint, p_write boolean, p_writes_per_window integer, p_window_seconds integer)
returns table (slot_id bigint, wait_seconds double precision, paused boolean, reason text)
language plpgsql security invoker set search_path = '' as $$
declare
  v_budget public.bisect_github_budget;
  v_window interval := make_interval(secs => p_window_seconds);
  v_used integer;
  v_frees_at timestamptz;
  v_id bigint;
begin
  if p_write then
    insert into public.bisect_github_budget (installation_id) values (p_installation_id) on conflict do nothing;
    select b.* into v_budget from public.bisect_github_budget b where b.installation_id = p_installation_id for update;
  else
    select b.* into v_budget from public.bisect_github_budget b where b.installation_id = p_installation_id;
  end if;
  if v_budget.paused_until > now() then
    return query select null::bigint, extract(epoch from v_budget.paused_until - now())::double precision, true, v_budget.pause_reason;
    return;
  end if;
  if not p_write then
    return query select null::bigint, 0::double precision, false, null::text;
    return;
  end if;
  -- Writes out of the window are forgotten; so is a write whose instance died before GitHub
  -- answered (in flight far longer than any request lasts).
  delete from public.bisect_github_writes w
  where w.installation_id = p_installation_id
    and (w.finished_at <= now() - v_window or (w.finished_at is null and w.started_at < now() - interval '10 minutes'));
  select count(*)::integer, min(coalesce(w.finished_at, now())) + v_window into v_used, v_frees_at
  from public.bisect_github_writes w where w.installation_id = p_installation_id;
  if v_used >= p_writes_per_window then
    return query select null::bigint, greatest(extract(epoch from v_frees_at - now())::double precision, 0.05), false, null::text;
    return;
  end if;
  insert into public.bisect_github_writes (installation_id) values (p_installation_id) returning id into v_id;
  return query select v_id, 0::double precision, false, null::text;
end $$;

/**
 * Section – note GitHub's answers: after responses and errors that said something about the
 * limits, several at once (an instance sends the answers of a few milliseconds together: one
 * round trip, not one per request). Each element of `p_answers` is one answer:
 * `{installationId, slotId, remaining, resetEpoch, pauseSeconds, reason}`. Records the quota it
 * reported (`remaining`, `resetEpoch`: null when it said nothing; a later element of the batch
 * wins), pauses the installation for `pauseSeconds` when it asked for a wait (a pause only grows:
 * a shorter one seen later never lets a request out sooner), and ends the write's slot
 * (`slotId`), which frees a window from now. Installations are updated in id order, so two
 * batches never wait for each other's rows in a cycle. Answers how many installations are paused.
 */
create function public.bisect_note_github_answers(p_answers jsonb)
returns integer language plpgsql security invoker set search_path = '' as $$
declare
  v_answer record;
  v_paused integer := 0;
  v_paused_until timestamptz;
begin
  update public.bisect_github_writes w set finished_at = now()
  from jsonb_to_recordset(p_answers) as a("installationId" bigint, "slotId" bigint)
  where w.id = a."slotId" and w.installation_id = a."installationId" and w.finished_at is null;
  for v_answer in
    select a."installationId" as installation_id,
           (array_agg(a.remaining order by a.n desc) filter (where a.remaining is not null))[1] as remaining,
           (array_agg(a."resetEpoch" order by a.n desc) filter (where a."resetEpoch" is not null))[1] as reset_epoch,
           max(a."pauseSeconds") as pause_seconds,
           (array_agg(a.reason order by a."pauseSeconds" desc, a.n desc))[1] as reason
    from rows from (
      jsonb_to_recordset(p_answers) as ("installationId" bigint, remaining integer, "resetEpoch" bigint, "pauseSeconds" integer, reason text)
    ) with ordinality as a("installationId", remaining, "resetEpoch", "pauseSeconds", reason, n)
    group by a."installationId"
    order by a."installationId"
  loop
    insert into public.bisect_github_budget as b (installation_id, remaining, reset_at, paused_until, pause_reason)
    values (
      v_answer.installation_id, v_answer.remaining, pg_catalog.to_timestamp(v_answer.reset_epoch),
      case when v_answer.pause_seconds > 0 then now() + make_interval(secs => v_answer.pause_seconds) end,
      case when v_answer.pause_seconds > 0 then v_answer.reason end
    )
    on conflict (installation_id) do update set
      remaining = coalesce(excluded.remaining, b.remaining),
      reset_at = coalesce(excluded.reset_at, b.reset_at),
      pause_reason = case when excluded.paused_until > coalesce(b.paused_until, '-infinity'::timestamptz) then excluded.pause_reason else b.pause_reason end,
      paused_until = greatest(b.paused_until, excluded.paused_until),
      updated_at = now()
    returning b.paused_until into v_paused_until;
    if v_paused_until > now() then v_paused := v_paused + 1; end if;
  end loop;
  return v_paused;
end $$;

/**
 * Section – privileges
 * No policies: only the table owner and service_role (which bypasses RLS) reach the rows. The
 * first migration's default privileges keep anon and authenticated out of the new tables; this
 * says it again, and closes the new functions, which PostgreSQL lets PUBLIC execute.
 */
revoke all on all tables in schema public from public, anon, authenticated;
revoke all on all sequences in schema public from public, anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
grant execute on all functions in schema public to service_role;
