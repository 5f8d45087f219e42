/**
 * Section – seed
 * A few realistic jobs for a local dashboard (`supabase db reset` runs this after the
 * migrations): one culprit found, one waiting in a full repository, one running, one failed
 * after its attempts, one cancelled. Not used by the tests or in production.
 */
insert into public.bisect_jobs (
  delivery_id, repository, repository_id, installation_id, issue_number, comment_id, requester,
  good_refs, bad_ref, good_shas, bad_sha, command, options, state, attempts, max_attempts,
  run_id, run_url, verdict, culprit_sha, confidence, tested, rounds, error,
  created_at, started_at, finished_at
) values
  ('seed-1', 'octo-org/widget', 1001, 42, 17, 9000001, 'mona',
   array['v1.4.0'], 'main', array['8a1b2c3d4e5f60718293a4b5c6d7e8f901234567'], '1f2e3d4c5b6a79880796a5b4c3d2e1f098765432',
   'npm ci && npm test', '{"firstParent": false, "flaky": false, "parallel": 4, "confidence": 0.99, "timeoutSeconds": 1800, "stepTimeoutSeconds": 0, "workflow": "bisect.yml", "defaultBranch": "main", "commits": 120, "setup": null, "pullRequest": null}', 'succeeded', 1, 3,
   7100001, 'https://github.com/octo-org/widget/actions/runs/7100001', 'culprit', 'c0ffee254729296a45a3885639ac7d3e84d95a32', 1, 11, 4, null,
   now() - interval '3 hours', now() - interval '3 hours', now() - interval '2 hours 51 minutes'),
  ('seed-2', 'octo-org/widget', 1001, 42, 23, 9000002, 'hubot',
   array['v1.5.0'], 'main~3', array['2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e'], '3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f',
   'make test', '{"firstParent": false, "flaky": true, "parallel": 1, "confidence": 0.99, "timeoutSeconds": 1800, "stepTimeoutSeconds": 0, "workflow": "bisect.yml", "defaultBranch": "main", "commits": 120, "setup": null, "pullRequest": null}', 'running', 1, 3,
   7100002, 'https://github.com/octo-org/widget/actions/runs/7100002', null, null, null, null, null, null,
   now() - interval '12 minutes', now() - interval '12 minutes', null),
  ('seed-3', 'octo-org/widget', 1001, 42, 24, 9000003, 'mona',
   array['v1.5.0'], 'main', array['2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e'], '4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70',
   'make test', '{"firstParent": false, "flaky": false, "parallel": 1, "confidence": 0.99, "timeoutSeconds": 1800, "stepTimeoutSeconds": 0, "workflow": "bisect.yml", "defaultBranch": "main", "commits": 120, "setup": null, "pullRequest": null}', 'queued', 0, 3,
   null, null, null, null, null, null, null, null,
   now() - interval '2 minutes', null, null),
  ('seed-4', 'octo-org/gadget', 1002, 43, 5, 9000004, 'octocat',
   array['release-2.0'], 'main', array['5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081'], '6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192',
   'cargo test', '{"firstParent": false, "flaky": false, "parallel": 1, "confidence": 0.99, "timeoutSeconds": 1800, "stepTimeoutSeconds": 0, "workflow": "bisect.yml", "defaultBranch": "main", "commits": 120, "setup": null, "pullRequest": null}', 'failed', 3, 3,
   null, null, null, null, null, 4, 3, 'The run was cancelled by GitHub three times (runner lost).',
   now() - interval '1 day', now() - interval '1 day', now() - interval '23 hours'),
  ('seed-5', 'octo-org/gadget', 1002, 43, 9, 9000005, 'octocat',
   array['v2.1.0'], 'main', array['708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3'], '8192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4',
   'cargo test', '{"firstParent": false, "flaky": false, "parallel": 1, "confidence": 0.99, "timeoutSeconds": 1800, "stepTimeoutSeconds": 0, "workflow": "bisect.yml", "defaultBranch": "main", "commits": 120, "setup": null, "pullRequest": null}', 'cancelled', 1, 3,
   null, null, null, null, null, 2, 1, 'cancelled by octocat',
   now() - interval '5 hours', now() - interval '5 hours', now() - interval '4 hours 58 minutes');

update public.bisect_jobs set cancelled_by = 'octocat' where delivery_id = 'seed-5';

insert into public.bisect_attempts (job_id, attempt, worker, lease_token, run_id, run_url, outcome, started_at, finished_at)
select j.id, 1, 'seed-host:1:2026-11-28T09:00:00Z', 1, j.run_id, j.run_url, 'succeeded', j.started_at, j.finished_at
from public.bisect_jobs j where j.delivery_id = 'seed-1';

insert into public.bisect_probes (job_id, attempt, sha, verdict, exit_code, duration_ms, round)
select j.id, 1, p.sha, p.verdict, p.exit_code, p.duration_ms, p.round
from public.bisect_jobs j,
  (values
    ('4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b', 'good', 0, 48120, 1),
    ('5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c', 'bad', 1, 51230, 1),
    ('6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d', 'good', 0, 47010, 2),
    ('c0ffee254729296a45a3885639ac7d3e84d95a32', 'bad', 1, 49870, 3)
  ) as p(sha, verdict, exit_code, duration_ms, round)
where j.delivery_id = 'seed-1';
