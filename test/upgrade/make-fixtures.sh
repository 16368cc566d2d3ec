#!/bin/sh
# Makes test/upgrade/fixtures/COMMIT/ (default 34ca2f8): a SQLite data directory and a pg_dump of a
# PostgreSQL schema, each written by that commit's code through its API (seed-old.ts), with that
# version's answers to the questions of questions.ts. upgrade.test.ts opens them with today's code.
#
#   test/upgrade/make-fixtures.sh [COMMIT [CHECKOUT]]
#
# CHECKOUT: an existing checkout of COMMIT with its node_modules installed (else a temporary
# worktree is made and npm ci runs in it). PostgreSQL: $SIGMALITE_TEST_POSTGRES or the tests' URL.
#
# Needs git, npm, tsx (from the old commit's devDependencies), psql and pg_dump.
set -eu
COMMIT=${1:-34ca2f8}
URL=${SIGMALITE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
REPO=$(git rev-parse --show-toplevel)
OUT=$REPO/test/upgrade/fixtures/$COMMIT
# A name that appears nowhere in the data (the test replaces it with a schema of its own); also
# the name of the scratch database the old version writes.
SCHEMA=sigmalite_upgrade_fixture

if [ $# -ge 2 ]; then
  WT=$(cd "$2" && pwd)
  [ "$(git -C "$WT" rev-parse HEAD)" = "$(git -C "$REPO" rev-parse "$COMMIT^{commit}")" ] ||
    { echo "$WT is not a checkout of $COMMIT" >&2; exit 1; }
  cd "$WT"
else
  WT=$(mktemp -d /tmp/sigmalite-upgrade-XXXXXX)
  git -C "$REPO" worktree add --detach "$WT" "$COMMIT"
  trap 'git -C "$REPO" worktree remove --force "$WT"' EXIT
  cd "$WT"
  npm ci --no-audit --no-fund
fi
mkdir -p test/upgrade
cp "$REPO/test/upgrade/seed-old.ts" "$REPO/test/upgrade/questions.ts" test/upgrade/

rm -rf "$OUT"
mkdir -p "$OUT"
npx tsx test/upgrade/seed-old.ts sqlite "$OUT/sqlite" > "$OUT/sqlite.answers.json"

# A database of its own, as a real start uses one (schema public), renamed before the dump.
DB_URL=$(echo "$URL" | sed "s#/[^/]*\$#/$SCHEMA#")
psql -q "$URL" -c "DROP DATABASE IF EXISTS $SCHEMA" -c "CREATE DATABASE $SCHEMA"
npx tsx test/upgrade/seed-old.ts postgres "$DB_URL" > "$OUT/postgres.answers.json"
psql -q "$DB_URL" -c "ALTER SCHEMA public RENAME TO $SCHEMA"
# Plain INSERTs (no COPY ... FROM stdin), so the test can run the dump through `pg`.
pg_dump --schema="$SCHEMA" --inserts --no-owner --no-privileges "$DB_URL" > "$OUT/postgres.sql"
psql -q "$URL" -c "DROP DATABASE $SCHEMA"
echo "made $OUT"
