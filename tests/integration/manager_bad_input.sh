#!/usr/bin/env bash
# What duet-manager refuses, and how it says so: bad configs, a corrupt
# database (left untouched), a schema from a newer binary, a busy address.
source "$(dirname "$0")/lib.sh"
addr=127.0.1.2:17420

# Bad configs: exit 2, "config error: FILE:LINE: KEY: REASON" on stderr.
expect_config_error() {
  local expected=$1 rc=0 out
  out=$("$MANAGER" --config "$WORK/bad.yaml" 2>&1) || rc=$?
  [ "$rc" = 2 ] || fail "exit code $rc for: $expected"
  [ "$out" = "config error: $WORK/bad.yaml:$expected" ] || fail "got '$out', expected '...:$expected'"
}
printf 'node: { name: a, address: "%s" }\nstore: { sqlite: x.db }\ntls: { insecure: true }\nstroe: {}\n' "$addr" >"$WORK/bad.yaml"
expect_config_error "4: stroe: unknown key"
printf 'node: { name: a, address: "%s" }\nstore: { sqlite: x.db }\n' "$addr" >"$WORK/bad.yaml"
expect_config_error "1: (top level): missing required key 'tls'"
printf 'node: { name: a, address: "%s" }\nstore: { sqlite: x.db }\ntls: { insecure: true }\nshutdown_grace_ms: [1]\n' "$addr" >"$WORK/bad.yaml"
expect_config_error "4: shutdown_grace_ms: expected a scalar value, found a list"
rc=0; out=$("$MANAGER" --config "$WORK/nonexistent.yaml" 2>&1) || rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q "cannot be read" || fail "missing config file: $rc $out"
pass "bad configs refuse to start, naming FILE:LINE: KEY: REASON"

# A corrupt database is reported and never overwritten.
mkdir -p "$WORK/data"
head -c 20000 /dev/urandom >"$WORK/data/a.db"
sum_before=$(sha256sum <"$WORK/data/a.db")
manager_config "$WORK/a.yaml" a "$addr" "{ sqlite: \"$WORK/data/a.db\" }" "{ insecure: true }"
start "$WORK/corrupt.log" "$MANAGER" --config "$WORK/a.yaml"
wait_exit "$LAST_PID" 15; rc=$WAIT_RC
[ "$rc" = 1 ] || fail "corrupt db: exit code $rc"
grep -q "is not a SQLite database" "$WORK/corrupt.log" || fail "corrupt db: no reason in log"
[ "$(sha256sum <"$WORK/data/a.db")" = "$sum_before" ] || fail "corrupt db was modified"
pass "a corrupt database is reported, the manager exits 1, the file is untouched"

# A schema newer than the binary is refused.
rm -f "$WORK/data/a.db"
start "$WORK/fresh.log" "$MANAGER" --config "$WORK/a.yaml"
pid=$LAST_PID
wait_until 20 is_master "$addr" || fail "fresh start"
kill -TERM "$pid"; wait_exit "$pid" 15
version=$(sqlite3 "$WORK/data/a.db" "SELECT value FROM duet_meta WHERE key='schema_version'")
sqlite3 "$WORK/data/a.db" "UPDATE duet_meta SET value='99' WHERE key='schema_version'"
start "$WORK/newer.log" "$MANAGER" --config "$WORK/a.yaml"
wait_exit "$LAST_PID" 15; rc=$WAIT_RC
[ "$rc" = 1 ] || fail "newer schema: exit code $rc"
grep -q "schema version 99, newer than this binary's $version" "$WORK/newer.log" || fail "newer schema: no reason"
[ "$(sqlite3 "$WORK/data/a.db" "SELECT value FROM duet_meta WHERE key='schema_version'")" = 99 ] || fail "schema version was changed"
pass "a database from a newer binary is refused and left as it was"

# An address already in use.
sqlite3 "$WORK/data/a.db" "UPDATE duet_meta SET value='$version' WHERE key='schema_version'"
start "$WORK/first.log" "$MANAGER" --config "$WORK/a.yaml"
first=$LAST_PID
wait_until 20 is_master "$addr" || fail "first manager"
manager_config "$WORK/b.yaml" b "$addr" "{ sqlite: \"$WORK/data/b.db\" }" "{ insecure: true }"
start "$WORK/second.log" "$MANAGER" --config "$WORK/b.yaml"
wait_exit "$LAST_PID" 15; rc=$WAIT_RC
[ "$rc" = 1 ] || fail "busy address: exit code $rc"
grep -q "cannot listen on $addr" "$WORK/second.log" || fail "busy address: no reason"
kill -TERM "$first"; wait_exit "$first" 15
pass "a busy address is reported and the second manager exits 1"

# An unwritable data directory.
if [ "$(id -u)" != 0 ]; then
  mkdir -p "$WORK/ro"; chmod 0555 "$WORK/ro"
  manager_config "$WORK/ro.yaml" a "$addr" "{ sqlite: \"$WORK/ro/a.db\" }" "{ insecure: true }"
  start "$WORK/ro.log" "$MANAGER" --config "$WORK/ro.yaml"
  wait_exit "$LAST_PID" 15; rc=$WAIT_RC
  [ "$rc" = 1 ] || fail "read-only dir: exit code $rc"
  pass "an unwritable data directory is refused"
fi
echo "manager_bad_input: all passed"
