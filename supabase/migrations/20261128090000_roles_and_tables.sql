/**
 * Section – roles
 * Supabase has these roles already; plain PostgreSQL and PGlite get them here, so the same
 * grants and revokes (and the tests that check them) apply everywhere.
 */
do $$
begin
  -- Roles belong to the whole server while the migration lock covers one database: two
  -- databases migrating at once may both find a role missing, so a duplicate is not an error.
  begin
    create role anon nologin;
  exception when duplicate_object or unique_violation then null;
  end;
  begin
    create role authenticated nologin;
  exception when duplicate_object or unique_violation then null;
  end;
  begin
    create role service_role nologin bypassrls;
  exception when duplicate_object or unique_violation then null;
  end;
end
$$;

/**
 * Section – bisect_jobs
 * One row per /bisect command. The webhook inserts it (idempotent on the delivery id and on the
 * comment); workers claim it with a lease and a fencing token; every change of state goes through
 * a function in the next migration.
 */
create sequence public.bisect_lease_token_seq;

create table public.bisect_jobs (
  id bigint generated always as identity primary key,
  delivery_id text not null,
  repository text not null,
  repository_id bigint not null,
  installation_id bigint,
  issue_number integer not null,
  comment_id bigint not null,
  requester text not null,
  good_refs text[] not null,
  bad_ref text not null,
  good_shas text[] not null,
  bad_sha text not null,
  command text not null,
  options jsonb not null default '{}'::jsonb,
  state text not null default 'queued',
  attempts integer not null default 0,
  max_attempts integer not null default 3,
  -- When a worker should look at the job next (due to dispatch, or to check on its run).
  next_check_at timestamptz not null default now(),
  locked_by text,
  lease_token bigint,
  lease_expires_at timestamptz,
  run_id bigint,
  run_url text,
  status_comment_id bigint,
  verdict text,
  culprit_sha text,
  confidence double precision,
  tested integer,
  rounds integer,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint bisect_jobs_delivery_id_key unique (delivery_id),
  constraint bisect_jobs_comment_key unique (repository_id, comment_id),
  constraint bisect_jobs_state_check check (state in ('queued', 'dispatching', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
  constraint bisect_jobs_verdict_check check (verdict is null or verdict in ('culprit', 'ambiguous', 'no-culprit', 'error')),
  constraint bisect_jobs_attempts_check check (attempts >= 0 and attempts <= max_attempts),
  constraint bisect_jobs_lease_check check ((locked_by is null) = (lease_expires_at is null))
);
alter table public.bisect_jobs enable row level security;

create index bisect_jobs_due_idx on public.bisect_jobs (next_check_at, id)
  where state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_jobs_repository_active_idx on public.bisect_jobs (repository_id)
  where state in ('dispatching', 'dispatched', 'running');
create index bisect_jobs_run_id_idx on public.bisect_jobs (run_id) where run_id is not null;

/**
 * Section – bisect_attempts
 * One row per dispatch of a job: its run, how it ended and why.
 */
create table public.bisect_attempts (
  id bigint generated always as identity primary key,
  job_id bigint not null references public.bisect_jobs (id) on delete cascade,
  attempt integer not null,
  worker text not null,
  lease_token bigint not null,
  run_id bigint,
  run_url text,
  outcome text not null default 'running',
  reason text,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint bisect_attempts_job_attempt_key unique (job_id, attempt),
  constraint bisect_attempts_outcome_check check (outcome in ('running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'released'))
);
alter table public.bisect_attempts enable row level security;

/**
 * Section – bisect_probes
 * Every test verdict a run reported, so a retry resumes with the verdicts already known.
 */
create table public.bisect_probes (
  id bigint generated always as identity primary key,
  job_id bigint not null references public.bisect_jobs (id) on delete cascade,
  attempt integer not null,
  sha text not null,
  verdict text not null,
  exit_code integer,
  duration_ms integer not null,
  round integer not null,
  recorded_at timestamptz not null default now(),
  constraint bisect_probes_verdict_check check (verdict in ('good', 'bad', 'skip', 'error')),
  constraint bisect_probes_sha_check check (sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$')
);
alter table public.bisect_probes enable row level security;
create index bisect_probes_job_idx on public.bisect_probes (job_id, attempt);

/**
 * Section – bisect_claim_audit
 * Append-only: one row per claim. (job_id, lease_token) is unique, and the tests read it to prove
 * that no job is ever held by two workers at once.
 */
create table public.bisect_claim_audit (
  id bigint generated always as identity primary key,
  job_id bigint not null references public.bisect_jobs (id) on delete cascade,
  lease_token bigint not null,
  attempt integer not null,
  worker text not null,
  from_state text not null,
  claimed_at timestamptz not null default now(),
  constraint bisect_claim_audit_token_key unique (lease_token)
);
alter table public.bisect_claim_audit enable row level security;

/**
 * Section – privileges
 * No policies: only the table owner and service_role (which bypasses RLS) reach the rows.
 * anon and authenticated get nothing, not even through Supabase's default grants.
 */
revoke all on table public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit from public, anon, authenticated;
revoke all on sequence public.bisect_lease_token_seq from public, anon, authenticated;
grant select, insert, update, delete on table public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_claim_audit to service_role;
grant usage, select on all sequences in schema public to service_role;
revoke all on all sequences in schema public from public, anon, authenticated;
