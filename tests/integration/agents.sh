#!/usr/bin/env bash
# Agents between real processes: a pair on 127.0.0.11 / 127.0.0.12 and one
# agent (plaintext). The agent finds the master whichever address it tries
# first; a log-file monitor turns every matching line into a result (and an
# event); kill -9 of the master while lines flow, then kill -9 of the agent
# and a restart, and a log rotation: every line is an event exactly once, and the results kept
# for the node carry every outbox number once. A standby refuses the agent
# and names the master. An agent that goes away raises "agent unreachable"
# once; its return raises "reachable again".
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17700
B=127.0.0.12:17700
PAIR="$A,$B"
LINES=${AGENT_TEST_LINES:-1500}

AGENTS_YAML='agents: { unreachable_after_ms: 3000 }'
pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
echo "$AGENTS_YAML" >>"$WORK/a.yaml"
echo "$AGENTS_YAML" >>"$WORK/b.yaml"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
ctl() { ctl_insecure --manager "$@"; }

# The agent tries b (the standby) first: it must be sent on to the master.
cat >"$WORK/agent.yaml" <<YAML
managers: ["$B", "$A"]
node: web01
outbox: $WORK/agent/outbox.db
tls: { insecure: true }
reconnect_min_ms: 100
reconnect_max_ms: 1000
YAML
mkdir -p "$WORK/agent"
start_agent() { start "$WORK/agent.$1.log" "$AGENT" --config "$WORK/agent.yaml"; PID[agent]=$LAST_PID; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
pass "pair up: a master, b standby"

ctl "$PAIR" nodes add web01 --address 127.0.0.1 >/dev/null || fail "nodes add web01"
LOG=$WORK/app.log
: >"$LOG"
out=$(ctl "$PAIR" monitors add app-log --kind log_file --node web01 --interval 60 \
  --param path="$LOG" --param poll_ms=200 --pattern 'ERROR=critical' --pattern 'line=warning' \
  --json) || fail "monitors add: $out"
echo "$out" | jq -e '.action == "created" and .replicated' >/dev/null || fail "monitors add: $out"
out=$(ctl "$PAIR" monitors add bad --kind port --node web01 --param port=99999 2>&1) \
  && fail "a bad port was accepted"
echo "$out" | grep -q "params.port: '99999' is outside 1..65535" || fail "bad port refusal: $out"
out=$(ctl "$PAIR" monitors add bad --kind command --node web01 --interval 5 --param command=true 2>&1) \
  && fail "a 5 s interval was accepted"
echo "$out" | grep -q "interval: 5 s is outside 10 s .. 24 h" || fail "interval refusal: $out"
pass "monitors add: created and replicated; bad settings refused naming the key"

start_agent 1
agent_on() {  # agent_on MANAGER_ADDR NAME: agents list there shows web01 connected to NAME
  ctl "$1" agents list --json 2>/dev/null |
    jq -e --arg m "$2" '.agents[] | select(.node == "web01") | .state == "connected" and .manager == $m
      and .last_seen != ""' >/dev/null
}
wait_until 15 agent_on "$A" a || fail "the agent never connected to a: $(ctl "$A" agents list --json)"
grep -q "not master; the master is 127.0.0.11:17700" "$WORK/agent.1.log" \
  || grep -q "manager $B: not master" "$WORK/agent.1.log" || fail "the agent was not redirected"
pass "the agent tried the standby, was sent to the master, and is listed as connected to a"

# A new log monitor starts at the file's end: lines flow once it has read
# the file once (a warm-up line has come through as an event).
warm_events() {
  ctl "$A" events list --limit 100 --json 2>/dev/null |
    jq '[.events[] | select(.protocol == "monitor" and .fields.text == "warm-up ERROR")] | length'
}
warmed() { echo "warm-up ERROR" >>"$LOG"; [ "$(warm_events)" -ge 1 ]; }
wait_until 20 warmed || fail "the log monitor never reported a line"

# Lines at a steady rate; kill -9 of the master half-way.
# Two thirds in, the log is rotated (renamed; writing goes on in a new file).
(for i in $(seq 1 "$LINES"); do
  [ "$i" = $((LINES * 2 / 3)) ] && mv "$LOG" "$LOG.1"
  echo "line $i of the app" >>"$LOG"
  sleep 0.01
done) &
WRITER=$!
PIDS+=("$WRITER")
monitor_events() {  # monitor events (on MANAGER) whose text is a line of the app
  ctl "$1" events list --limit 100000 --json 2>/dev/null |
    jq '[.events[] | select(.protocol == "monitor") | .fields.text | select(. != null) |
      select(startswith("line "))]'
}
count_on() { [ "$(monitor_events "$1" | jq 'length')" -ge "$2" ]; }
wait_until 30 count_on "$A" $((LINES / 3)) || fail "no results reach a: $(monitor_events "$A" | jq length)"
kill -KILL "${PID[a]}"
t_kill=$SECONDS
wait_until 15 is_role "$B" master || fail "b did not take over"
wait_until 15 agent_on "$B" b || fail "the agent did not reach b within 15 s of the failover"
pass "kill -9 of a: b master; the agent is connected to b $((SECONDS - t_kill)) s after the kill"

# kill -9 of the agent mid-stream, and a restart from its outbox.
sleep 1
kill -KILL "${PID[agent]}"
sleep 0.5
start_agent 2
wait_exit "$WRITER" 120
all_in() { count_on "$B" "$LINES"; }
wait_until 60 all_in || fail "not every line arrived: $(monitor_events "$B" | jq length) of $LINES"
sleep 2  # anything doubled would arrive now
monitor_events "$B" | jq -e --argjson n "$LINES" \
  '(map(capture("line (?<i>[0-9]+) ").i | tonumber) | sort) == [range(1; $n + 1)]' >/dev/null \
  || fail "lines not exactly once: $(monitor_events "$B" | jq -c 'map(capture("line (?<i>[0-9]+) ").i | tonumber) | group_by(.) | map(select(length > 1)) | .[:10]')"
pass "$LINES lines, a rotation, kill -9 of the master and of the agent: every line is an event exactly once"

seqs=$(ctl "$B" metrics query web01 app-log --since 0 --limit 100000 --json | jq -c '[.points[].seq]')
# The warm-up lines and every line: numbers 1.. with no gap and none twice.
echo "$seqs" | jq -e --argjson n "$LINES" 'length > $n and (. == (sort | unique)) and .[0] == 1
  and .[-1] == length' \
  >/dev/null || fail "results kept: $(echo "$seqs" | jq -c '{n: length, first: .[0], last: .[-1]}')"
ctl "$B" monitors list --json | jq -e '.monitors[] | select(.name == "app-log") |
  .status[0].node == "web01" and .status[0].priority == "warning"' >/dev/null \
  || fail "monitor status: $(ctl "$B" monitors list --json)"
pass "metrics query: every result (warm-up and $LINES lines), each outbox number once; status warning"

# Agentless: the master pings the nodes of a scope itself.
ctl "$PAIR" scopes add lo >/dev/null || fail "scopes add lo"
for i in 1 2 3; do
  ctl "$PAIR" nodes add "lo$i" --address "127.0.0.2$i" --scope lo >/dev/null || fail "nodes add lo$i"
done
ctl "$PAIR" monitors add lo-ping --kind ping --scope lo --runs-on manager --interval 10 \
  --metric loss_percent --info 0:0 --warning 0:50 >/dev/null || fail "monitors add lo-ping"
pinged() {
  local n
  for n in lo1 lo2 lo3; do
    ctl "$B" metrics query "$n" lo-ping --json 2>/dev/null | jq -e '.points | length >= 1 and
      (.[0] | .ok and .priority == "info" and
       (.metrics[] | select(.name == "loss_percent") | .value == 0))' >/dev/null || return 1
  done
}
wait_until 25 pinged || fail "agentless ping: $(ctl "$B" metrics query lo1 lo-ping --json)"
ctl "$B" monitors show lo-ping --json | jq -e '[.status[].priority] == ["info", "info", "info"]' \
  >/dev/null || fail "lo-ping status: $(ctl "$B" monitors show lo-ping --json)"
pass "agentless ping from the master: three loopback nodes of a scope, each 0 % loss, info"

# The old master back as standby: it refuses the agent's session.
start_node a 2
wait_until 20 is_role "$A" standby || fail "a did not come back as standby"

# Unreachable: the agent stops; after 3 s the master raises it once.
kill -TERM "${PID[agent]}"
wait_exit "${PID[agent]}" 20
agent_events() {
  ctl "$B" events list --limit 1000 --json 2>/dev/null |
    jq -c '[.events[] | select(.protocol == "agent") | {priority, state: .fields.state}] | reverse'
}
unreachable() { [ "$(agent_events | jq 'map(select(.state == "unreachable")) | length')" -ge 1 ]; }
wait_until 15 unreachable || fail "no agent unreachable event: $(agent_events)"
ctl "$B" agents list --json | jq -e '.agents[] | select(.node == "web01") |
  .state == "disconnected" and .reachable == false' >/dev/null || fail "agents list: $(ctl "$B" agents list --json)"
sleep 3
[ "$(agent_events | jq 'map(select(.state == "unreachable")) | length')" = 1 ] \
  || fail "unreachable raised more than once: $(agent_events)"
start_agent 3
back() { agent_events | jq -e 'map(.state) == ["unreachable", "reachable"]' >/dev/null; }
wait_until 20 back || fail "no reachable-again event: $(agent_events)"
agent_events | jq -e '.[0].priority == "critical" and .[1].priority == "info"' >/dev/null \
  || fail "priorities: $(agent_events)"
pass "agent unreachable raised once (critical) after 3 s; its return raised once (info)"

# Monitors in the declarative file (duetctl apply -f / export): a dry run
# changes nothing; apply creates; the same file again is all unchanged; an
# export applied back is all unchanged; invalid monitors are refused naming
# FILE:LINE (those duetctl checks before anything is written, and those the
# manager refuses).
cat >"$WORK/apply.yaml" <<'YAML'
scopes:
  - name: it-apply
    description: monitors through apply
monitors:
  - name: web02-port
    kind: port
    node: web02
    interval: 1m
    timeout: 5s
    enabled: false
    params: {host: 127.0.0.1, port: 1, protocol: tcp}
    judgement: {metric: connect_ms, info: ":500", warning: ":2000"}
  - name: it-apply-ping
    kind: ping
    scope: it-apply
    runs_on: manager
    interval: 300
    enabled: false
    description: every node of it-apply
    params: {count: 1, interval_ms: 100}
    judgement:
      patterns: [{regex: unreachable, priority: critical}]
      otherwise: info
nodes:
  - name: web02
    addresses: [127.0.0.2]
    scopes: [it-apply]
YAML
mon_actions() { jq -c '[.changes[] | select(.kind == "monitor") | {(.name): .action}] | add'; }
monitor_names() { ctl "$PAIR" monitors list --json | jq -c '[.monitors[].name]'; }
out=$(ctl "$PAIR" apply -f "$WORK/apply.yaml" --dry-run --json) || fail "apply --dry-run: $out"
[ "$(echo "$out" | mon_actions)" = '{"web02-port":"created","it-apply-ping":"created"}' ] \
  || fail "dry run monitors: $out"
echo "$out" | jq -e '.dry_run and (.committed | not) and
  ([.changes[] | select(.kind != "monitor") | .action] | unique == ["created"])' >/dev/null \
  || fail "dry run: $out"
monitor_names | jq -e 'index("web02-port") == null and index("it-apply-ping") == null' >/dev/null \
  || fail "the dry run changed the monitors: $(monitor_names)"
ctl "$PAIR" nodes list --json | jq -e '[.nodes[].name] | index("web02") == null' >/dev/null \
  || fail "the dry run changed the nodes"
pass "apply --dry-run with monitors: would create 2 monitors, changed nothing"

out=$(ctl "$PAIR" apply -f "$WORK/apply.yaml" --json) || fail "apply: $out"
[ "$(echo "$out" | mon_actions)" = '{"web02-port":"created","it-apply-ping":"created"}' ] \
  || fail "apply monitors: $out"
echo "$out" | jq -e '.committed and .replicated and ([.changes[].action] | unique == ["created"])' \
  >/dev/null || fail "apply: $out"
ctl "$PAIR" monitors show web02-port --json | jq -e '.node == "web02" and .interval_s == 60 and
  .timeout_s == 5 and .enabled == false and .params == {"host": "127.0.0.1", "port": "1",
  "protocol": "tcp"} and .judgement == {"metric": "connect_ms", "info": ":500", "warning": ":2000"}' \
  >/dev/null || fail "web02-port: $(ctl "$PAIR" monitors show web02-port --json)"
ctl "$PAIR" monitors show it-apply-ping --json | jq -e '.scope == "it-apply" and
  .runs_on == "manager" and .interval_s == 300 and .timeout_s == 10 and .enabled == false' \
  >/dev/null || fail "it-apply-ping: $(ctl "$PAIR" monitors show it-apply-ping --json)"
out=$(ctl "$PAIR" apply -f "$WORK/apply.yaml") || fail "apply again: $out"
echo "$out" | grep -qx "monitor web02-port: unchanged" || fail "apply again: $out"
echo "$out" | grep -qx "monitor it-apply-ping: unchanged" || fail "apply again: $out"
out=$(ctl "$PAIR" apply -f "$WORK/apply.yaml" --json) || fail "apply again: $out"
echo "$out" | jq -e '(.committed | not) and ([.changes[].action] | unique == ["unchanged"])' \
  >/dev/null || fail "apply again: $out"
pass "apply with monitors: a scope, a node and 2 monitors created (replicated); again: all unchanged"

ctl "$PAIR" export >"$WORK/export.yaml" || fail "export"
grep -q '^monitors:' "$WORK/export.yaml" || fail "export without monitors: $(cat "$WORK/export.yaml")"
out=$(ctl "$PAIR" apply -f "$WORK/export.yaml" --json) || fail "apply the export: $out"
echo "$out" | jq -e '(.committed | not) and ([.changes[].action] | unique == ["unchanged"]) and
  ([.changes[] | select(.kind == "monitor") | .name] | index("web02-port") != null and
   index("it-apply-ping") != null and index("app-log") != null)' >/dev/null \
  || fail "the export applied back: $out"
same_export() { diff <(grep -v '^#' "$WORK/export.yaml") <(ctl "$A" export | grep -v '^#') >/dev/null; }
wait_until 10 same_export || fail "the standby's export differs: $(ctl "$A" export)"
pass "export has the monitors; applied back, every object is unchanged; the standby exports the same"

cat >"$WORK/bad-local.yaml" <<'YAML'
scopes:
  - name: it-apply-bad
monitors:
  - name: bad-interval
    kind: ping
    node: web02
    interval: 5s
    colour: blue
  - name: bad-node
    kind: ping
    node: web09
nodes:
  - name: web03
    addresses: [10.0.0.300]
YAML
out=$(ctl "$PAIR" apply -f "$WORK/bad-local.yaml" 2>&1) && fail "an invalid file was applied: $out"
echo "$out" | grep -q "refused, nothing changed:" || fail "bad-local: $out"
for want in "bad-local.yaml:7: monitor 'bad-interval': interval: 5 s is outside 10 s .. 24 h" \
  "bad-local.yaml:8: monitor 'bad-interval': unknown key 'colour'" \
  "bad-local.yaml:11: monitor 'bad-node': node 'web09' does not exist" \
  "bad-local.yaml:14: node 'web03': address '10.0.0.300'"; do
  echo "$out" | grep -qF "$WORK/$want" || fail "bad-local: no '$want' in: $out"
done
ctl "$PAIR" scopes list --json | jq -e '[.scopes[].name] | index("it-apply-bad") == null' >/dev/null \
  || fail "the refused file changed the scopes"
monitor_names | jq -e 'index("bad-interval") == null and index("bad-node") == null' >/dev/null \
  || fail "the refused file changed the monitors: $(monitor_names)"

cat >"$WORK/bad-port.yaml" <<'YAML'
monitors:
  - name: bad-port
    kind: port
    node: web02
    params:
      port: 99999
  - name: web02-port
    kind: port
    node: web02
    params: {host: 127.0.0.1, port: 2}
YAML
out=$(ctl "$PAIR" apply -f "$WORK/bad-port.yaml" 2>&1) && fail "a bad port was applied: $out"
echo "$out" | grep -qF "$WORK/bad-port.yaml:6: monitor 'bad-port': params.port: '99999' is outside 1..65535" \
  || fail "bad-port: $out"
echo "$out" | grep -qx "monitor web02-port: updated (timeout, enabled, params, judgement)" \
  || fail "bad-port: the valid monitor: $out"
monitor_names | jq -e 'index("bad-port") == null' >/dev/null || fail "bad-port was stored"
pass "invalid monitors refused naming FILE:LINE: by duetctl (nothing changed) or by the manager"
