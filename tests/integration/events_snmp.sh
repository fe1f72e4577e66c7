#!/usr/bin/env bash
# SNMP intake on a real pair (127.0.0.11 / 127.0.0.12): net-snmp snmptrap and
# snmpinform (v2c, v3 authPriv) against the running managers, duplicate
# suppression by multiplicity, an inform to the standby only, and a kill -9
# of the master while traps stream to both: every trap recorded exactly once.
source "$(dirname "$0")/lib.sh"
command -v snmptrap >/dev/null || fail "snmptrap missing: install the Debian package 'snmp' (scripts/setup-deps)"
export MIBS= MIBDIRS=/nonexistent HOME=$WORK  # numeric OIDs only; no ~/.snmp state
SEND=$BIN/tests/snmp_send
A=127.0.0.11:17560
B=127.0.0.12:17560
PAIR="$A,$B"
SA=127.0.0.11
SB=127.0.0.12
PORT=17561
ENGINE=0x8000000001020304
pw=authpass123
px=privpass123

config() { # NAME ADDR PEER PEER_ADDR TRAP_HOST
  mkdir -p "$WORK/$1"
  manager_config "$WORK/$1.yaml" "$1" "$2" "{ sqlite: \"$WORK/$1/$1.db\" }" "{ insecure: true }" \
    "peer: { name: $3, address: \"$4\" }
ha:   { interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"] }
receivers:
  snmp:
    udp: \"$5:$PORT\"
    communities: [public]
    users:
      - { name: sha-aes, auth: sha, auth_key: $pw, priv: aes, priv_key: $px, engine_id: \"${ENGINE#0x}\" }
events: { window_ms: 5000 }"
}
config a "$A" b "$B" "$SA"
config b "$B" a "$A" "$SB"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
events_json() { ctl_insecure --manager "$1" events list --limit 100000 --json; }
count_re() { events_json "$1" | jq --arg re "$2" '[.events[] | select(.message | test($re))] | length'; }
count_is() { [ "$(count_re "$1" "$2")" = "$3" ]; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"

# v2c: the same trap (same sysUpTime and varbinds) 3 times to each manager.
for _ in 1 2 3; do
  for h in $SA $SB; do
    snmptrap -v 2c -c public "$h:$PORT" 4242 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.7 i 7
  done
done
wait_until 10 count_is "$A" '1\.3\.6\.1\.6\.3\.1\.1\.5\.3.*=7' 3 || fail "v2c: $(count_re "$A" '5\.3') events, want 3"
j=$(events_json "$A")
echo "$j" | jq -e '[.events[] | select(.protocol == "snmp/v2c")][0] | .fields.community == "public" and .fields.trap_oid == "1.3.6.1.6.3.1.1.5.3"' >/dev/null || fail "v2c fields: $j"
pass "v2c trap sent 3 times to both managers: 3 events"

# v3 authPriv trap (SHA/AES) with the sender's engine id, once to each.
for h in $SA $SB; do
  snmptrap -v 3 -e "$ENGINE" -u sha-aes -l authPriv -a SHA -A "$pw" -x AES -X "$px" \
    "$h:$PORT" 5151 1.3.6.1.6.3.1.1.5.4 1.3.6.1.2.1.1.5.0 s "v3-router"
done
wait_until 10 count_is "$A" 'v3-router' 1 || fail "v3 trap: $(count_re "$A" 'v3-router') events"
events_json "$A" | jq -e '.events[] | select(.message | test("v3-router")) | .protocol == "snmp/v3" and .fields.user == "sha-aes"' >/dev/null || fail "v3 fields"
pass "v3 authPriv trap to both managers: 1 event"

# Informs: v2c to the master; v3 (discovery of the manager's engine) to the standby only.
timeout 20 snmpinform -v 2c -c public -t 2 -r 2 "$SA:$PORT" 77 1.3.6.1.6.3.1.1.5.3 \
  1.3.6.1.2.1.1.5.0 s "inform-a" >/dev/null || fail "v2c inform not acknowledged by a"
timeout 20 snmpinform -v 3 -u sha-aes -l authPriv -a SHA -A "$pw" -x AES -X "$px" -t 2 -r 2 \
  "$SB:$PORT" 78 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.1.5.0 s "inform-b-only" >/dev/null ||
  fail "v3 inform not acknowledged by b"
wait_until 10 count_is "$A" 'inform-a' 1 || fail "inform to a"
wait_until 10 count_is "$A" 'inform-b-only' 1 || fail "inform that reached only the standby: $(count_re "$A" 'inform-b-only')"
# A wrong password is refused and counted on the node that got it.
snmptrap -v 3 -e "$ENGINE" -u sha-aes -l authPriv -a SHA -A wrongpass123 -x AES -X "$px" \
  "$SA:$PORT" 1 1.3.6.1.6.3.1.1.5.4 1.3.6.1.2.1.1.5.0 s "forged" || true
wait_until 10 bash -c "'$DUETCTL' --insecure --manager $A events counters --json | jq -e '.nodes[0].protocols[] | select(.protocol == \"snmp\") | .details.wrong_digest == 1' >/dev/null" ||
  fail "wrong digest not counted: $(ctl_insecure --manager "$A" events counters --json)"
[ "$(count_re "$A" 'forged')" = 0 ] || fail "a forged trap was recorded"
pass "informs answered (v2c at the master, v3 at the standby only) and recorded once; a wrong digest is counted and dropped"

# Failover mid-stream: 600 distinct traps (sysUpTime 100000..100599) to both,
# at about 200/s each; kill -9 of the master after about a second.
senders=()
for h in $SA $SB; do
  "$SEND" --target "$h:$PORT" -v 2c -c public --count 600 --interval-ms 5 --uptime 100000 \
    --trap-oid 1.3.6.1.4.1.99.1 >/dev/null 2>&1 &
  senders+=($!)
done
sleep 1
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
for s in "${senders[@]}"; do wait "$s" || true; done
wait_until 10 is_role "$B" master || fail "b did not take over"
uptimes() { events_json "$B" | jq '[.events[] | select(.fields.trap_oid == "1.3.6.1.4.1.99.1") | .fields.sys_uptime]'; }
all_once() { uptimes | jq -e 'length == 600 and (sort == [range(100000; 100600)])' >/dev/null; }
wait_until 15 all_once || fail "after failover: $(uptimes | jq -c '{n: length, dup: (group_by(.) | map(select(length > 1) | .[0])), missing: ([range(100000; 100600)] - .)}')"
pass "kill -9 of the master while 600 traps stream to both: each recorded exactly once"

echo "events_snmp: all passed"
