#!/usr/bin/env bash
# Journal replication between real processes on 127.0.0.11 / 127.0.0.12:
# 200 settings written through the master in sync mode; kill -9 of the master
# loses none of them; the old master restarts and catches up as standby; a
# node restarted with an empty data directory is re-seeded from a snapshot
# after `duetctl failback`.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17560
B=127.0.0.12:17560
PAIR="$A,$B"

pair_config() {  # NAME ADDR PEER PEER_ADDR
  manager_config "$WORK/$1.yaml" "$1" "$2" "{ sqlite: \"$WORK/$1/$1.db\" }" "{ insecure: true }" \
    "peer: { name: $3, address: \"$4\" }
ha:   { interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"] }"
}
pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
view() { ctl_insecure --manager "$1" status --json 2>/dev/null; }
role() { view "$1" | jq -r '.nodes[] | select(.self) | .role'; }
is_role() { [ "$(role "$1")" = "$2" ]; }
# settings ADDR: that node's own copy, as "key=value" lines in key order
settings() { ctl_insecure --manager "$1" settings list --json 2>/dev/null | jq -r '.settings[] | "\(.key)=\(.value)"'; }
count() { ctl_insecure --manager "$1" settings list --json 2>/dev/null | jq '.settings | length'; }
same_settings() { [ "$(settings "$1")" = "$(settings "$2")" ] && [ -n "$(settings "$1")" ]; }
has_count() { [ "$(count "$1")" = "$2" ]; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
pass "pair up: a master, b standby"

# A standby refuses writes and names the master.
out=$(ctl_insecure --manager "$B" settings set k v 2>&1) && fail "standby accepted a write"
echo "$out" | grep -q "not master; the master is a" || fail "standby refusal: $out"
pass "the standby refuses writes, naming the master"

for i in $(seq 1 200); do
  out=$(ctl_insecure --manager "$PAIR" settings set "key$(printf %03d "$i")" "value$i" --json) \
    || fail "settings set $i: $out"
  echo "$out" | jq -e '.node == "a" and .replicated == true' >/dev/null \
    || fail "write $i not acknowledged as replicated: $out"
done
has_count "$A" 200 || fail "a has $(count "$A") settings"
has_count "$B" 200 || fail "b has $(count "$B") settings right after the sync writes"
same_settings "$A" "$B" || fail "a and b differ"
json=$(ctl_insecure --manager "$A" status --json)
echo "$json" | jq -e '.sync_mode == "sync" and .running_alone == false and
  (.nodes[] | select(.name == "b") | .lag_records == 0 and .applied_lsn >= 200)' >/dev/null \
  || fail "master status: $json"
pass "200 settings written in sync mode, each replicated before its answer; lag 0"

kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
wait_until 10 is_role "$B" master || fail "b did not take over after kill -9"
has_count "$B" 200 || fail "new master b has $(count "$B") settings, not 200"
pass "kill -9 of the master: b master with all 200 settings"

# Alone, b still answers writes (sync mode, no standby): replicated = false.
out=$(ctl_insecure --manager "$B" settings set alone yes --json) || fail "write on lone b: $out"
echo "$out" | jq -e '.replicated == false' >/dev/null || fail "lone write: $out"
view "$B" | jq -e '.running_alone == true' >/dev/null || fail "b does not say it runs alone"
pass "the lone master answers writes and says it runs alone"

start_node a 2
wait_until 15 is_role "$A" standby || fail "restarted a is $(role "$A"), not standby"
wait_until 10 same_settings "$A" "$B" || fail "a did not catch up"
has_count "$A" 201 || fail "a has $(count "$A") settings"
wait_until 5 bash -c "$(declare -f view ctl_insecure); DUETCTL=$DUETCTL; view $B | jq -e '.running_alone == false' >/dev/null" \
  || fail "b still runs alone with a caught up"
out=$(ctl_insecure --manager "$PAIR" settings set after restart --json) || fail "write: $out"
echo "$out" | jq -e '.node == "b" and .replicated == true' >/dev/null || fail "write after catch-up: $out"
pass "the old master restarts, catches up as standby; b back in sync"

# An empty data directory: stop a, delete it, restart, failback -> re-seeded.
kill -TERM "${PID[a]}"
wait_exit "${PID[a]}" 15
rm -rf "${WORK:?}/a"
start_node a 3
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 20 2>&1) || fail "failback: $out"
echo "$out" | grep -q "done: master + standby" || fail "failback output: $out"
wait_until 10 same_settings "$A" "$B" || fail "a not re-seeded: $(count "$A") vs $(count "$B")"
grep -q "restored the master's snapshot" "$WORK/a.3.log" || fail "a did not restore a snapshot"
has_count "$A" 202 || fail "a has $(count "$A") settings"
pass "a node with an empty data directory is re-seeded from a snapshot after failback"
