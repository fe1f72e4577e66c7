#!/usr/bin/env bash
# duet-witness as an operator runs it, over mutual TLS on 127.0.1.5: grants
# the lease to one node at a time, keeps the highest epoch across a restart
# and waits out its quiet period after one, refuses to start on a corrupt
# state file, stops cleanly on SIGTERM/SIGINT.
source "$(dirname "$0")/lib.sh"
WITNESS=$BIN/witness/duet-witness
PROBE=$BIN/tests/witness_probe
addr=127.0.1.5:17430
quiet_ms=3000
DUET_CERT_SANS="IP:127.0.1.5" "$SRC/scripts/gen-certs" "$WORK/certs" >/dev/null
c=$WORK/certs
state=$WORK/w/state

"$WITNESS" --version | grep -Eq "^duet-witness [0-9]+\.[0-9]+\.[0-9]+" || fail "--version"
"$WITNESS" --help | grep -qi "usage" || fail "--help"
pass "--version and --help"

# witness_config FILE [EXTRA_YAML]
witness_config() {
  cat >"$1" <<YAML
listen: "$addr"
state: "$state"
tls: { ca: "$c/ca.pem", cert: "$c/manager.pem", key: "$c/manager.key" }
max_lease_ms: $quiet_ms
log: { file: "$WORK/${2:-w}.log" }
YAML
}

# Config errors: exit 2, "config error: FILE:LINE: KEY: REASON".
printf 'listen: "%s"\ntls: { insecure: true }\n' "$addr" >"$WORK/bad.yaml"
out=$("$WITNESS" --config "$WORK/bad.yaml" 2>&1) && fail "a config without state started"
rc=$?; [ $rc = 2 ] || fail "config error exit code $rc"
echo "$out" | grep -q "^config error: .*state" || fail "config error message: $out"
printf 'listen: "%s"\nstate: x\nmax_lease_ms: 5\ntls: { insecure: true }\n' "$addr" >"$WORK/bad2.yaml"
"$WITNESS" --config "$WORK/bad2.yaml" >/dev/null 2>&1 && fail "max_lease_ms 5 accepted"
pass "a bad config exits 2 with 'config error:'"

# probe NODE EPOCH [ARGS...]: one Acquire over mTLS with the managers' certificate.
probe() {
  local node=$1 epoch=$2
  shift 2
  "$PROBE" --witness "$addr" --ca "$c/ca.pem" --cert "$c/manager.pem" --key "$c/manager.key" \
    --pair a/b --node "$node" --epoch "$epoch" --duration-ms 20000 "$@"
}
answers() { probe a 0 >/dev/null 2>&1; }
granted() { probe "$1" "$2" | jq -e '.granted' >/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- First start: no state file yet ----
witness_config "$WORK/w.yaml" w1
t0=$(now_ms)
start "$WORK/w1.out" "$WITNESS" --config "$WORK/w.yaml"
pid=$LAST_PID
wait_until 20 answers || fail "witness never answered"
grep -q "does not exist: first start" "$WORK/w1.log" || fail "first start not logged"
grep -q "^lease_bound_ms $quiet_ms\$" "$state" || fail "state file not written at start: $(cat "$state")"
grep -q "client certificates required" "$WORK/w1.log" || fail "log does not say mTLS is on"
r=$(probe a 1)
echo "$r" | jq -e '.granted == false and (.reason | test("quiet period"))' >/dev/null || fail "granted during the quiet period: $r"
pass "first start: state file created, quiet period honoured"

wait_until 20 granted a 1 || fail "a never got the lease"
[ $(($(now_ms) - t0)) -ge $quiet_ms ] || fail "lease granted before the quiet period ended"
r=$(probe a 1)
echo "$r" | jq -e '.granted and .holder == "a" and .holder_epoch == 1 and .highest_epoch == 1 and .granted_ms == '$quiet_ms >/dev/null || fail "renewal: $r"
pass "lease granted to a, capped at max_lease_ms"

for e in 1 2 9; do
  r=$(probe b $e)
  echo "$r" | jq -e '.granted == false and .holder == "a" and (.reason | test("held by a"))' >/dev/null || fail "b got the lease in epoch $e: $r"
done
grep -q "lease granted: pair a/b to a in epoch 1" "$WORK/w1.log" || fail "grant not logged"
[ "$(grep -c "lease refused: pair a/b to b" "$WORK/w1.log")" = 1 ] || fail "repeated refusals should be logged once"
grep -q "^pair a/b 1 a\$" "$state" || fail "epoch 1 not in the state file: $(cat "$state")"
pass "b is refused while a holds the lease"

r=$(probe a 1 --release)
echo "$r" | jq -e '.holder == ""' >/dev/null || fail "release: $r"
r=$(probe b 1)
echo "$r" | jq -e '.granted == false and (.reason | test("stale epoch"))' >/dev/null || fail "b in a's epoch: $r"
r=$(probe b 2)
echo "$r" | jq -e '.granted and .holder == "b" and .highest_epoch == 2' >/dev/null || fail "b after release: $r"
grep -q "^pair a/b 2 b\$" "$state" || fail "epoch 2 not persisted: $(cat "$state")"
pass "release ends the lease at once; b takes it with a higher epoch"

"$PROBE" --witness "$addr" --insecure --pair a/b --node a >/dev/null 2>&1 && fail "plaintext client served"
"$PROBE" --witness "$addr" --ca "$c/ca.pem" --pair a/b --node a >/dev/null 2>&1 && fail "client without a certificate served"
pass "clients without a certificate are refused"

out=$("$PROBE" --witness "$addr" --ca "$c/ca.pem" --cert "$c/agent.pem" --key "$c/agent.key" \
  --pair a/b --node b --epoch 9 --duration-ms 20000 2>&1) && fail "an agent's certificate was served: $out"
echo "$out" | grep -q "tls.peer_names" || fail "refusal does not say why: $out"
grep -q "refused a lease call: certificate names \[duet-agent" "$WORK/w1.log" || fail "refusal not logged"
pass "a certificate of the same CA that is not a manager's is refused"

# A second witness on the same address refuses to start (no SO_REUSEPORT).
cat "$WORK/w.yaml" | sed "s#$state#$WORK/w2/state#; s#w1.log#w2.log#" >"$WORK/w2.yaml"
start "$WORK/w2.out" "$WITNESS" --config "$WORK/w2.yaml"
wait_exit "$LAST_PID" 15; [ "$WAIT_RC" = 1 ] || fail "second witness on a busy address: rc $WAIT_RC"
grep -q "cannot listen" "$WORK/w2.log" || fail "busy address: no reason"
pass "a busy address refuses to start"

kill -TERM "$pid"
wait_exit "$pid" 15; [ "$WAIT_RC" = 0 ] || fail "SIGTERM exit code $WAIT_RC"
grep -q "shutting down" "$WORK/w1.log" || fail "no shutdown in the log"
pass "SIGTERM: exit 0"

# ---- Restart: epochs kept, quiet period again ----
witness_config "$WORK/w.yaml" w3
t0=$(now_ms)
start "$WORK/w3.out" "$WITNESS" --config "$WORK/w.yaml"
pid=$LAST_PID
wait_until 20 answers || fail "restarted witness never answered"
grep -q "highest epochs: a/b epoch 2 (b)" "$WORK/w3.log" || fail "restart did not load the state"
r=$(probe b 2)
echo "$r" | jq -e '.granted == false and .highest_epoch == 2 and (.reason | test("quiet period"))' >/dev/null || fail "renewal during the quiet period: $r"
r=$(probe a 3)
echo "$r" | jq -e '.granted == false and (.reason | test("quiet period"))' >/dev/null || fail "grant during the quiet period: $r"
wait_until 20 granted b 2 || fail "b never renewed in epoch 2 after the restart"
[ $(($(now_ms) - t0)) -ge $quiet_ms ] || fail "renewal before the quiet period ended"
r=$(probe a 2)
echo "$r" | jq -e '.granted == false and .holder == "b"' >/dev/null || fail "a while b holds: $r"
probe b 2 --release >/dev/null || fail "release by b"
r=$(probe a 2)
echo "$r" | jq -e '.granted == false and (.reason | test("stale epoch"))' >/dev/null || fail "a in b's epoch after restart: $r"
granted a 3 || fail "a with a higher epoch"
grep -q "^pair a/b 3 a\$" "$state" || fail "epoch 3 not persisted"
pass "restart: highest epoch kept, quiet period honoured, then the holder renews"

# The manager's WitnessGuard over the real gRPC link.
guard() {  # NODE EPOCH: runs the guard 1.5 s, verdicts as JSON lines
  "$PROBE" --witness "$addr" --ca "$c/ca.pem" --cert "$c/manager.pem" --key "$c/manager.key" \
    --pair a/b --node "$1" --epoch "$2" --duration-ms 20000 --interval-ms 200 --guard-ms 1500
}
v=$(guard a 3)
[ "$(echo "$v" | wc -l)" -ge 5 ] || fail "guard: too few verdicts: $v"
echo "$v" | jq -se 'all(.ok and .valid_for_ms > 2000 and .valid_for_ms <= 2770)' >/dev/null || fail "guard verdicts: $v"
echo "$v" | head -1 | jq -e '.detail | test("lease held in epoch 3 \\(3000 ms granted")' >/dev/null || fail "guard detail: $v"
r=$(probe a 0)
echo "$r" | jq -e '.holder == ""' >/dev/null || fail "the guard's stop() did not release: $r"
v=$(guard b 3)
echo "$v" | jq -se 'all(.ok == false and (.detail | test("refused epoch 3: stale epoch")))' >/dev/null || fail "guard b: $v"
pass "WitnessGuard: holds and renews a lease, releases it at stop, reports a refusal"

kill -INT "$pid"
wait_exit "$pid" 15; [ "$WAIT_RC" = 0 ] || fail "SIGINT exit code $WAIT_RC"
pass "SIGINT: exit 0"

v=$(guard a 3)
echo "$v" | jq -se 'length >= 3 and all(.ok == false and (.detail | test("unreachable")))' >/dev/null || fail "guard without witness: $v"
pass "WitnessGuard: an unreachable witness is reported, not ok"

# ---- A damaged state file refuses to start, and is left as it was ----
refuses() {  # NAME: the witness must exit 1 naming the corrupt state file
  cp "$state" "$WORK/before"
  start "$WORK/$1.out" "$WITNESS" --config "$WORK/w.yaml"
  wait_exit "$LAST_PID" 15; [ "$WAIT_RC" = 1 ] || fail "$1: started on a damaged state file (rc $WAIT_RC)"
  grep -q "corrupt" "$WORK/$1.log" || fail "$1: no reason in the log"
  grep -q "refusing to start" "$WORK/$1.log" || fail "$1: no refusal in the log"
  cmp -s "$state" "$WORK/before" || fail "$1: the state file was changed"
}
good=$(cat "$state")
sed -i 's/^pair a\/b 3 a$/pair a\/b 9 a/' "$state"
witness_config "$WORK/w.yaml" edited; refuses edited
printf '' >"$state"
witness_config "$WORK/w.yaml" empty; refuses empty
printf '%s' "$good" | head -c 30 >"$state"
witness_config "$WORK/w.yaml" truncated; refuses truncated
pass "an edited, empty or truncated state file refuses to start"

echo "witness: all passed"
