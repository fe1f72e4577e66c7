#!/usr/bin/env bash
# The HA pair as real processes on 127.0.0.11 / 127.0.0.12: start-up election,
# kill -9 of the master, restart of the old master, SIGSTOP / SIGCONT (it must
# come back fenced, never master), failback, wait-for-all and promote --force.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17520
B=127.0.0.12:17520
PAIR="$A,$B"

pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
view() { ctl_insecure --manager "$1" status --json 2>/dev/null; }
role() { node_role "$1"; }
epoch() { node_epoch "$1"; }

# Start-up: both nodes, one master by the rule (equal journals: the smaller name).
start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
# a sees b as standby from b's next heartbeat (up to an interval after b's own view).
peer_row_ok() {
  json=$(ctl_insecure --manager "$PAIR" status --json)
  echo "$json" | jq -e '.nodes[1] | .name == "b" and .role == "standby" and (.heartbeat_age_ms | type == "number") and .heartbeat_age_ms < 1000' >/dev/null
}
wait_until 5 peer_row_ok || fail "peer row: $json"
echo "$json" | jq -e '.master == "a" and .ha == "pair" and (.nodes | length == 2)' >/dev/null || fail "pair status: $json"
[ "$(epoch "$A")" = 1 ] || fail "a epoch $(epoch "$A")"
pass "start-up: a master in epoch 1, b standby; status shows both with heartbeat age"

# kill -9 of the master: b takes over in epoch 2.
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
wait_until 10 is_role "$B" master || fail "b did not take over after kill -9"
[ "$(epoch "$B")" = 2 ] || fail "b epoch $(epoch "$B")"
ctl_insecure --manager "$B" status --json | jq -e '.master == "b" and .nodes[1].role == "down"' >/dev/null || fail "b view after failover"
pass "kill -9 of the master: b master in epoch 2, a shown down"

# The old master restarts with its disk: it follows, it does not take over.
start_node a 2
wait_until 15 is_role "$A" standby || fail "restarted a is $(role "$A"), not standby"
is_role "$B" master || fail "b lost master when a came back"
pass "the old master restarts as standby"

# SIGSTOP of the master: a takes over; on SIGCONT b must come back fenced, never acting.
kill -STOP "${PID[b]}"
wait_until 10 is_role "$A" master || fail "a did not take over from a stopped b"
[ "$(epoch "$A")" = 3 ] || fail "a epoch $(epoch "$A")"
kill -CONT "${PID[b]}"
for _ in $(seq 1 20); do
  r=$(view "$B" | jq -r '.master // "none"')
  [ "$r" = b ] && fail "b acted as master after SIGCONT"
  sleep 0.1
done
wait_until 10 is_role "$B" fenced || fail "b is $(role "$B") after SIGCONT, not fenced"
pass "SIGSTOP of the master: a master in epoch 3; after SIGCONT b is fenced and never acted"

# failback: one command brings the pair back to master + standby.
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 20 2>&1) || fail "failback: $out"
echo "$out" | grep -q "done: master + standby" || fail "failback output: $out"
is_role "$A" master && is_role "$B" standby || fail "after failback: a $(role "$A"), b $(role "$B")"
pass "failback: master + standby again"

# Switchover: writes first, then a planned swap; the new master has every write.
for i in $(seq 1 30); do
  ctl_insecure --manager "$PAIR" settings set "before-switchover/$i" "v$i" >/dev/null || fail "write $i"
done
e_before=$(node_epoch "$A")
out=$("$DUETCTL" --insecure --manager "$PAIR" switchover --wait 20 2>&1) || fail "switchover: $out"
echo "$out" | grep -q "done: master + standby, roles swapped" || fail "switchover output: $out"
is_role "$B" master && is_role "$A" standby || fail "after switchover: a $(role "$A"), b $(role "$B")"
[ "$(node_epoch "$B")" -gt "$e_before" ] || fail "switchover did not take a new epoch"
n=$(ctl_insecure --manager "$B" settings list --json | jq '[.settings[] | select(.key | startswith("before-switchover/"))] | length')
[ "$n" = 30 ] || fail "the new master has $n of 30 writes"
pass "switchover: b master in a new epoch, a standby, all 30 writes on b"
# And back: the pair can swap again.
"$DUETCTL" --insecure --manager "$PAIR" switchover --wait 20 >/dev/null 2>&1 || fail "switchover back"
is_role "$A" master && is_role "$B" standby || fail "after the second switchover: a $(role "$A"), b $(role "$B")"
pass "switchover back: a master again"

# Wait-for-all: a node alone never promotes itself; promote --force does.
kill -TERM "${PID[a]}" "${PID[b]}"
wait_exit "${PID[a]}" 15
wait_exit "${PID[b]}" 15
start_node b 3
sleep 2.5   # more than twice the failover timeout
is_role "$B" syncing || fail "b alone is $(role "$B"), expected syncing (wait-for-all)"
ctl_insecure --manager "$B" status --json | jq -e '.master == null' >/dev/null || fail "a master without the peer"
out=$(ctl_insecure --manager "$B" promote 2>&1) && fail "promote without --force succeeded"
echo "$out" | grep -q "add --force" || fail "promote without --force: $out"
ctl_insecure --manager "$B" promote --force >/dev/null || fail "promote --force"
wait_until 10 is_role "$B" master || fail "b not master after promote --force"
e=$(epoch "$B")
[ "$e" -ge 4 ] || fail "b epoch after promote --force: $e"
pass "wait-for-all: b alone stays syncing; promote --force makes it master (epoch $e)"

# The other node joins the forced master.
start_node a 4
wait_until 15 is_role "$A" standby || fail "a did not join b"
pass "a joins the forced master as standby"
echo "ha_pair: all passed"
