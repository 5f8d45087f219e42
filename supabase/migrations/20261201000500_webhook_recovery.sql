/**
 * Bisect Bot's schema: webhook recovery. GitHub does not redeliver a webhook the App failed to
 * take (a 5xx while the database was down, a refused connection, a time-out): the App finds such
 * deliveries in its delivery log (GET /app/hook/deliveries) and asks for each once more
 * (POST /app/hook/deliveries/{id}/attempts), as GitHub's own recovery script does.
 *
 *   every interval, one instance of the cluster: claim the pass (the schedule row)
 *     ─► list deliveries newest first, down to the bound (the last complete scan, less a margin)
 *     ─► per guid with no 2xx attempt: claim its redelivery (one row per guid) ─► ask GitHub
 *     ─► finish the pass: the scan is complete, or resumes next pass from its cursor
 *
 * Security invoker with an empty search_path, as the other functions.
 */

/**
 * Section – bisect_redelivery_schedule
 * One row: when the next pass is due, the scan in progress and how far scans have reached.
 */
create table public.bisect_redelivery_schedule (
  id boolean primary key default true,
  next_run_at timestamptz not null,
  pass bigint not null default 1,
  worker text not null,
  pass_started_at timestamptz not null default now(),
  pass_finished_at timestamptz,
  scan_started_at timestamptz,
  scan_since timestamptz,
  scan_cursor text,
  covered_through timestamptz,
  listed integer not null default 0,
  redelivered integer not null default 0,
  error text,
  constraint bisect_redelivery_schedule_one_row check (id),
  constraint bisect_redelivery_schedule_scan_check check ((scan_started_at is null) = (scan_since is null))
);
alter table public.bisect_redelivery_schedule enable row level security;

comment on table public.bisect_redelivery_schedule is 'Webhook recovery: one row saying when the next look through the App''s delivery log is due, which instance made the last one and what it found.';
select public.bisect_comment_columns('public.bisect_redelivery_schedule', $$
id: Always true: there is one schedule.
next_run_at: When the next pass is due; the instance that claims it moves this one interval on, so one instance scans per interval.
pass: Number of the latest pass (a fencing token: only that pass records its outcome).
worker: The instance that claimed the latest pass (hostname:pid:start).
pass_started_at: When the latest pass was claimed.
pass_finished_at: When the latest pass ended (null while it runs, or if its instance died).
scan_started_at: When the scan in progress began; deliveries after it are left to the next scan. Null when no scan is in progress.
scan_since: How far back the scan in progress looks: the last complete scan's start less a margin, never before the look-back.
scan_cursor: Where the scan in progress resumes in the delivery log (GitHub's cursor); null: from the newest delivery.
covered_through: Start of the last complete scan: every delivery before it has been looked at.
listed: Deliveries the latest pass listed.
redelivered: Redeliveries the latest pass asked GitHub for.
error: Why the latest pass stopped early (a GitHub or database failure); it is tried again next pass.
$$);

/**
 * Section – bisect_redeliveries
 * One row per delivery (guid) the App asked GitHub to redeliver: at most a few requests ever.
 */
create table public.bisect_redeliveries (
  guid text primary key,
  delivery_id bigint not null,
  event text not null,
  action text,
  requests integer not null default 1,
  first_requested_at timestamptz not null default now(),
  last_requested_at timestamptz not null default now(),
  error text,
  constraint bisect_redeliveries_requests_check check (requests >= 0)
);
alter table public.bisect_redeliveries enable row level security;

comment on table public.bisect_redeliveries is 'Webhook deliveries the App asked GitHub to send again, one row per delivery (X-GitHub-Delivery), so no instance asks twice.';
select public.bisect_comment_columns('public.bisect_redeliveries', $$
guid: The delivery's GUID (X-GitHub-Delivery), shared by every attempt to deliver it.
delivery_id: The attempt redelivered last (GitHub's id of one attempt, as in /app/hook/deliveries/{id}).
event: The webhook's event (issue_comment, workflow_run…).
action: The event's action (created, completed…), if it has one.
requests: Redeliveries asked for and not refused; another is asked for only when every earlier one failed too, up to a small cap.
first_requested_at: When the first redelivery was asked for.
last_requested_at: When the last one was asked for (rows are deleted after GitHub's retention).
error: Why GitHub refused the last request, if it did.
$$);

/**
 * Section – claim a pass: due when next_run_at has passed (the first call ever creates the row).
 * Continues the scan in progress, or starts one whose bound is the last complete scan's start
 * less 5 minutes (GitHub's clock against ours, and deliveries GitHub lists a little late), but
 * never further back than p_lookback_seconds. No row: not due yet (another instance has it).
 */
create function public.bisect_claim_redelivery_pass(p_worker text, p_interval_seconds integer, p_lookback_seconds integer)
returns table (pass bigint, since timestamptz, resume_cursor text) language plpgsql security invoker set search_path = '' as $$
declare
  v_row public.bisect_redelivery_schedule;
  v_floor timestamptz := now() - make_interval(secs => p_lookback_seconds);
begin
  insert into public.bisect_redelivery_schedule as s (id, next_run_at, worker)
  values (true, now() + make_interval(secs => p_interval_seconds), p_worker)
  on conflict (id) do update set
    next_run_at = excluded.next_run_at, pass = s.pass + 1, worker = excluded.worker, pass_started_at = now(), pass_finished_at = null,
    listed = 0, redelivered = 0, error = null
  where s.next_run_at <= now()
  returning s.* into v_row;
  if v_row.id is null then
    return;
  end if;
  if v_row.scan_started_at is null then
    update public.bisect_redelivery_schedule s set
      scan_started_at = now(), scan_since = greatest(v_floor, s.covered_through - interval '5 minutes'), scan_cursor = null
    where s.id
    returning s.* into v_row;
  end if;
  -- Older than GitHub keeps deliveries (3 days, 7 on GitHub Enterprise Server): never listed again.
  delete from public.bisect_redeliveries r where r.last_requested_at < now() - interval '8 days';
  return query select v_row.pass, greatest(v_row.scan_since, v_floor), v_row.scan_cursor;
end $$;

/**
 * Section – finish a pass: complete (the scan reached its bound: the next one starts from its
 * start), or to be resumed from `p_cursor` (null: from the newest delivery again). Only the
 * latest pass records; answers false for a pass that another has overtaken.
 */
create function public.bisect_finish_redelivery_pass(
  p_pass bigint, p_cursor text, p_complete boolean, p_listed integer, p_redelivered integer, p_error text
) returns boolean language sql security invoker set search_path = '' as $$
  with finished as (
    update public.bisect_redelivery_schedule s set
      covered_through = case when p_complete then s.scan_started_at else s.covered_through end,
      scan_started_at = case when p_complete then null else s.scan_started_at end,
      scan_since = case when p_complete then null else s.scan_since end,
      scan_cursor = case when p_complete then null else p_cursor end,
      listed = p_listed, redelivered = p_redelivered, error = p_error, pass_finished_at = now()
    where s.pass = p_pass
    returning 1
  )
  select exists (select from finished);
$$;

/**
 * Section – claim a redelivery of one guid: true when this caller is to ask GitHub for it. The
 * first time, or again when every redelivery asked for so far came back failed
 * (`p_failed_redeliveries`, as the delivery log lists them), at most `p_max_requests` times. Two
 * instances, or two passes, asking at once: one gets true.
 */
create function public.bisect_claim_redelivery(
  p_guid text, p_delivery_id bigint, p_event text, p_action text, p_failed_redeliveries integer, p_max_requests integer
) returns boolean language sql security invoker set search_path = '' as $$
  with claimed as (
    insert into public.bisect_redeliveries as r (guid, delivery_id, event, action)
    select p_guid, p_delivery_id, p_event, p_action
    where p_max_requests >= 1
    on conflict (guid) do update set requests = r.requests + 1, delivery_id = excluded.delivery_id, last_requested_at = now(), error = null
    where r.requests <= p_failed_redeliveries and r.requests < p_max_requests
    returning 1
  )
  select exists (select from claimed);
$$;

/**
 * Section – a redelivery GitHub did not take: `p_retry` (a 5xx, a rate limit, no answer) gives
 * the request back so the next pass asks again; otherwise (GitHub refused it: too old, unknown)
 * it stays counted. The reason is kept either way.
 */
create function public.bisect_fail_redelivery(p_guid text, p_error text, p_retry boolean)
returns boolean language sql security invoker set search_path = '' as $$
  with failed as (
    update public.bisect_redeliveries r set
      requests = case when p_retry then r.requests - 1 else r.requests end,
      error = p_error
    where r.guid = p_guid and r.requests > 0
    returning 1
  )
  select exists (select from failed);
$$;

/**
 * Section – privileges
 * As the tables migration: no policies, only the owner and service_role reach the rows; and, as
 * every migration that creates functions, PUBLIC's default EXECUTE is taken back.
 */
revoke all on all tables in schema public from public, anon, authenticated;
revoke all on all sequences in schema public from public, anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
grant execute on all functions in schema public to service_role;
