/**
 * Bisect Bot's schema: the flake rate each repository's test commands showed, learned from the
 * flaky bisects that named a culprit. Such a bisect's tests of commits the culprit is not in
 * should all have passed; those that failed anyway are false failures. Pooled per (repository,
 * command), they are the prior on the flake rate of the command's next flaky bisect.
 */

create table public.bisect_flake_rates (
  repository_id bigint not null,
  command_hash text not null,
  repository text not null,
  command text not null,
  bisects integer not null default 0,
  clean_tests integer not null default 0,
  false_failures integer not null default 0,
  updated_at timestamptz not null default now(),
  primary key (repository_id, command_hash),
  constraint bisect_flake_rates_counts_check check (clean_tests >= 0 and false_failures >= 0 and false_failures <= clean_tests)
);
alter table public.bisect_flake_rates enable row level security;

comment on table public.bisect_flake_rates is 'What flaky bisects measured of each test command''s flake rate, pooled: the prior of its next flaky bisect.';
select public.bisect_comment_columns('public.bisect_flake_rates', $$
repository_id: GitHub's id of the repository.
command_hash: md5 of the command (the key; commands may be long).
repository: owner/name, as the latest bisect saw it.
command: The test command.
bisects: Flaky bisects that reported what they measured.
clean_tests: Tests of commits the named culprit was not in (which should have passed), pooled; halved past 400 so that a test that changed is learned again.
false_failures: Those of them that failed anyway, pooled and halved alike.
updated_at: When a bisect last reported.
$$);

/**
 * Section – a flaky bisect's measurement, pooled. Beyond 400 clean tests the pool is halved: recent
 * bisects weigh more than old ones. Answers whether it was kept (a measurement of nothing is not).
 */
create function public.bisect_note_flake_evidence(
  p_repository_id bigint, p_repository text, p_command text, p_clean_tests integer, p_false_failures integer
) returns boolean language plpgsql security invoker set search_path = '' as $$
begin
  if p_clean_tests <= 0 then
    return false;
  end if;
  insert into public.bisect_flake_rates as r (repository_id, command_hash, repository, command, bisects, clean_tests, false_failures)
  values (p_repository_id, md5(p_command), p_repository, p_command, 1, p_clean_tests, least(p_false_failures, p_clean_tests))
  on conflict (repository_id, command_hash) do update set
    repository = excluded.repository,
    bisects = r.bisects + 1,
    clean_tests = case when r.clean_tests + excluded.clean_tests > 400 then (r.clean_tests + excluded.clean_tests) / 2 else r.clean_tests + excluded.clean_tests end,
    false_failures = case when r.clean_tests + excluded.clean_tests > 400 then (r.false_failures + excluded.false_failures) / 2 else r.false_failures + excluded.false_failures end,
    updated_at = now();
  return true;
end $$;

/** The pooled evidence for a command, if any flaky bisect of it reported. */
create function public.bisect_flake_history(p_repository_id bigint, p_command text)
returns table (clean_tests integer, false_failures integer) language sql stable security invoker set search_path = '' as $$
  select r.clean_tests, r.false_failures from public.bisect_flake_rates r
  where r.repository_id = p_repository_id and r.command_hash = md5(p_command);
$$;

/** Section – dashboard view: the flake rate of each command, as learned. */
create view public.bisect_command_flake_rates with (security_invoker = true) as
select
  r.repository,
  r.command,
  r.bisects,
  r.clean_tests,
  r.false_failures,
  round(r.false_failures::numeric / nullif(r.clean_tests, 0), 3) as flake_rate,
  r.updated_at
from public.bisect_flake_rates r
order by r.repository, r.updated_at desc;

comment on view public.bisect_command_flake_rates is 'Each test command''s flake rate, as its flaky bisects measured it: the prior of its next flaky bisect.';
select public.bisect_comment_columns('public.bisect_command_flake_rates', $$
repository: owner/name.
command: The test command.
bisects: Flaky bisects that measured it.
clean_tests: Tests of commits without the culprit, pooled (recent ones weigh more).
false_failures: Those that failed anyway.
flake_rate: false_failures / clean_tests: how often the test fails on code that does not break it.
updated_at: When a bisect last measured it.
$$);

revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
