#!/usr/bin/env bash
# The HA pair with PostgreSQL stores, as real processes on 127.0.0.11 /
# 127.0.0.12: one throwaway PostgreSQL server on 127.0.0.1 with one database
# per manager (duet_a, duet_b). Start-up and 50 sync writes on both; a planned
# switchover and back; kill -9 of the master; the old master's database
# dropped and recreated, re-seeded by snapshot after failback; an old master
# with diverged writes (made while its standby was stopped) brought back as
# standby with exactly the new master's rows.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17580
B=127.0.0.12:17580
PAIR="$A,$B"
PG=$BIN/tests/pg_throwaway
T0=$SECONDS

# --- The PostgreSQL server. pg_throwaway drops to the postgres user when run as
# root and removes its files on SIGTERM; it must get that SIGTERM before
# lib.sh's cleanup (which kills with SIGKILL, and then waits for every child).
declare -A PID
PG_PID=
PG_DIR=
stop_all() {
  # A subshell killed right after its fork (the watchdog of lib.sh's wait_exit)
  # can run this shell's EXIT trap (bash 5.2): it must not stop the test's processes.
  [ "$BASHPID" = "$$" ] || return 0
  local p
  for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -TERM "$PG_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  # Last resort if pg_throwaway itself died: the postmaster by its pid file, then its files.
  if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    kill -INT "$(head -n 1 "$PG_DIR/data/postmaster.pid")" 2>/dev/null || true
    sleep 1
  fi
  if [ -n "$PG_DIR" ] && [[ "$PG_DIR" == /tmp/duet-pg-* ]]; then rm -rf "$PG_DIR"; fi
  cleanup
}
trap stop_all EXIT

start "$WORK/pg.log" "$PG"
PG_PID=$LAST_PID
wait_until 60 grep -q "^conninfo:" "$WORK/pg.log" || fail "throwaway PostgreSQL did not start"
PG_PORT=$(sed -n 's/^conninfo:.* port=\([0-9]*\).*/\1/p' "$WORK/pg.log")
[ -n "$PG_PORT" ] || fail "no port in $(cat "$WORK/pg.log")"
sql() { PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$PG_PORT user=duet dbname=postgres" -c "$1"; }
PG_DIR=$(sql "show data_directory" | sed 's,/data$,,') || fail "cannot ask PostgreSQL"
sql "CREATE DATABASE duet_a" || fail "create duet_a"
sql "CREATE DATABASE duet_b" || fail "create duet_b"

pg_pair_config() {  # NAME ADDR PEER PEER_ADDR
  local conninfo="host=127.0.0.1 port=$PG_PORT user=duet dbname=duet_$1 connect_timeout=2"
  manager_config "$WORK/$1.yaml" "$1" "$2" \
    "{ postgres: \"$conninfo\", retry_initial_ms: 100, retry_max_ms: 1000 }" "{ insecure: true }" \
    "peer: { name: $3, address: \"$4\" }
ha:   { interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"] }"
}
pg_pair_config a "$A" b "$B"
pg_pair_config b "$B" a "$A"

start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
view() { ctl_insecure --manager "$1" status --json 2>/dev/null; }
role() { node_role "$1"; }
epoch() { node_epoch "$1"; }
roles() { echo "a $(role "$A")/e$(epoch "$A"), b $(role "$B")/e$(epoch "$B")"; }
# rows ADDR: that node's own copy as sorted "key=value" lines.
rows() { ctl_insecure --manager "$1" settings list --json 2>/dev/null | jq -r '.settings[] | "\(.key)=\(.value)"' | LC_ALL=C sort; }
EXPECTED=$WORK/expected
: >"$EXPECTED"
expected() { LC_ALL=C sort "$EXPECTED"; }
has_expected() { [ "$(rows "$1")" = "$(expected)" ]; }
diff_expected() { diff <(expected) <(rows "$1") | head -n 20; }
# put KEY VALUE MASTER REPLICATED: one acknowledged write through the pair,
# answered by MASTER with "replicated" = REPLICATED; remembered as expected.
put() {
  local out
  out=$(ctl_insecure --manager "$PAIR" settings set "$1" "$2" --json 2>&1) || fail "settings set $1: $out"
  echo "$out" | jq -e --arg n "$3" --argjson r "$4" '.node == $n and .replicated == $r' >/dev/null \
    || fail "write $1: expected node $3, replicated $4: $out"
  echo "$1=$2" >>"$EXPECTED"
}
pg_backend() { view "$1" | jq -e '.store.backend == "postgres" and .store.state == "ok"' >/dev/null; }
step() { pass "$1 ($((SECONDS - T0)) s)"; }

# --- 1. Start-up: a master (equal empty journals: the smaller name), b standby;
# 50 sync writes, each acknowledged only once b made it durable.
start_node a 1
start_node b 1
wait_until 30 is_role "$A" master || fail "a never became master: $(roles)"
wait_until 15 is_role "$B" standby || fail "b never became standby: $(roles)"
pg_backend "$A" && pg_backend "$B" || fail "store not PostgreSQL/ok: $(view "$A" | jq -c .store) $(view "$B" | jq -c .store)"
[ "$(epoch "$A")" = 1 ] || fail "a epoch $(epoch "$A"), expected 1"
for i in $(seq -w 1 50); do put "start/$i" "v$i" a true; done
has_expected "$A" || fail "a lacks writes: $(diff_expected "$A")"
has_expected "$B" || fail "standby b lacks acknowledged writes: $(diff_expected "$B")"
[ "$(rows "$B" | wc -l)" = 50 ] || fail "b has $(rows "$B" | wc -l) rows"
view "$A" | jq -e '.running_alone == false and (.nodes[] | select(.name == "b") | .lag_records == 0)' >/dev/null \
  || fail "master status after sync writes: $(view "$A")"
step "start-up on PostgreSQL: a master in epoch 1, b standby; 50 sync writes all on b"

# --- 2. Planned switchover and back: a new epoch each time, nothing lost.
e=$(epoch "$A")
out=$("$DUETCTL" --insecure --manager "$PAIR" switchover --wait 20 2>&1) || fail "switchover: $out"
echo "$out" | grep -q "done: master + standby, roles swapped" || fail "switchover output: $out"
is_role "$B" master && is_role "$A" standby || fail "after switchover: $(roles)"
[ "$(epoch "$B")" = $((e + 1)) ] || fail "b epoch $(epoch "$B") after switchover, expected $((e + 1))"
wait_until 5 bash -c "[ \"\$(\"$DUETCTL\" --insecure --timeout 2 --manager $A status --json | jq -r '.nodes[] | select(.self) | .epoch')\" = $((e + 1)) ]" \
  || fail "a did not take the new epoch: $(roles)"
has_expected "$B" || fail "new master b lacks writes: $(diff_expected "$B")"
for i in $(seq -w 1 10); do put "switched/$i" "w$i" b true; done
has_expected "$A" || fail "standby a lacks writes after switchover: $(diff_expected "$A")"
step "switchover: b master in epoch $((e + 1)), a standby; every write on b; 10 more sync writes on a"

out=$("$DUETCTL" --insecure --manager "$PAIR" switchover --wait 20 2>&1) || fail "switchover back: $out"
echo "$out" | grep -q "done: master + standby, roles swapped" || fail "switchover back output: $out"
is_role "$A" master && is_role "$B" standby || fail "after switchover back: $(roles)"
[ "$(epoch "$A")" = $((e + 2)) ] || fail "a epoch $(epoch "$A") after switchover back, expected $((e + 2))"
has_expected "$A" || fail "a lacks writes after switchover back: $(diff_expected "$A")"
has_expected "$B" || fail "b lacks writes after switchover back: $(diff_expected "$B")"
step "switchover back: a master in epoch $((e + 2)), b standby; both hold all $(expected | wc -l) rows"

# --- 3. kill -9 of the master: b takes over with every acknowledged write.
for i in $(seq -w 1 20); do put "before-kill/$i" "k$i" a true; done
e=$(epoch "$A")
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
wait_until 10 is_role "$B" master || fail "b did not take over after kill -9: $(roles)"
[ "$(epoch "$B")" = $((e + 1)) ] || fail "b epoch $(epoch "$B") after failover, expected $((e + 1))"
view "$B" | jq -e '.master == "b" and (.nodes[] | select(.name == "a") | .role == "down")' >/dev/null \
  || fail "b's view after failover: $(view "$B")"
has_expected "$B" || fail "new master b lost acknowledged writes: $(diff_expected "$B")"
step "kill -9 of the master: b master in epoch $((e + 1)) with all $(expected | wc -l) acknowledged rows"

# --- 4. The old master's database emptied while it is down; restart; failback
# re-seeds it from b's snapshot.
for i in $(seq -w 1 5); do put "alone/$i" "l$i" b false; done   # b alone: not replicated
sql "DROP DATABASE duet_a WITH (FORCE)" || fail "drop duet_a"
sql "CREATE DATABASE duet_a" || fail "recreate duet_a"
start_node a 2
wait_until 30 bash -c "\"$DUETCTL\" --insecure --timeout 2 --manager $A status --json >/dev/null 2>&1" \
  || fail "restarted a does not answer"
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 60 2>&1) || fail "failback: $out"
echo "$out" | grep -q "done: master + standby" || fail "failback output: $out"
is_role "$B" master && is_role "$A" standby || fail "after failback: $(roles)"
[ "$(epoch "$A")" = "$(epoch "$B")" ] || fail "epochs differ after re-seed: $(roles)"
grep -q "open at schema version [0-9]*; journal LSN 0\.\.0; epoch 0" "$WORK/a.2.log" \
  || fail "a did not start from an empty database: $(grep 'open at' "$WORK/a.2.log")"
grep -q "re-seeding from the master's snapshot at LSN" "$WORK/a.2.log" || fail "a did not log re-seeding"
grep -q "restored the master's snapshot at LSN" "$WORK/a.2.log" || fail "a did not log the restore"
grep -q "streaming a snapshot at LSN" "$WORK/b.1.log" || fail "b did not log streaming a snapshot"
wait_until 10 has_expected "$A" || fail "re-seeded a differs from the expected rows: $(diff_expected "$A")"
has_expected "$B" || fail "b differs: $(diff_expected "$B")"
wait_until 5 bash -c "\"$DUETCTL\" --insecure --timeout 2 --manager $B status --json | jq -e '.running_alone == false' >/dev/null" \
  || fail "b still runs alone with a re-seeded: $(view "$B")"
put "after-reseed/1" "r1" b true
has_expected "$A" || fail "a lacks the write after re-seed: $(diff_expected "$A")"
step "emptied database: a re-seeded by snapshot after failback, standby in epoch $(epoch "$A") with all $(expected | wc -l) rows"

# --- 5. A diverged old master: b (master) writes while its standby a is
# stopped; then b is killed, a is forced master and writes other rows; b comes
# back with a history a does not have: fenced, and after failback a standby
# with exactly a's rows.
kill -TERM "${PID[a]}"
wait_exit "${PID[a]}" 15
wait_until 10 bash -c "\"$DUETCTL\" --insecure --timeout 2 --manager $B status --json | jq -e '.running_alone == true' >/dev/null" \
  || fail "b does not run alone with a stopped"
cp "$EXPECTED" "$WORK/expected.common"
for i in $(seq -w 1 5); do put "b-only/$i" "x$i" b false; done
eb=$(epoch "$B")
kill -KILL "${PID[b]}"
wait_exit "${PID[b]}" 5
cp "$WORK/expected.common" "$EXPECTED"   # b's lone writes are lost with b
start_node a 3
wait_until 30 is_role "$A" syncing || fail "a alone is $(role "$A"), expected syncing"
ctl_insecure --manager "$A" promote --force >/dev/null || fail "promote --force a"
wait_until 10 is_role "$A" master || fail "a not master after promote --force: $(roles)"
ea=$(epoch "$A")
[ "$ea" -gt "$eb" ] || fail "forced a in epoch $ea, not above b's $eb"
for i in $(seq -w 1 8); do put "a-only/$i" "y$i" a false; done
start_node b 2
wait_until 15 is_role "$B" fenced || fail "diverged b is $(role "$B"), expected fenced"
view "$B" | jq -e '.nodes[] | select(.self) | .detail | test("diverged")' >/dev/null \
  || fail "b's detail does not say diverged: $(view "$B" | jq -c '.nodes[] | select(.self)')"
is_role "$A" master || fail "a lost master when diverged b came back: $(roles)"
rows "$B" | grep -q "^b-only/1=x1$" || fail "b lost its diverged rows before failback"
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 60 2>&1) || fail "failback of diverged b: $out"
echo "$out" | grep -q "done: master + standby" || fail "failback output: $out"
is_role "$A" master && is_role "$B" standby || fail "after failback of diverged b: $(roles)"
[ "$(epoch "$B")" = "$ea" ] || fail "b epoch $(epoch "$B"), master's $ea"
grep -q "re-seeding from the master's snapshot (failback)" "$WORK/b.2.log" || fail "b did not log the failback re-seed"
wait_until 10 has_expected "$B" || fail "b differs from the master's rows: $(diff_expected "$B")"
has_expected "$A" || fail "a differs: $(diff_expected "$A")"
[ "$(rows "$A")" = "$(rows "$B")" ] || fail "a and b differ"
rows "$B" | grep -q "^b-only/" && fail "b kept diverged rows"
grep -q -- "-> master" "$WORK/b.2.log" && fail "diverged b acted as master: $(grep -- '-> master' "$WORK/b.2.log")"
put "after-failback/1" "f1" a true
has_expected "$B" || fail "b lacks the write after failback: $(diff_expected "$B")"
step "diverged old master: b fenced, after failback standby in epoch $ea with exactly a's $(expected | wc -l) rows"

kill -TERM "${PID[a]}" "${PID[b]}"
wait_exit "${PID[a]}" 15; [ "$WAIT_RC" = 0 ] || fail "a stop: $WAIT_RC"
wait_exit "${PID[b]}" 15; [ "$WAIT_RC" = 0 ] || fail "b stop: $WAIT_RC"
echo "ha_postgres_pair: all passed in $((SECONDS - T0)) s"
