#!/usr/bin/env bash
# A cut link between real hosts: three network namespaces made by this test,
#   a (10.231.1.2) --- gw (10.231.1.1 | 10.231.2.1) --- b (10.231.2.2)
# The gateway routes between the managers and is their reference address; in
# the witness run it also hosts duet-witness. Cutting a's link isolates a from
# its peer and from its guard: a must stop acting, b must take over, and when
# the link comes back a must be fenced (higher epoch) until failback.
# All addresses live inside the namespaces; nothing leaves this machine.
source "$(dirname "$0")/lib.sh"
command -v ip >/dev/null || fail "ip (iproute2) missing"
tag=$$
NS_A=duet-a-$tag NS_B=duet-b-$tag NS_GW=duet-gw-$tag
ip netns add "$NS_GW" || fail "cannot create network namespaces (needs root)"
AT_EXIT+=("ip netns del $NS_GW" "ip netns del $NS_A" "ip netns del $NS_B")
ip netns add "$NS_A"
ip netns add "$NS_B"
link() {  # NS GW_IF NODE_IF GW_ADDR NODE_ADDR
  ip link add "$2" type veth peer name "$3"
  ip link set "$2" netns "$NS_GW"
  ip link set "$3" netns "$1"
  ip -n "$NS_GW" addr add "$4/24" dev "$2"
  ip -n "$1" addr add "$5/24" dev "$3"
  ip -n "$NS_GW" link set "$2" up
  ip -n "$1" link set "$3" up
  ip -n "$1" link set lo up
  ip -n "$1" route add default via "$4"
}
link "$NS_A" gwa$tag na$tag 10.231.1.1 10.231.1.2
link "$NS_B" gwb$tag nb$tag 10.231.2.1 10.231.2.2
ip -n "$NS_GW" link set lo up
ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
pass "namespaces a, gw, b with a routed link (the pair forming below proves it routes)"

A=10.231.1.2:7420
B=10.231.2.2:7420
W=10.231.1.1:7430
declare -A PID
ctl() { ip netns exec "$NS_GW" "$DUETCTL" --insecure --timeout 1 "$@"; }
role() { ctl --manager "$1" status --json 2>/dev/null | jq -r '.nodes[] | select(.self) | .role'; }
acting() { ctl --manager "$1" status --json 2>/dev/null | jq -r '.master // "none"'; }
is_role() { [ "$(role "$1")" = "$2" ]; }

run_pair() {  # GUARD_YAML LABEL
  local guard=$1 label=$2 n
  for n in a b; do
    local me peer pn ns
    if [ $n = a ]; then me=$A peer=$B pn=b ns=$NS_A; else me=$B peer=$A pn=a ns=$NS_B; fi
    rm -rf "$WORK/$label-$n"; mkdir -p "$WORK/$label-$n"
    manager_config "$WORK/$label-$n.yaml" $n "$me" "{ sqlite: \"$WORK/$label-$n/$n.db\" }" "{ insecure: true }" \
      "peer: { name: $pn, address: \"$peer\" }
ha:   { interval_ms: 200, timeout_ms: 1000, $guard }"
    start "$WORK/$label-$n.log" ip netns exec "$ns" "$MANAGER" --config "$WORK/$label-$n.yaml"
    PID[$n]=$LAST_PID
  done
  wait_until 15 is_role "$A" master || fail "$label: a never became master"
  wait_until 15 is_role "$B" standby || fail "$label: b never became standby"

  ip -n "$NS_A" link set na$tag down   # cut a's link
  wait_until 6 is_role "$B" master || fail "$label: b did not take over"
  # a cannot be asked now (its link is down): its log says it stopped acting.
  wait_until 5 grep -q "stopped acting: cut off from the peer" "$WORK/$label-a.log" || fail "$label: a did not stop acting"
  pass "$label: link of the master cut: a stops acting, b master"

  ip -n "$NS_A" link set na$tag up
  ip -n "$NS_A" route add default via 10.231.1.1 2>/dev/null || true
  wait_until 10 is_role "$A" fenced || fail "$label: a is $(role "$A") after the link came back, not fenced"
  [ "$(acting "$A")" != a ] || fail "$label: a acts again"
  out=$(ctl --manager "$A,$B" failback --wait 15 2>&1) || fail "$label: failback: $out"
  is_role "$A" standby && is_role "$B" master || fail "$label: after failback a $(role "$A") b $(role "$B")"
  pass "$label: link back: a fenced until failback, then standby"
  kill -TERM "${PID[a]}" "${PID[b]}"
  wait_exit "${PID[a]}" 15
  wait_exit "${PID[b]}" 15
}

# Without a witness: the gateway is the reference address.
run_pair 'guard: reference, reference: ["icmp:10.231.1.1", "icmp:10.231.2.1"]' reference

# With a witness in the gateway namespace.
cat >"$WORK/witness.yaml" <<YAML
listen: "$W"
state: "$WORK/witness.state"
tls: { insecure: true }
max_lease_ms: 1000
YAML
start "$WORK/witness.log" ip netns exec "$NS_GW" "$BIN/witness/duet-witness" --config "$WORK/witness.yaml"
sleep 1.2  # the witness's quiet period after start
run_pair "guard: witness, witness: { address: \"$W\" }" witness
echo "ha_netns: all passed"
