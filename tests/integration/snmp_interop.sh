#!/usr/bin/env bash
# net-snmp interop: net-snmp's snmptrap/snmpinform (Debian package "snmp")
# send v1, v2c and v3 traps and informs to snmp_recv (the duet_snmp codec
# behind a UDP socket on 127.0.0.1); each must be decoded with the right
# varbinds, and every inform must be answered (net-snmp exits 0 only when the
# Response arrives, after its own engine-id discovery for v3). Then
# snmp_send is checked against snmp_recv the same way.
source "$(dirname "$0")/lib.sh"
RECV=$BIN/tests/snmp_recv
SEND=$BIN/tests/snmp_send
command -v snmptrap >/dev/null || fail "snmptrap missing: install the Debian package 'snmp' (scripts/setup-deps)"
export MIBS= MIBDIRS=/nonexistent HOME=$WORK  # numeric OIDs only; no ~/.snmp state
PORT=$((20000 + RANDOM % 20000))
SENDER_ENGINE=0x8000000001020304
pw=authpass123
px=privpass123

# Which auth protocols this net-snmp offers (SHA-256 since 5.8).
sha256=0
help=$(snmptrap -h 2>&1 || true)
grep -q "SHA-256" <<<"$help" && sha256=1

users=(--user "sha-aes,SHA,$pw,AES,$px,$SENDER_ENGINE" --user "md5-des,MD5,$pw,DES,$px,$SENDER_ENGINE"
  --user "md5-auth,MD5,$pw,none,,$SENDER_ENGINE" --user "plain,none,,none,,$SENDER_ENGINE")
[ $sha256 = 1 ] && users+=(--user "sha256-aes,SHA-256,$pw,AES,$px,$SENDER_ENGINE" --user "sha512-des,SHA-512,$pw,DES,$px,$SENDER_ENGINE")

start "$WORK/recv.log" "$RECV" --listen "127.0.0.1:$PORT" --community public "${users[@]}" \
  --count 1000 --timeout-ms 30000
wait_until 5 grep -q listening "$WORK/recv.log" || fail "snmp_recv did not start"
target=127.0.0.1:$PORT
n=0

# expect_message N LINE...: the N-th accepted message's block holds each LINE.
expect_message() {
  local want=$1
  shift
  wait_until 5 bash -c "[ \$(grep -c '^ok ' '$WORK/recv.log') -ge $want ]" ||
    fail "message $want not decoded"
  local block
  block=$(awk -v n="$want" '/^ok /{c++} c==n && !/^error /' "$WORK/recv.log")
  for line in "$@"; do
    grep -qF -- "$line" <<<"$block" || fail "message $want lacks '$line':"$'\n'"$block"
  done
}

snmptrap -v 1 -c public "$target" 1.3.6.1.4.1.8072.3.2.10 127.0.0.5 6 17 4242 \
  1.3.6.1.2.1.1.5.0 s v1host
expect_message $((n += 1)) "ok v1 Trap-v1 community=public" "generic=6 specific=17" \
  'vb 1.3.6.1.2.1.1.5.0 = STRING: "v1host"'
pass "v1 trap"

snmptrap -v 2c -c public "$target" 123 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.2.2.1.1.2 i 2 \
  1.3.6.1.2.1.1.5.0 s "host one" 1.3.6.1.2.1.4.20.1.1.10.0.0.1 a 10.0.0.1 1.3.6.1.2.1.2.2.1.10.2 c 4000000000
expect_message $((n += 1)) "ok v2c SNMPv2-Trap community=public" \
  "vb 1.3.6.1.2.1.1.3.0 = Timeticks: (123)" "vb 1.3.6.1.6.3.1.1.4.1.0 = OID: 1.3.6.1.6.3.1.1.5.3" \
  "vb 1.3.6.1.2.1.2.2.1.1.2 = INTEGER: 2" 'vb 1.3.6.1.2.1.1.5.0 = STRING: "host one"' \
  "IpAddress: 10.0.0.1" "Counter32: 4000000000"
pass "v2c trap"

v3trap() {  # USER AUTH PRIV LEVEL TEXT
  local args=(-v 3 -e "$SENDER_ENGINE" -u "$1" -l "$4")
  [ "$2" != none ] && args+=(-a "$2" -A "$pw")
  [ "$3" != none ] && args+=(-x "$3" -X "$px")
  snmptrap "${args[@]}" "$target" 555 1.3.6.1.6.3.1.1.5.4 1.3.6.1.2.1.1.5.0 s "$5"
  expect_message $((n += 1)) "ok v3 SNMPv2-Trap community= user=$1 level=$4" \
    "vb 1.3.6.1.2.1.1.3.0 = Timeticks: (555)" "OID: 1.3.6.1.6.3.1.1.5.4" "STRING: \"$5\""
  pass "v3 trap $1 ($4)"
}
v3trap plain none none noAuthNoPriv "v3 plain"
v3trap md5-auth MD5 none authNoPriv "v3 md5"
v3trap sha-aes SHA AES authPriv "v3 sha aes"
v3trap md5-des MD5 DES authPriv "v3 md5 des"
if [ $sha256 = 1 ]; then
  v3trap sha256-aes SHA-256 AES authPriv "v3 sha256 aes"
  v3trap sha512-des SHA-512 DES authPriv "v3 sha512 des"
else
  echo "note: this net-snmp has no SHA-2; SHA-256 interop not run"
fi

# A wrong password is refused and counted, not decoded.
snmptrap -v 3 -e "$SENDER_ENGINE" -u sha-aes -l authPriv -a SHA -A wrongpass123 -x AES -X "$px" \
  "$target" 1 1.3.6.1.6.3.1.1.5.4
wait_until 5 grep -q "^error wrong digest" "$WORK/recv.log" || fail "wrong password not refused"
pass "v3 trap with a wrong password refused as wrong digest"

# Informs: net-snmp exits 0 only when our Response arrives.
timeout 20 snmpinform -v 2c -c public -t 2 -r 2 "$target" 77 1.3.6.1.6.3.1.1.5.3 \
  1.3.6.1.2.1.1.5.0 s "inform v2c" || fail "v2c inform not acknowledged"
expect_message $((n += 1)) "ok v2c InformRequest" 'STRING: "inform v2c"'
pass "v2c inform answered"
v3inform() {  # USER AUTH PRIV
  timeout 20 snmpinform -v 3 -u "$1" -l authPriv -a "$2" -A "$pw" -x "$3" -X "$px" -t 2 -r 2 \
    "$target" 77 1.3.6.1.6.3.1.1.5.3 1.3.6.1.2.1.1.5.0 s "inform $1" ||
    fail "v3 inform $1 not acknowledged"
  expect_message $((n += 1)) "ok v3 InformRequest community= user=$1 level=authPriv" \
    "STRING: \"inform $1\""
  pass "v3 inform $1 answered (after engine discovery)"
}
v3inform sha-aes SHA AES
v3inform md5-des MD5 DES
[ $sha256 = 1 ] && v3inform sha256-aes SHA-256 AES

# snmp_send against the same receiver.
"$SEND" --target "$target" -v 2c --inform --count 3 >"$WORK/send.out" || fail "snmp_send v2c: $(cat "$WORK/send.out")"
grep -q "acknowledged=3" "$WORK/send.out" || fail "snmp_send v2c: $(cat "$WORK/send.out")"
n=$((n + 3))
"$SEND" --target "$target" -v 3 -u md5-des -a MD5 -A "$pw" -x DES -X "$px" --inform --count 2 \
  --varbind 1.3.6.1.2.1.1.5.0=s:from-send >"$WORK/send.out" || fail "snmp_send v3: $(cat "$WORK/send.out")"
grep -q "acknowledged=2" "$WORK/send.out" || fail "snmp_send v3: $(cat "$WORK/send.out")"
expect_message $((n += 2)) "ok v3 InformRequest community= user=md5-des" 'STRING: "from-send"'
"$SEND" --target "$target" -v 3 -e "$SENDER_ENGINE" -u sha-aes -a SHA -A "$pw" -x AES -X "$px" \
  --count 1 >"$WORK/send.out" || fail "snmp_send v3 trap"
expect_message $((n += 1)) "ok v3 SNMPv2-Trap community= user=sha-aes level=authPriv"
pass "snmp_send v2c/v3 informs acknowledged, v3 trap decoded"

# Without OpenSSL's legacy provider, DES fails with a clear error; AES still works.
PORT2=$((PORT + 1))
OPENSSL_MODULES=$WORK/no-modules start "$WORK/recv-nolegacy.log" "$RECV" --listen "127.0.0.1:$PORT2" \
  "${users[@]}" --count 1 --timeout-ms 30000
wait_until 5 grep -q listening "$WORK/recv-nolegacy.log" || fail "snmp_recv (no legacy) did not start"
snmptrap -v 3 -e "$SENDER_ENGINE" -u md5-des -l authPriv -a MD5 -A "$pw" -x DES -X "$px" \
  "127.0.0.1:$PORT2" 1 1.3.6.1.6.3.1.1.5.4
wait_until 5 grep -q "DES privacy needs OpenSSL's legacy provider" "$WORK/recv-nolegacy.log" ||
  fail "no clear error for DES without the legacy provider: $(cat "$WORK/recv-nolegacy.log")"
snmptrap -v 3 -e "$SENDER_ENGINE" -u sha-aes -l authPriv -a SHA -A "$pw" -x AES -X "$px" \
  "127.0.0.1:$PORT2" 1 1.3.6.1.6.3.1.1.5.4
wait_until 5 grep -q "^ok v3 SNMPv2-Trap" "$WORK/recv-nolegacy.log" || fail "AES trap without legacy provider"
pass "without the legacy provider: DES refused with a clear error, AES still decoded"
