#!/usr/bin/env bash
# Makes a git repository with a known regression, for CI's self-test of the Action:
#   make-fixture-repo.sh <dir> [commits] [culprit]
# Commit 0 is tagged v1.0; from commit <culprit> on, the file `bug` exists, so `test ! -e bug`
# fails. Prints the culprit's sha (and writes culprit=<sha> to $GITHUB_OUTPUT when set).
set -euo pipefail
dir=$1 commits=${2:-64} culprit=${3:-37}
mkdir -p "$dir"
cd "$dir"
git init --quiet
git config user.name "Fixture"
git config user.email "fixture@example.com"
# Anything else in the directory (say, a checkout of bisect-bot) stays out of the fixture.
printf '*\n!.gitignore\n!counter\n!bug\n' > .gitignore
for i in $(seq 0 $((commits - 1))); do
  echo "$i" > counter
  if [ "$i" -eq "$culprit" ]; then echo "regression" > bug; fi
  git add .gitignore counter $( [ -e bug ] && echo bug )
  git commit --quiet -m "commit $i"
  if [ "$i" -eq 0 ]; then git tag v1.0; fi
  if [ "$i" -eq "$culprit" ]; then sha=$(git rev-parse HEAD); fi
done
echo "$sha"
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "culprit=$sha" >> "$GITHUB_OUTPUT"; fi
