#!/usr/bin/env bash
# A manager whose PostgreSQL is down keeps running, retries with backoff,
# reports it, never logs the password, and starts serving once it is up.
source "$(dirname "$0")/lib.sh"
addr=127.0.1.4:17420
PG=$BIN/tests/pg_throwaway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
       shuf -i 20000-40000 -n 1)
conninfo="host=127.0.0.1 port=$port user=duet password=s3cr3t-pw dbname=postgres connect_timeout=2"
manager_config "$WORK/a.yaml" a "$addr" "{ postgres: \"$conninfo\", retry_initial_ms: 100, retry_max_ms: 1000 }" \
  "{ insecure: true }"
start "$WORK/a.log" "$MANAGER" --config "$WORK/a.yaml"
mpid=$LAST_PID

connecting() {
  ctl_insecure --manager "$addr" status --json 2>/dev/null |
    jq -e '.master == null and .store.state == "connecting" and .store.backend == "postgres" and .nodes[0].role == "syncing"' >/dev/null
}
wait_until 20 connecting || fail "status does not show the store connecting"
wait_until 20 bash -c "[ \$(grep -c 'retrying in' '$WORK/a.log') -ge 3 ]" || fail "no retries logged"
kill -0 "$mpid" || fail "manager died while PostgreSQL was down"
grep -q "s3cr3t-pw" "$WORK/a.log" && fail "password in the log"
ctl_insecure --manager "$addr" status --json | grep -q "s3cr3t-pw" && fail "password in status"
grep -q "password=\*\*\*" "$WORK/a.log" || fail "redacted conninfo not shown"
pass "PostgreSQL down: manager stays up, retries with backoff, shows 'connecting', hides the password"

start "$WORK/pg.log" "$PG" --port "$port"
pgpid=$LAST_PID
wait_until 60 grep -q "^conninfo:" "$WORK/pg.log" || fail "throwaway PostgreSQL did not start"
ok_pg() {
  ctl_insecure --manager "$addr" status --json 2>/dev/null |
    jq -e '.master == "a" and .store.state == "ok" and .nodes[0].epoch == 1' >/dev/null
}
wait_until 30 ok_pg || fail "manager did not connect once PostgreSQL came up"
pass "once PostgreSQL is up the manager opens, migrates and serves as master"

kill -TERM "$mpid"
wait_exit "$mpid" 15; [ "$WAIT_RC" = 0 ] || fail "stop"
kill -TERM "$pgpid"
wait_exit "$pgpid" 30; [ "$WAIT_RC" = 0 ] || fail "pg_throwaway stop"
echo "manager_postgres: all passed"
