#!/usr/bin/env bash
# Syslog intake on a real pair (127.0.0.11 / 127.0.0.12), each manager on its
# own address: util-linux logger over UDP and TCP (RFC 5424, RFC 3164,
# octet-counted), duplicate suppression by multiplicity (a message sent N
# times to both nodes is N events), and failovers and a switchover
# mid-stream: every message of numbered streams sent to both nodes over UDP
# and over TCP is recorded exactly once.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17540
B=127.0.0.12:17540
PAIR="$A,$B"
SA=127.0.0.11
SB=127.0.0.12
PORT=17541

config() { # NAME ADDR PEER PEER_ADDR SYSLOG_HOST
  mkdir -p "$WORK/$1"
  manager_config "$WORK/$1.yaml" "$1" "$2" "{ sqlite: \"$WORK/$1/$1.db\" }" "{ insecure: true }" \
    "peer: { name: $3, address: \"$4\" }
ha:   { interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"] }
receivers:
  syslog: { udp: \"$5:$PORT\", tcp: \"$5:$PORT\" }
events:
  window_ms: 5000
  rules:
    - { name: noise, message: \"^debug:\", keep: false }
    - { name: lab, scope: lab, priority: critical }
    - { name: auth, fields: { app_name: \"^sshd\$\" }, priority: warning }"
}
config a "$A" b "$B" "$SA"
config b "$B" a "$A" "$SB"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
events_json() { ctl_insecure --manager "$1" events list --limit 100000 --json; }
# count_msg ADDRESS REGEX: events on that node whose message matches.
count_msg() { events_json "$1" | jq --arg re "$2" '[.events[] | select(.message | test($re))] | length'; }
answers() { [ -n "$(node_role "$1")" ]; }
count_is() { [ "$(count_msg "$1" "$2")" = "$3" ]; }
# send_both TEXT: the same datagram to both managers.
send_both() { printf '%s' "$1" >/dev/udp/$SA/$PORT; printf '%s' "$1" >/dev/udp/$SB/$PORT; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"

# ---- Real clients: util-linux logger ----
logger --server $SA --port $PORT --udp --rfc5424 --msgid ID7 -t app5424 "interop rfc5424 udp"
logger --server $SA --port $PORT --udp --rfc3164 -t app3164 "interop rfc3164 udp"
logger --server $SA --port $PORT --tcp --octet-count --rfc5424 -t appoc "interop octet-counted tcp"
logger --server $SA --port $PORT --tcp --rfc3164 -t applf "interop lf tcp"
logger --server $SA --port $PORT --udp -t sshd "Failed password for root"
logger --server $SA --port $PORT --udp -t app "debug: not worth keeping"
wait_until 10 count_is "$A" '^interop' 4 || fail "logger messages: $(events_json "$A")"
j=$(events_json "$A")
echo "$j" | jq -e '.events[] | select(.message == "interop rfc5424 udp") | .fields.format == "rfc5424" and .fields.app_name == "app5424" and .fields.msgid == "ID7" and .protocol == "syslog/udp" and .source == "127.0.0.1"' >/dev/null || fail "rfc5424 fields: $j"
echo "$j" | jq -e '.events[] | select(.message == "interop rfc3164 udp") | .fields.format == "rfc3164" and .fields.app_name == "app3164"' >/dev/null || fail "rfc3164 fields: $j"
echo "$j" | jq -e '.events[] | select(.message == "interop octet-counted tcp") | .protocol == "syslog/tcp"' >/dev/null || fail "octet-counted tcp: $j"
echo "$j" | jq -e '.events[] | select(.message == "interop lf tcp") | .protocol == "syslog/tcp"' >/dev/null || fail "lf tcp: $j"
wait_until 10 count_is "$A" '^Failed password' 1 || fail "sshd message missing"
echo "$(events_json "$A")" | jq -e '.events[] | select(.message | test("^Failed password")) | .priority == "warning" and .rule == "auth"' >/dev/null || fail "rule auth not applied"
[ "$(count_msg "$A" '^debug:')" = 0 ] || fail "a keep: false rule did not discard"
pass "logger over UDP and TCP (RFC 5424, RFC 3164, octet counting, LF): parsed, classified, discarded by rule"

# ---- Multiplicity: N copies to both nodes are N events ----
for n in 1 2 5 50; do
  for ((i = 0; i < n; i++)); do send_both "<13>Oct 11 22:14:15 host app: dup-$n"; done
done
for i in $(seq 1 20); do send_both "<13>Oct 11 22:14:15 host app: distinct-$i"; done
for n in 1 2 5 50; do
  wait_until 10 count_is "$A" "^dup-$n\$" "$n" || fail "dup-$n: $(count_msg "$A" "^dup-$n\$") events, want $n"
done
wait_until 10 count_is "$A" '^distinct-' 20 || fail "distinct: $(count_msg "$A" '^distinct-')"
# The standby's copy of the store has them too (replicated), and nothing more.
wait_until 10 count_is "$B" '^dup-50$' 50 || fail "standby has $(count_msg "$B" '^dup-50$') of dup-50"
c=$(ctl_insecure --manager "$PAIR" events counters --json)
echo "$c" | jq -e '.nodes[] | select(.node == "a") | .protocols[] | select(.protocol == "syslog/udp") | .received > 0 and .parsed > 0' >/dev/null || fail "counters: $c"
# The standby received its copies (held until decided, then dropped: held may be 0 by now).
echo "$c" | jq -e '.nodes[] | select(.node == "b") | .role == "standby" and ([.protocols[] | select(.protocol == "syslog/udp") | .received] | add > 0)' >/dev/null || fail "standby counters: $c"
ctl_insecure --manager "$PAIR" events count --json | jq -e '.total > 80' >/dev/null || fail "events count"
pass "a message sent N times (1, 2, 5, 50) to both managers is N events; distinct ones all kept"

# ---- The repository: the sender's node and scopes, and a rule on a scope ----
ctl_insecure --manager "$PAIR" scopes add lab >/dev/null || fail "scopes add"
ctl_insecure --manager "$PAIR" scopes add lab-rack1 --parent lab >/dev/null || fail "scopes add (child)"
ctl_insecure --manager "$PAIR" nodes add sender01 --address 127.0.0.1 --scope lab-rack1 >/dev/null ||
  fail "nodes add"
send_both "<13>Oct 11 22:14:15 host app: from-sender01"
wait_until 10 count_is "$A" '^from-sender01$' 1 || fail "message from a registered sender"
ev=$(events_json "$A" | jq -c '[.events[] | select(.message == "from-sender01")][0] | {host, scope, priority, rule}')
[ "$ev" = '{"host":"sender01","scope":"lab-rack1","priority":"critical","rule":"lab"}' ] ||
  fail "repository mapping: $ev"
ctl_insecure --manager "$PAIR" nodes remove sender01 >/dev/null || fail "nodes remove"
send_both "<13>Oct 11 22:14:15 host app: from-nobody"
wait_until 10 count_is "$A" '^from-nobody$' 1 || fail "message from an unregistered sender"
ev=$(events_json "$A" | jq -c '[.events[] | select(.message == "from-nobody")][0] | {host, scope}')
[ "$ev" = '{"host":"","scope":"unregistered"}' ] || fail "unregistered: $ev"
pass "events carry the sender's repository node and scopes; a rule on a parent scope matches; unknown senders are unregistered"

# ---- Lost towards one node: a datagram that reached only the standby ----
for i in 1 2 3; do printf '%s' "<13>Oct 11 22:14:15 host app: only-b-$i" >/dev/udp/$SB/$PORT; done
printf '%s' "<13>Oct 11 22:14:15 host app: only-a" >/dev/udp/$SA/$PORT
for i in 1 2; do send_both "<13>Oct 11 22:14:15 host app: twice-b"; done
printf '%s' "<13>Oct 11 22:14:15 host app: twice-b" >/dev/udp/$SB/$PORT  # b saw it 3 times, a twice
wait_until 10 count_is "$A" '^only-b-' 3 || fail "standby-only messages: $(count_msg "$A" '^only-b-') of 3"
[ "$(count_msg "$A" '^only-a$')" = 1 ] || fail "master-only message"
wait_until 10 count_is "$A" '^twice-b$' 3 || fail "max(2, 3): $(count_msg "$A" '^twice-b$')"
sleep 2  # nothing more may arrive once the standby's copies are decided
[ "$(count_msg "$A" '^only-b-')" = 3 ] && [ "$(count_msg "$A" '^twice-b$')" = 3 ] || fail "late duplicates"
# An event records the node that received it: b for what only b got.
nodes=$(ctl_insecure --manager "$A" events list --limit 1000 --json | jq -r '[.events[] | select(.message | test("^only-")) | "\(.message)=\(.node)"] | sort | join(" ")')
[ "$nodes" = "only-a=a only-b-1=b only-b-2=b only-b-3=b" ] || fail "receiving node: $nodes"
pass "a datagram lost towards the master is still one event (node: b); 2 copies at a, 3 at b give 3"

# ---- Failover mid-stream: every numbered message exactly once ----
# Each number goes to both managers twice: "seq-N" over UDP and "tcp-N" over
# one TCP connection per manager (LF-framed). A write to a manager that died
# fails and is ignored; the sender goes on with the other one.
tcp_connect() { # IP FD
  eval "exec $2<>/dev/tcp/$1/$PORT" || fail "cannot connect to $1:$PORT"
}
tcp_connect "$SA" 7
tcp_connect "$SB" 8
stream() { # FROM TO: numbered messages to both nodes at about 200/s
  trap '' PIPE
  for ((i = $1; i <= $2; i++)); do
    send_both "<13>Oct 11 22:14:15 host app: seq-$i"
    printf '<13>Oct 11 22:14:15 host app: tcp-%d\n' "$i" >&7 2>/dev/null || true
    printf '<13>Oct 11 22:14:15 host app: tcp-%d\n' "$i" >&8 2>/dev/null || true
    sleep 0.005
  done
}
# nums ADDRESS PREFIX: the numbers of that stream recorded on the node.
nums() { events_json "$1" | jq --arg p "$2" '[.events[] | .message | select(startswith($p)) | ltrimstr($p) | tonumber]'; }
check_stream() { # ADDRESS LAST: each of seq-1..LAST and tcp-1..LAST exactly once
  local p
  for p in seq- tcp-; do
    nums "$1" "$p" | jq -e --argjson n "$2" 'length == $n and (sort == [range(1; $n + 1)])' >/dev/null || return 1
  done
}
report() { # ADDRESS LAST
  local p
  for p in seq- tcp-; do
    echo -n "$p: $(nums "$1" "$p" | jq -c --argjson n "$2" '{n: length, dup: (group_by(.) | map(select(length > 1) | .[0])), missing: ([range(1; $n + 1)] - .)}') "
  done
}
stream 1 300
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
stream 301 700  # a is dead: only b receives these, first as standby
wait_until 10 is_role "$B" master || fail "b did not take over"
stream 701 800
wait_until 15 check_stream "$B" 800 || fail "after failover: $(report "$B" 800)"
pass "kill -9 of the master mid-stream (UDP and TCP): 1..800 each recorded exactly once on the new master"

# ---- Failback, then fail the other way ----
start_node a 2
wait_until 15 answers "$A" || fail "restarted a does not answer"
out=$(ctl_insecure --manager "$PAIR" failback --wait 30 2>&1) || fail "failback: $out"
wait_until 15 is_role "$A" standby || fail "a did not come back as standby"
tcp_connect "$SA" 7
stream 801 900
kill -KILL "${PID[b]}"
wait_exit "${PID[b]}" 5
stream 901 1100
wait_until 10 is_role "$A" master || fail "a did not take over again"
stream 1101 1200
wait_until 15 check_stream "$A" 1200 || fail "after the second failover: $(report "$A" 1200)"
pass "failback, then kill -9 of the new master: 1..1200 each exactly once (UDP and TCP)"

# ---- Planned switchover mid-stream ----
start_node b 2
wait_until 15 answers "$B" || fail "restarted b does not answer"
out=$(ctl_insecure --manager "$PAIR" failback --wait 30 2>&1) || fail "failback of b: $out"
wait_until 15 is_role "$B" standby || fail "b did not come back as standby"
tcp_connect "$SB" 8
stream 1201 1400 &
streamer=$!
sleep 0.3
ctl_insecure --manager "$PAIR" switchover --wait 20 >/dev/null || fail "switchover"
wait "$streamer"
wait_until 10 is_role "$B" master || fail "b is not master after the switchover"
wait_until 15 check_stream "$B" 1400 || fail "after the switchover: $(report "$B" 1400)"
pass "switchover mid-stream: 1..1400 each exactly once (UDP and TCP)"
exec 7>&- 8>&-

# ---- events count: kept with every batch, the same on both nodes as the list ----
listed=$(events_json "$B" | jq '.events | length')
counted() { [ "$(ctl_insecure --manager "$1" events count --json | jq '.total')" = "$listed" ]; }
wait_until 10 counted "$B" || fail "count on b: $(ctl_insecure --manager "$B" events count --json), listed $listed"
wait_until 10 counted "$A" || fail "count on a (standby): $(ctl_insecure --manager "$A" events count --json), listed $listed"
pass "events count: $listed on both nodes, as many as listed, after two failovers and a switchover"

echo "events_syslog: all passed"
