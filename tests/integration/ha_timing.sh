#!/usr/bin/env bash
# Run-time change of the pair's timing with real processes on 127.0.0.11 /
# 127.0.0.12: `duetctl ha timing` changes interval and timeout on both nodes,
# a restarted standby comes back with them, out-of-bounds values are refused
# with nothing changed, --reset goes back to the config files, and after
# kill -9 of the master the standby still takes over.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17560
B=127.0.0.12:17560
PAIR="$A,$B"

pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
timing() { ctl_insecure --manager "$PAIR" ha timing --json 2>/dev/null; }
# node_timing ADDRESS: "interval/timeout source settled" as the node says of itself.
node_timing() {
  ctl_insecure --manager "$1" status --json 2>/dev/null |
    jq -r '.nodes[] | select(.self) | "\(.interval_ms)/\(.timeout_ms) \(.timing_source) \(.timing_settled)"'
}
both_at() { [ "$(node_timing "$A")" = "$1" ] && [ "$(node_timing "$B")" = "$1" ]; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
wait_until 5 both_at "200/1000 config true" || fail "start: a $(node_timing "$A"), b $(node_timing "$B")"
json=$(timing)
echo "$json" | jq -e '[.nodes[] | select(.answered)] | length == 2' >/dev/null || fail "ha timing: $json"
pass "start: both nodes at the config file's 200 ms / 1000 ms"

# Change it for the pair: both nodes report it, from the replicated setting.
out=$(ctl_insecure --manager "$PAIR" ha timing --interval 300ms --timeout 2s --wait 10 2>&1) ||
  fail "ha timing change: $out"
echo "$out" | grep -q "done: both nodes use it" || fail "change output: $out"
both_at "300/2000 setting true" || fail "after change: a $(node_timing "$A"), b $(node_timing "$B")"
ctl_insecure --manager "$A" status --json |
  jq -e '.nodes[] | select(.self) | .effective_interval_ms == 300 and .effective_timeout_ms == 2000 and .fence_after_ms == 1400' >/dev/null ||
  fail "effective timing on a: $(ctl_insecure --manager "$A" status --json)"
ctl_insecure --manager "$A" status --json | jq -e '.nodes[] | select(.self | not) | .interval_ms == 300 and .timeout_ms == 2000' >/dev/null ||
  fail "a's view of b's timing"
is_role "$A" master && is_role "$B" standby || fail "roles moved during the change"
[ "$(node_epoch "$A")" = 1 ] || fail "the epoch moved during the change"
pass "ha timing --interval 300ms --timeout 2s: both nodes at 300/2000 from the setting, no role change"

# Only the interval: the timeout stays; --json answers for scripts.
json=$(ctl_insecure --manager "$PAIR" ha timing --interval 250 --wait 10 --json) || fail "interval only: $json"
echo "$json" | jq -e '.ok and .change.interval_ms == 250 and .change.timeout_ms == 2000 and .change.source == "setting"' >/dev/null ||
  fail "interval only: $json"
both_at "250/2000 setting true" || fail "after interval change: a $(node_timing "$A"), b $(node_timing "$B")"
pass "ha timing --interval 250 --json: timeout kept, both at 250/2000"

# Out of bounds: refused, naming the bound; nothing changes.
for args in "--interval 10ms" "--interval 1s" "--timeout 100" "--interval 70s --timeout 600s"; do
  # shellcheck disable=SC2086
  if out=$(ctl_insecure --manager "$PAIR" ha timing $args 2>&1); then fail "accepted: $args: $out"; fi
  echo "$out" | grep -Eq "minimum|maximum|at least 3 x interval" || fail "refusal of $args does not name the bound: $out"
done
out=$(ctl_insecure --manager "$PAIR" ha timing --interval 10ms 2>&1) || true
echo "$out" | grep -q "interval 10 ms is below the minimum of 50 ms" || fail "refusal text: $out"
out=$(ctl_insecure --manager "$PAIR" ha timing --interval 1s 2>&1) || true
echo "$out" | grep -q "timeout 2000 ms must be at least 3 x interval (3000 ms)" || fail "refusal text: $out"
out=$(ctl_insecure --manager "$PAIR" ha timing --interval soon 2>&1) && fail "accepted --interval soon"
out=$(ctl_insecure --manager "$PAIR" ha timing --timeout 12s 2>&1) && fail "accepted a timeout above events.window_ms: $out"
echo "$out" | grep -q "timeout 12000 ms is above events.window_ms (10000 ms)" || fail "window refusal text: $out"
both_at "250/2000 setting true" || fail "a refused change changed something: a $(node_timing "$A"), b $(node_timing "$B")"
pass "out-of-bounds values refused with the bound named (exit != 0); nothing changed"

# The generic settings path cannot bypass the bounds.
out=$(ctl_insecure --manager "$PAIR" settings set ha.timing "interval_ms=1 timeout_ms=2" 2>&1) &&
  fail "settings set ha.timing accepted: $out"
pass "settings set ha.timing is refused (use ha timing)"

# A standby restarted keeps the pair's timing (it is in its store).
kill -TERM "${PID[b]}"
wait_exit "${PID[b]}" 15
start_node b 2
wait_until 15 is_role "$B" standby || fail "restarted b is $(node_role "$B")"
wait_until 5 both_at "250/2000 setting true" || fail "after restart: a $(node_timing "$A"), b $(node_timing "$B")"
pass "restarted standby: 250/2000 from its store"

# A standby that was down during a change catches up with it.
kill -KILL "${PID[b]}"
wait_exit "${PID[b]}" 5
# (The master holds the change's acknowledgement until b is silent for the
# failover timeout, 2 s: only then may it acknowledge without the standby.)
out=$("$DUETCTL" --insecure --timeout 6 --manager "$PAIR" ha timing --interval 200 --timeout 1500 --wait 3 2>&1) || true
[ "$(node_timing "$A" | cut -d' ' -f1)" = "200/1500" ] || fail "a after change with b down: $(node_timing "$A")"
echo "$out" | grep -q "unreachable: $B" || fail "change with b down should say b is unreachable: $out"
start_node b 3
wait_until 15 is_role "$B" standby || fail "b did not come back as standby"
wait_until 5 both_at "200/1500 setting true" || fail "b after catching up: $(node_timing "$B")"
pass "a standby down during the change takes it from the master when it catches up"

# --reset: back to the config files.
out=$(ctl_insecure --manager "$PAIR" ha timing --reset --wait 10 2>&1) || fail "reset: $out"
both_at "200/1000 config true" || fail "after reset: a $(node_timing "$A"), b $(node_timing "$B")"
pass "ha timing --reset: both back to the config file's 200/1000"

# Failover still works after a change: kill -9 of the master.
ctl_insecure --manager "$PAIR" ha timing --interval 100 --timeout 600 --wait 10 >/dev/null || fail "set 100/600"
e=$(node_epoch "$A")
t0=$(date +%s%N)
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
wait_until 10 is_role "$B" master || fail "b did not take over after kill -9"
t1=$(date +%s%N)
[ "$(node_epoch "$B")" -gt "$e" ] || fail "b's epoch did not grow"
ms=$(((t1 - t0) / 1000000))
pass "kill -9 of the master at 100/600: b took over in ${ms} ms (epoch $(node_epoch "$B"))"
[ "$(node_timing "$B" | cut -d' ' -f1-2)" = "100/600 setting" ] || fail "b after failover: $(node_timing "$B")"

# The old master comes back and takes the pair's timing from its store.
start_node a 2
wait_until 15 is_role "$A" standby || fail "a did not rejoin as standby"
wait_until 5 both_at "100/600 setting true" || fail "a after rejoin: $(node_timing "$A")"
pass "the old master rejoins with the pair's timing"
echo "ha_timing: all passed"
