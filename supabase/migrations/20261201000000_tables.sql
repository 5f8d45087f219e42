/**
 * Bisect Bot's schema, part 1 of 4: roles, tables, indexes and privileges.
 * Then: job lifecycle (…0100), task queue and leases (…0200), reads and dashboard views (…0300).
 * Every change of state goes through a function of those migrations; the tables are closed to
 * Supabase's API roles (anon, authenticated): only the owner and service_role reach them.
 */

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
 * Section – default privileges
 * Supabase grants every new table, sequence and function in public to anon and authenticated.
 * Objects this role creates from here on (in this and later migrations) do not get those
 * grants; service_role gets what the App needs. PostgreSQL's own default, EXECUTE on every new
 * function for PUBLIC, is global and no per-schema default can revoke it: each migration that
 * creates functions revokes it in its privileges section.
 */
alter default privileges in schema public revoke all on tables from public, anon, authenticated;
alter default privileges in schema public revoke all on sequences from public, anon, authenticated;
alter default privileges in schema public revoke all on functions from public, anon, authenticated;
alter default privileges in schema public grant select, insert, update, delete on tables to service_role;
alter default privileges in schema public grant usage, select on sequences to service_role;
alter default privileges in schema public grant execute on functions to service_role;

/**
 * Section – column comments: every column says what it holds (the Supabase dashboard shows it).
 * `p_comments` has a line `column: comment` per column; a line of another shape, or a column
 * the relation lacks, is an error.
 */
create function public.bisect_comment_columns(p_relation regclass, p_comments text)
returns void language plpgsql security invoker set search_path = '' as $$
declare
  v_line text;
begin
  for v_line in select l from pg_catalog.regexp_split_to_table(p_comments, E'\n') as l where pg_catalog.btrim(l) <> '' loop
    if pg_catalog.strpos(v_line, ':') = 0 then
      raise exception 'bisect_comment_columns(%): "%" is not "column: comment"', p_relation, v_line;
    end if;
    execute pg_catalog.format('comment on column %s.%I is %L', p_relation,
      pg_catalog.btrim(pg_catalog.split_part(v_line, ':', 1)), pg_catalog.btrim(pg_catalog.substr(v_line, pg_catalog.strpos(v_line, ':') + 1)));
  end loop;
end $$;

/** Section – fencing tokens: one sequence for every lease, of jobs and of tasks alike. */
create sequence public.bisect_lease_token_seq;
comment on sequence public.bisect_lease_token_seq is 'Fencing tokens: every claim of a job or a task takes the next one; a worker whose token is no longer the row''s changes nothing.';

/**
 * Section – bisect_jobs
 * One row per accepted /bisect command: what to bisect, where it stands, its lease, its answer.
 */
create table public.bisect_jobs (
  id bigint generated always as identity primary key,
  delivery_id text not null,
  repository text not null,
  repository_id bigint not null,
  installation_id bigint,
  issue_number integer,
  comment_id bigint,
  requester text not null,
  origin text not null default 'comment',
  red_run jsonb,
  free_verdicts jsonb not null default '[]'::jsonb,
  good_refs text[] not null,
  bad_ref text not null,
  good_shas text[] not null,
  bad_sha text not null,
  command text not null,
  options jsonb not null default '{}'::jsonb,
  state text not null default 'queued',
  attempts integer not null default 0,
  max_attempts integer not null default 3,
  next_check_at timestamptz not null default now(),
  locked_by text,
  lease_token bigint,
  lease_expires_at timestamptz,
  dispatch_intent_attempt integer,
  run_id bigint,
  run_url text,
  dispatched_at timestamptz,
  noted_run_id bigint,
  noted_conclusion text,
  noted_run_attempt integer,
  failed_checks integer not null default 0,
  resume_from_attempt integer not null default 1,
  round integer not null default 0,
  round_commits text[] not null default '{}',
  runner_jobs integer not null default 0,
  runner_minutes integer not null default 0,
  status_comment_id bigint,
  verdict text,
  reason text,
  culprit_sha text,
  confidence double precision,
  tested integer,
  rounds integer,
  error text,
  cancelled_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint bisect_jobs_delivery_id_key unique (delivery_id),
  constraint bisect_jobs_comment_key unique (repository_id, comment_id),
  constraint bisect_jobs_state_check check (state in ('queued', 'dispatching', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
  constraint bisect_jobs_verdict_check check (verdict is null or verdict in ('culprit', 'ambiguous', 'no-culprit', 'error')),
  constraint bisect_jobs_attempts_check check (attempts >= 0 and attempts <= max_attempts),
  constraint bisect_jobs_lease_check check ((locked_by is null) = (lease_expires_at is null)),
  constraint bisect_jobs_origin_check check (origin in ('comment', 'auto')),
  -- An automatic bisect has no comment, and no thread until its answer opens an issue.
  constraint bisect_jobs_thread_check check (origin = 'auto' or (issue_number is not null and comment_id is not null)),
  constraint bisect_jobs_free_verdicts_check check (jsonb_typeof(free_verdicts) = 'array')
);
alter table public.bisect_jobs enable row level security;

create index bisect_jobs_due_idx on public.bisect_jobs (next_check_at, id)
  where state in ('queued', 'dispatching', 'dispatched', 'running');
-- A claim reads the due jobs no one holds, and the held ones whose lease expired, each through its own index.
create index bisect_jobs_free_due_idx on public.bisect_jobs (next_check_at, id)
  where locked_by is null and state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_jobs_lease_expiry_idx on public.bisect_jobs (lease_expires_at)
  where locked_by is not null and state in ('queued', 'dispatching', 'dispatched', 'running');
create index bisect_jobs_repository_active_idx on public.bisect_jobs (repository_id)
  where state in ('dispatching', 'dispatched', 'running');
create index bisect_jobs_run_id_idx on public.bisect_jobs (run_id) where run_id is not null;
create unique index bisect_jobs_lease_token_idx on public.bisect_jobs (lease_token) where lease_token is not null;
create index bisect_jobs_thread_idx on public.bisect_jobs (repository_id, issue_number, id);
-- One automatic bisect of a red head with a command, whichever workflows went red on it.
create unique index bisect_jobs_auto_once_idx on public.bisect_jobs (repository_id, bad_sha, md5(command)) where origin = 'auto';
create index bisect_jobs_auto_recent_idx on public.bisect_jobs (repository_id, created_at) where origin = 'auto';

comment on table public.bisect_jobs is 'One row per accepted /bisect command or automatic bisect: what to bisect, where it stands (state), who holds it (lease), and its answer.';
select public.bisect_comment_columns('public.bisect_jobs', $$
id: The job id: the workflow run is named "bisect <id>" and its artifact "bisect-result-<id>".
delivery_id: The webhook delivery (X-GitHub-Delivery) of the comment that asked for it.
repository: owner/name of the repository, as it was when the comment came.
repository_id: GitHub's id of the repository (stable across renames).
installation_id: The GitHub App installation whose token the worker uses for this repository.
issue_number: The issue or pull request the /bisect comment was made on, or the issue an automatic bisect opened (null until then); answers go there.
comment_id: The /bisect comment (one job per comment, whatever the redeliveries); null for an automatic bisect.
requester: Login of who asked (checked to have write access); automatic for an automatic bisect.
origin: comment (a /bisect command) or auto (a listed workflow went red on the default branch).
red_run: The failed workflow run the range ends at, when the job came from one (automatic, or /bisect <run URL>): {id, url, workflow, number}.
free_verdicts: Verdicts completed CI runs of the workflow gave for commits of the range ([{sha, verdict, runId}]): passed on as known, never tested again.
good_refs: The good refs as written in the comment.
bad_ref: The bad ref as written in the comment.
good_shas: The good refs resolved to commits when the comment came (what is bisected).
bad_sha: The bad ref resolved to a commit when the comment came (what is bisected).
command: The test command: exit 0 good, 125 skip, 1-127 bad.
options: How to bisect (flaky, parallel, first parent, time limit…) and what the App found (workflow, default branch, commit count), as JSON.
state: queued → dispatching → dispatched → running → succeeded | failed | cancelled | timed_out.
attempts: Workflow runs started so far (an infrastructure failure starts another, up to max_attempts).
max_attempts: Runs allowed before an infrastructure failure fails the job (MAX_ATTEMPTS; /bisect retry adds more).
next_check_at: When a worker looks at the job next: its turn in the queue, or the next check of its run.
locked_by: The worker holding the job (hostname:pid:start), while its lease lasts.
lease_token: Fencing token of the current lease: calls with an older token change nothing.
lease_expires_at: When the holder's lease ends; after that any worker may take the job.
dispatch_intent_attempt: The attempt whose dispatch a worker began: its run may exist, so a successor looks for it before dispatching again.
run_id: The workflow run of the current attempt.
run_url: Link to that workflow run.
dispatched_at: When the current attempt's run was dispatched (its time limit counts from here).
noted_run_id: A run a workflow_run webhook said completed (possibly before its dispatch was recorded).
noted_conclusion: How that run concluded (success, failure, cancelled…).
noted_run_attempt: Which attempt of that run (a re-run reuses the run id) the newest event was about: events of older attempts change nothing.
failed_checks: Looks at the job in a row that came to nothing (an error from GitHub, an unusable answer, or its worker dying while holding it); a few in a row end the attempt, and none outlive the time limit.
resume_from_attempt: Verdicts of attempts from this one on are passed to the next run, so it resumes instead of starting over.
round: Fan-out: the round being run or last dispatched (1, 2, …); 0 for a bisect on one runner.
round_commits: Fan-out: the commits the current round tests, one runner each.
runner_jobs: Fan-out: runner jobs dispatched so far (one per commit of every round run).
runner_minutes: Fan-out: runner minutes the tests took, each job counted in whole minutes, at least one (GitHub bills so).
status_comment_id: The comment the App keeps up to date on the thread, edited into the answer.
verdict: The answer: culprit, ambiguous (only untestable commits left), no-culprit, or error.
reason: Why there is no culprit, as the run's result document says it (e.g. flake, only-skipped-left, contradiction).
culprit_sha: The first bad commit.
confidence: How sure the answer is (1 for a deterministic test).
tested: Test runs the bisection made.
rounds: Rounds of tests (several tests of a round run at once).
error: What went wrong, for people (the last infrastructure failure, a time-out, a cancel).
cancelled_by: Login of who cancelled it with /bisect cancel.
created_at: When the comment was accepted.
updated_at: Last change of the row.
started_at: When a worker first took it from the queue.
finished_at: When it ended.
$$);

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
  constraint bisect_attempts_outcome_check check (outcome in ('running', 'succeeded', 'failed', 'cancelled', 'timed_out'))
);
alter table public.bisect_attempts enable row level security;

comment on table public.bisect_attempts is 'One row per workflow run of a job: which run, who dispatched it, how it ended and why.';
select public.bisect_comment_columns('public.bisect_attempts', $$
id: Row id.
job_id: The job.
attempt: Which attempt of the job (1, 2, …).
worker: The worker that dispatched it.
lease_token: The lease under which it was dispatched.
run_id: Its workflow run.
run_url: Link to its workflow run.
outcome: running, succeeded, failed, cancelled or timed_out.
reason: Why it ended as it did (an infrastructure failure, a time-out, a cancel).
started_at: When it was dispatched.
finished_at: When it ended.
$$);

/**
 * Section – bisect_probes
 * Every test verdict a run reported, so a retry resumes with the verdicts already known.
 */
create table public.bisect_probes (
  id bigint generated always as identity primary key,
  job_id bigint not null,
  attempt integer not null,
  sha text not null,
  verdict text not null,
  exit_code integer,
  duration_ms integer not null,
  round integer not null,
  recorded_at timestamptz not null default now(),
  -- The attempt whose run tested it (and through it, the job).
  constraint bisect_probes_attempt_fkey foreign key (job_id, attempt) references public.bisect_attempts (job_id, attempt) on delete cascade,
  constraint bisect_probes_verdict_check check (verdict in ('good', 'bad', 'skip', 'error')),
  constraint bisect_probes_sha_check check (sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$')
);
alter table public.bisect_probes enable row level security;
create index bisect_probes_job_idx on public.bisect_probes (job_id, attempt);

comment on table public.bisect_probes is 'Every test a run reported: a retry passes these verdicts on, so it resumes instead of starting over.';
select public.bisect_comment_columns('public.bisect_probes', $$
id: Row id (the order verdicts were recorded in).
job_id: The job.
attempt: The attempt whose run tested it.
sha: The commit tested.
verdict: good, bad, skip (exit 125) or error (infrastructure: 128+, a signal, a step time-out).
exit_code: The test command's exit status (null when killed or timed out).
duration_ms: How long the test ran.
round: The round it was chosen in.
recorded_at: When the App recorded it.
$$);

/**
 * Section – bisect_tasks
 * The App's side effects that are not a job: a /bisect comment to read (command), a comment to
 * post (reply), a queued job's place in the queue to show (announce). One queue, one claim,
 * one backoff and one attempt cap for all of them (the task queue migration).
 */
create table public.bisect_tasks (
  id bigint generated always as identity primary key,
  kind text not null,
  delivery_id text,
  repository text not null,
  repository_id bigint not null,
  installation_id bigint,
  issue_number integer,
  comment_id bigint,
  run_id bigint,
  job_id bigint references public.bisect_jobs (id) on delete cascade,
  payload jsonb not null default '{}'::jsonb,
  state text not null default 'pending',
  run_at timestamptz not null default now(),
  attempts integer not null default 0,
  max_attempts integer not null default 5,
  locked_by text,
  lease_token bigint,
  lease_expires_at timestamptz,
  outcome text,
  error text,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint bisect_tasks_once_key unique (kind, repository_id, comment_id),
  constraint bisect_tasks_kind_check check (kind in ('command', 'reply', 'announce', 'red-run', 'report')),
  constraint bisect_tasks_job_check check ((kind = 'announce' or kind = 'report') = (job_id is not null)),
  -- A red run and an automatic bisect's report answer no comment.
  constraint bisect_tasks_thread_check check ((kind = 'red-run' or kind = 'report') = (issue_number is null and comment_id is null)),
  constraint bisect_tasks_run_check check ((kind = 'red-run') = (run_id is not null)),
  constraint bisect_tasks_state_check check (state in ('pending', 'done', 'failed')),
  constraint bisect_tasks_attempts_check check (attempts >= 0 and attempts <= max_attempts),
  constraint bisect_tasks_lease_check check ((locked_by is null) = (lease_expires_at is null)),
  -- A comment is at most 65,536 characters; a payload is one of those and a little more.
  constraint bisect_tasks_payload_check check (octet_length(payload::text) <= 300000)
);
alter table public.bisect_tasks enable row level security;
create index bisect_tasks_due_idx on public.bisect_tasks (run_at, id) where state = 'pending';
create unique index bisect_tasks_lease_token_idx on public.bisect_tasks (lease_token) where lease_token is not null;
-- One look per red run (a re-run or a redelivery finds it), one report per job.
create unique index bisect_tasks_red_run_once_idx on public.bisect_tasks (repository_id, run_id) where kind = 'red-run';
create unique index bisect_tasks_report_once_idx on public.bisect_tasks (job_id) where kind = 'report';

comment on table public.bisect_tasks is 'Work for the App besides jobs: /bisect comments to read (command), comments to post (reply), queued jobs to announce (announce), failed CI runs to look at (red-run), automatic bisects to report (report). Each is done once per comment, run or job, whatever the redeliveries.';
select public.bisect_comment_columns('public.bisect_tasks', $$
id: Row id.
kind: command (read a /bisect comment), reply (post an answer), announce (show a waiting job's place in the queue), red-run (a workflow failed on the default branch: bisect it?), report (open the issue an automatic bisect's answer goes to).
delivery_id: The webhook delivery it came from, when it came from one.
repository: owner/name of the repository.
repository_id: GitHub's id of the repository.
installation_id: The installation whose token the worker uses.
issue_number: The issue or pull request it concerns (null for red-run and report tasks).
comment_id: The /bisect comment it concerns (one task of each kind per comment; null for red-run and report tasks).
run_id: red-run: the failed workflow run (one task per run, whatever its re-runs and redeliveries).
job_id: The job an announce task shows (while such a task is held, so is its job), or whose answer a report task reports.
payload: What the kind needs: the comment's text and author (command), the reply's text, reaction and run to cancel (reply).
state: pending (to do or retrying), done, or failed (given up).
attempts: Tries so far.
max_attempts: Tries before it is given up.
run_at: When it is due (later after a failure: exponential backoff with jitter).
locked_by: The worker doing it, while its lease lasts.
lease_token: Fencing token of the current lease.
lease_expires_at: When the holder's lease ends; after that another worker takes it.
outcome: What came of it (job 12, reply 7, posted as comment 123…).
error: The last failure, for people.
created_at: When it was queued.
finished_at: When it was done or given up.
$$);

/**
 * Section – bisect_claim_audit
 * Append-only: one row per claim of a job, by a job claim or by a task that holds it. The tests
 * read it to prove that no job is ever held by two workers at once.
 */
create table public.bisect_claim_audit (
  id bigint generated always as identity primary key,
  lease_token bigint not null constraint bisect_claim_audit_token_key unique,
  job_id bigint not null references public.bisect_jobs (id) on delete cascade,
  worker text not null,
  from_state text not null,
  attempt integer not null,
  claimed_at timestamptz not null default now()
);
alter table public.bisect_claim_audit enable row level security;

comment on table public.bisect_claim_audit is 'Every claim of a job, append-only: who took it, with which token, from which state (announce: held to show its place in the queue).';
select public.bisect_comment_columns('public.bisect_claim_audit', $$
id: Row id.
job_id: The job.
lease_token: The fencing token of the claim.
attempt: The job's attempt at the time.
worker: Who claimed it.
from_state: The job's state when claimed, or announce.
claimed_at: When.
$$);

/**
 * Section – privileges
 * No policies: only the table owner and service_role (which bypasses RLS) reach the rows. The
 * default privileges above already keep anon and authenticated out; this says it again for
 * every object that exists now, whoever created it.
 */
revoke all on all tables in schema public from public, anon, authenticated;
revoke all on all sequences in schema public from public, anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;
grant execute on all functions in schema public to service_role;
