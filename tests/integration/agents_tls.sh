#!/usr/bin/env bash
# Agents with TLS between real processes: a pair with mutual TLS and
# enrolment (agents.enrol). An agent with a one-time token from
# `duetctl agents token` makes its key, gets its certificate from the master
# and connects with it; the token does not work twice; a certificate issued to
# another name cannot speak for the node; a standby does not enrol.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17800
B=127.0.0.12:17800
PAIR="$A,$B"
c=$WORK/certs
"$SRC/scripts/gen-certs" "$c" >/dev/null
TLS="{ ca: \"$c/ca.pem\", cert: \"$c/manager.pem\", key: \"$c/manager.key\" }"
for n in a b; do
  mkdir -p "$WORK/$n"
  addr=$A peer=b paddr=$B
  [ $n = b ] && addr=$B peer=a paddr=$A
  manager_config "$WORK/$n.yaml" $n "$addr" "{ sqlite: \"$WORK/$n/$n.db\" }" "$TLS" \
    "peer: { name: $peer, address: \"$paddr\" }
ha:   { interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"] }
agents: { enrol: { ca_key: \"$c/ca.key\" } }"
done
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
ctl() { "$DUETCTL" --timeout 2 --ca "$c/ca.pem" --cert "$c/admin.pem" --key "$c/admin.key" --manager "$@"; }
role() { ctl "$1" status --json 2>/dev/null | jq -r '.nodes[] | select(.self) | .role'; }
is() { [ "$(role "$1")" = "$2" ]; }

start_node a 1
start_node b 1
wait_until 20 is "$A" master || fail "a never became master"
wait_until 20 is "$B" standby || fail "b never became standby"
grep -q "agents: enrolment on 127.0.0.11:17801" "$WORK/a.1.log" || fail "no enrolment port on a"
pass "pair up with mutual TLS; enrolment on port + 1"

ctl "$PAIR" nodes add web01 --address 127.0.0.1 >/dev/null || fail "nodes add"
token=$(ctl "$PAIR" agents token web01 --json | jq -r '.token') || fail "agents token"
[ ${#token} -ge 32 ] || fail "token: '$token'"
grep -q "$token" "$WORK"/a.1.log "$WORK"/b.1.log && fail "the token appears in a manager's log"

agent_config() {  # agent_config NAME NODE CERT KEY [TOKEN]
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1.yaml" <<YAML
managers: ["$B", "$A"]
node: $2
outbox: $WORK/$1/outbox.db
tls: { ca: "$c/ca.pem", cert: "$3", key: "$4" }
reconnect_min_ms: 100
reconnect_max_ms: 1000
${5:+enrol_token: \"$5\"}
YAML
}
agent_config ag1 web01 "$WORK/ag1/web01.pem" "$WORK/ag1/web01.key" "$token"
start "$WORK/ag1.log" "$AGENT" --config "$WORK/ag1.yaml"
PID[ag1]=$LAST_PID
connected() {
  ctl "$A" agents list --json 2>/dev/null | jq -e --arg n "$1" \
    '.agents[] | select(.node == $n) | .state == "connected" and .manager == "a"' >/dev/null
}
wait_until 20 connected web01 || fail "the enrolled agent did not connect: $(ctl "$A" agents list --json)"
openssl x509 -in "$WORK/ag1/web01.pem" -noout -subject | grep -q "CN = web01" || fail "cert subject"
openssl x509 -in "$WORK/ag1/web01.pem" -noout -ext extendedKeyUsage | grep -q "TLS Web Client" \
  || fail "cert usage"
openssl verify -CAfile "$c/ca.pem" "$WORK/ag1/web01.pem" >/dev/null || fail "cert chain"
[ "$(stat -c %a "$WORK/ag1/web01.key")" = 600 ] || fail "key mode $(stat -c %a "$WORK/ag1/web01.key")"
grep -q "$token" "$WORK/ag1.log" && fail "the token appears in the agent's log"
pass "enrolled: key made on the agent (0600), certificate CN=web01 for client auth, connected to a"

# The same token again (a second host): refused.
agent_config ag2 web01 "$WORK/ag2/web01.pem" "$WORK/ag2/web01.key" "$token"
start "$WORK/ag2.log" "$AGENT" --config "$WORK/ag2.yaml"
PID[ag2]=$LAST_PID
refused() { grep -q "enrolment with .* failed: the enrolment token is not valid" "$WORK/ag2.log"; }
wait_until 15 refused || fail "a used token was not refused: $(tail -5 "$WORK/ag2.log")"
[ ! -e "$WORK/ag2/web01.pem" ] || fail "a used token gave a certificate"
kill -TERM "${PID[ag2]}"
wait_exit "${PID[ag2]}" 10
pass "a token works once: the second enrolment is refused, no certificate"

# A certificate issued to another name (the generic agent.pem) cannot speak for web02.
ctl "$PAIR" nodes add web02 --address 127.0.0.2 >/dev/null || fail "nodes add web02"
agent_config ag3 web02 "$c/agent.pem" "$c/agent.key"
start "$WORK/ag3.log" "$AGENT" --config "$WORK/ag3.yaml"
PID[ag3]=$LAST_PID
denied() { grep -q "not issued to node 'web02'" "$WORK/ag3.log"; }
wait_until 15 denied || fail "a foreign certificate was not refused: $(tail -5 "$WORK/ag3.log")"
ctl "$A" agents list --json | jq -e '[.agents[].node] == ["web01"]' >/dev/null \
  || fail "agents list: $(ctl "$A" agents list --json)"
pass "a certificate for another name is refused for web02"

# Enrolment on the standby: refused, it names the master.
token2=$(ctl "$PAIR" agents token web02 --json | jq -r '.token')
agent_config ag4 web02 "$WORK/ag4/web02.pem" "$WORK/ag4/web02.key" "$token2"
sed -i "s|managers: .*|managers: [\"$B\"]|" "$WORK/ag4.yaml"
start "$WORK/ag4.log" "$AGENT" --config "$WORK/ag4.yaml"
PID[ag4]=$LAST_PID
standby_no() { grep -q "enrolment with 127.0.0.12:17801 failed: not master" "$WORK/ag4.log"; }
wait_until 15 standby_no || fail "the standby enrolled: $(tail -5 "$WORK/ag4.log")"
pass "the standby does not enrol (not master; the master is named)"
