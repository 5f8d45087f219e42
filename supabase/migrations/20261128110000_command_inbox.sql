/**
 * Section – bisect_commands: the inbox of /bisect comments
 * The webhook handler only stores the comment here (idempotent on the delivery id and on the
 * comment) and answers GitHub; a worker claims it, checks who asked, resolves the refs and turns
 * it into a job or a reply. So a webhook costs one insert whatever GitHub's latency, a redelivery
 * storm costs nothing more, and a crash after the answer loses nothing.
 */
create table public.bisect_commands (
  id bigint generated always as identity primary key,
  delivery_id text not null,
  repository text not null,
  repository_id bigint not null,
  installation_id bigint,
  issue_number integer not null,
  is_pull_request boolean not null,
  comment_id bigint not null,
  requester text not null,
  body text not null,
  state text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  locked_by text,
  lease_token bigint,
  lease_expires_at timestamptz,
  -- What it became: a job, a reply, or nothing (with the reason).
  outcome text,
  error text,
  created_at timestamptz not null default now(),
  handled_at timestamptz,
  constraint bisect_commands_delivery_id_key unique (delivery_id),
  constraint bisect_commands_comment_key unique (repository_id, comment_id),
  constraint bisect_commands_state_check check (state in ('pending', 'handled', 'failed')),
  constraint bisect_commands_body_check check (length(body) <= 262144)
);
alter table public.bisect_commands enable row level security;
create index bisect_commands_due_idx on public.bisect_commands (next_attempt_at, id) where state = 'pending';

revoke all on table public.bisect_commands from public, anon, authenticated;
grant select, insert, update, delete on table public.bisect_commands to service_role;

/** Section – receive: idempotent; `created` is false for a redelivery or the same comment again. */
create function public.bisect_receive_command(
  p_delivery_id text,
  p_repository text,
  p_repository_id bigint,
  p_installation_id bigint,
  p_issue_number integer,
  p_is_pull_request boolean,
  p_comment_id bigint,
  p_requester text,
  p_body text
) returns table (command_id bigint, created boolean)
language plpgsql security invoker set search_path = ''
as $$
declare
  v_id bigint;
begin
  insert into public.bisect_commands (delivery_id, repository, repository_id, installation_id, issue_number, is_pull_request, comment_id, requester, body)
  values (p_delivery_id, p_repository, p_repository_id, p_installation_id, p_issue_number, p_is_pull_request, p_comment_id, p_requester, p_body)
  on conflict do nothing
  returning id into v_id;
  if v_id is not null then
    return query select v_id, true;
    return;
  end if;
  return query
    select c.id, false from public.bisect_commands c
    where c.delivery_id = p_delivery_id or (c.repository_id = p_repository_id and c.comment_id = p_comment_id)
    order by c.id limit 1;
end;
$$;

/** Section – claim pending commands, oldest first (an expired lease means its worker died). */
create function public.bisect_claim_commands(p_worker text, p_limit integer, p_lease_seconds integer)
returns setof public.bisect_commands
language sql security invoker set search_path = ''
as $$
  with due as (
    select c.id from public.bisect_commands c
    where c.state = 'pending' and ((c.locked_by is null and c.next_attempt_at <= now()) or c.lease_expires_at < now())
    order by c.next_attempt_at, c.id
    limit p_limit
    for update skip locked
  )
  update public.bisect_commands c set
    attempts = c.attempts + 1,
    locked_by = p_worker,
    lease_token = nextval('public.bisect_lease_token_seq'),
    lease_expires_at = now() + make_interval(secs => p_lease_seconds)
  from due
  where c.id = due.id
  returning c.*;
$$;

/**
 * Section – finish: handled (p_outcome says what it became), or not: tried again after
 * p_retry_seconds, or failed for good when that is null.
 */
create function public.bisect_finish_command(p_command_id bigint, p_token bigint, p_outcome text, p_error text, p_retry_seconds integer)
returns boolean
language sql security invoker set search_path = ''
as $$
  with finished as (
    update public.bisect_commands set
      state = case when p_outcome is not null then 'handled' when p_retry_seconds is null then 'failed' else 'pending' end,
      outcome = p_outcome,
      error = p_error,
      handled_at = case when p_outcome is not null or p_retry_seconds is null then now() else null end,
      next_attempt_at = now() + make_interval(secs => coalesce(p_retry_seconds, 0)),
      locked_by = null,
      lease_token = null,
      lease_expires_at = null
    where id = p_command_id and lease_token = p_token and lease_expires_at > now() and state = 'pending'
    returning 1
  )
  select exists (select 1 from finished);
$$;

revoke execute on function
  public.bisect_receive_command(text, text, bigint, bigint, integer, boolean, bigint, text, text),
  public.bisect_claim_commands(text, integer, integer),
  public.bisect_finish_command(bigint, bigint, text, text, integer)
from public, anon, authenticated;
grant execute on function
  public.bisect_receive_command(text, text, bigint, bigint, integer, boolean, bigint, text, text),
  public.bisect_claim_commands(text, integer, integer),
  public.bisect_finish_command(bigint, bigint, text, text, integer)
to service_role;
