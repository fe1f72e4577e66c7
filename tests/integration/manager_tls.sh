#!/usr/bin/env bash
# gRPC with mutual TLS: a client with a certificate from the pair's CA gets
# in; one without, or from another CA, or in plaintext, does not.
source "$(dirname "$0")/lib.sh"
addr=127.0.1.3:17420
DUET_CERT_SANS="IP:127.0.1.3" "$SRC/scripts/gen-certs" "$WORK/certs" >/dev/null
DUET_CERT_SANS="IP:127.0.1.3" "$SRC/scripts/gen-certs" "$WORK/other" >/dev/null
c=$WORK/certs
manager_config "$WORK/a.yaml" a "$addr" "{ sqlite: \"$WORK/a.db\" }" \
  "{ ca: \"$c/ca.pem\", cert: \"$c/manager.pem\", key: \"$c/manager.key\" }"
start "$WORK/a.log" "$MANAGER" --config "$WORK/a.yaml"
pid=$LAST_PID

tls_status() { "$DUETCTL" --manager "$addr" --timeout 2 "$@" status --json; }
good() { tls_status --ca "$c/ca.pem" --cert "$c/admin.pem" --key "$c/admin.key" 2>/dev/null | jq -e '.master == "a"' >/dev/null; }
wait_until 20 good || fail "client with a valid certificate was not served"
grep -q "client certificates required" "$WORK/a.log" || fail "log does not say mTLS is on"
pass "a client certificate from the pair's CA is accepted"

o=$WORK/other
tls_status --ca "$c/ca.pem" --cert "$o/admin.pem" --key "$o/admin.key" >/dev/null 2>&1 && fail "a certificate from another CA was accepted"
pass "a client certificate from another CA is refused"
tls_status --ca "$o/ca.pem" --cert "$o/admin.pem" --key "$o/admin.key" >/dev/null 2>&1 && fail "a server outside our CA was trusted"
pass "duetctl refuses a server its CA did not sign"
"$DUETCTL" --manager "$addr" --timeout 2 --insecure status >/dev/null 2>&1 && fail "plaintext was served"
pass "plaintext is refused by a TLS manager"
env -u DUET_TLS_CA "$DUETCTL" --manager "$addr" status >/dev/null 2>&1 && fail "duetctl ran with no TLS options"
out=$("$DUETCTL" --manager "$addr" status 2>&1 || true)
echo "$out" | grep -q "give --ca, --cert and --key" || fail "no hint without TLS options: $out"
pass "duetctl without TLS options says what to give"

grep -q "BEGIN" "$WORK/a.log" && fail "key material in the log"
kill -TERM "$pid"
wait_exit "$pid" 15; [ "$WAIT_RC" = 0 ] || fail "stop"

# Mismatched material refuses to start with the reason.
manager_config "$WORK/bad.yaml" a "$addr" "{ sqlite: \"$WORK/a.db\" }" \
  "{ ca: \"$c/ca.pem\", cert: \"$c/manager.pem\", key: \"$c/admin.key\" }"
start "$WORK/bad.log" "$MANAGER" --config "$WORK/bad.yaml"
wait_exit "$LAST_PID" 15; [ "$WAIT_RC" = 1 ] || fail "mismatched key did not refuse"
grep -q "does not match the certificate" "$WORK/bad.log" || fail "mismatched key: no reason"
pass "a key that does not match its certificate refuses to start"

# insecure: true warns at start.
manager_config "$WORK/i.yaml" a "$addr" "{ sqlite: \"$WORK/a.db\" }" "{ insecure: true }"
start "$WORK/i.log" "$MANAGER" --config "$WORK/i.yaml"
pid=$LAST_PID
wait_until 20 is_master "$addr" || fail "insecure manager"
grep -q "warn.*insecure: true" "$WORK/i.log" || fail "no warning for insecure"
kill -TERM "$pid"; wait_exit "$pid" 15
pass "insecure: true is served in plaintext with a warning"
echo "manager_tls: all passed"
