#!/usr/bin/env bash
# Notifications on a real pair (127.0.0.11 / 127.0.0.12): channels and
# notifications through duetctl apply/export; syslog events notify through a
# webhook (a local HTTP receiver that fails its first answers, so retries
# show), mail (a real SMTP server, aiosmtpd), a command and a syslog forward;
# a channel outside its calendar is muted; "after 3, repeat never" suppresses;
# the console (events show/confirm, board, notify list/show/outbox/test); and
# a kill -9 of the master while events flow: every intended notification
# arrives, and duplicates are counted (by idempotency key) on the receiver.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17640
B=127.0.0.12:17640
PAIR="$A,$B"
SA=127.0.0.11
SB=127.0.0.12
PORT=17641
HOOK=127.0.0.1:17642
SMTP=127.0.0.1:17643
FWD=127.0.0.1:17644
SMTPS=127.0.0.1:17645
SINK="$WORK/sink.jsonl"

PY=/usr/bin/python3  # Debian's, where python3-aiosmtpd is installed
$PY -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed (scripts/setup-deps)"
"$SRC/scripts/gen-certs" "$WORK/certs" >/dev/null
printf 'mail-secret\n' >"$WORK/smtp.pass"
start "$WORK/sink.log" $PY "$SRC/tests/support/notify_sink.py" --http "$HOOK" --smtp "$SMTP" \
  --smtps "$SMTPS" --smtps-cert "$WORK/certs/manager.pem,$WORK/certs/manager.key,duet,mail-secret" \
  --syslog-udp "$FWD" --out "$SINK" --fail-first 2 --max-seconds 280
wait_until 10 grep -q ready "$WORK/sink.log" || fail "the sink did not start"

config() { # NAME ADDR PEER PEER_ADDR SYSLOG_HOST
  pair_config "$1" "$2" "$3" "$4"
  cat >>"$WORK/$1.yaml" <<YAML
receivers:
  syslog: { udp: "$5:$PORT" }
events:
  window_ms: 5000
  rules:
    - { name: crit, message: "^crit", priority: critical }
    - { name: flap, message: "^flap", priority: warning }
notifications: { workers: 2 }
YAML
}
config a "$A" b "$B" "$SA"
config b "$B" a "$A" "$SB"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
send_both() { printf '%s' "$1" >/dev/udp/$SA/$PORT; printf '%s' "$1" >/dev/udp/$SB/$PORT; }
sink_count() { # KIND JQ-FILTER: lines of that kind matching
  [ -f "$SINK" ] || { echo 0; return; }
  jq -s --arg k "$1" "[.[] | select(.kind == \$k) | select($2)] | length" "$SINK"
}
sink_is() { [ "$(sink_count "$1" "$2")" = "$3" ]; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"

# A day that is not today nor tomorrow (UTC): the muted channel's only day.
other_day=$(date -u -d '+3 days' +%a | tr 'A-Z' 'a-z')
cat >"$WORK/notify.yaml" <<YAML
channels:
  - name: hook
    kind: webhook
    params: { url: "http://$HOOK/hook", body: '{"text": "{{message}}", "priority": "{{priority}}", "event": "{{event_id}}"}' }
    headers: { X-Team: ops }
    retry: { attempts: 5, backoff: 100ms, max_backoff: 1s }
  - name: mail
    kind: mail
    params: { url: "smtp://$SMTP", starttls: "off", from: duet@example.com, to: "ops@example.com, oncall@example.com", subject: "[{{priority}}] {{message}}" }
  - name: securemail
    kind: mail
    params: { url: "smtp://$SMTPS", starttls: required, ca_file: "$WORK/certs/ca.pem", user: duet, password_file: "$WORK/smtp.pass", from: duet@example.com, to: "sec@example.com" }
  - name: cmd
    kind: command
    params: { command: 'printf "%s %s %s\n" "\$DUET_KEY" "\$DUET_PRIORITY" "\$DUET_MESSAGE" >> $WORK/cmd.out' }
  - name: fwd
    kind: syslog
    params: { address: "$FWD", transport: udp, facility: local3 }
  - name: night
    kind: webhook
    params: { url: "http://$HOOK/night" }
    calendar: { zone: UTC, days: [$other_day] }
notifications:
  - name: crit-all
    monitors: [syslog]
    priorities: [critical]
    pattern: "^crit-1\$"
    channels: [hook, mail, securemail, cmd, fwd, night]
  - name: flapping
    monitors: [syslog]
    pattern: "^flap"
    after: 3
    repeat: never
    channels: [hook]
  - name: stream
    monitors: [syslog]
    pattern: "^crit-[sw]-"
    channels: [hook]
YAML
ctl_insecure --manager "$PAIR" apply -f "$WORK/notify.yaml" >"$WORK/apply.out" || fail "apply: $(cat "$WORK/apply.out")"
grep -q "channel hook: created" "$WORK/apply.out" || fail "apply output: $(cat "$WORK/apply.out")"
grep -q "notification flapping: created" "$WORK/apply.out" || fail "apply output: $(cat "$WORK/apply.out")"
ctl_insecure --manager "$PAIR" apply -f "$WORK/notify.yaml" | grep -q "notification flapping: unchanged" || fail "apply twice is not unchanged"
# A bad file changes nothing and names the line.
printf 'channels:\n  - name: bad\n    kind: webhook\n    params: { url: "ftp://x" }\n' >"$WORK/bad.yaml"
if ctl_insecure --manager "$PAIR" apply -f "$WORK/bad.yaml" 2>"$WORK/bad.err"; then fail "a bad channel was applied"; fi
grep -q "bad.yaml:4: channel 'bad': params.url" "$WORK/bad.err" || fail "bad channel error: $(cat "$WORK/bad.err")"
# Export round-trips.
ctl_insecure --manager "$PAIR" export >"$WORK/export.yaml"
grep -q "name: flapping" "$WORK/export.yaml" || fail "export: $(cat "$WORK/export.yaml")"
ctl_insecure --manager "$PAIR" apply -f "$WORK/export.yaml" >"$WORK/reapply.out"
! grep -E "(created|updated|removed)" "$WORK/reapply.out" || fail "export applied back changed something: $(cat "$WORK/reapply.out")"
ctl_insecure --manager "$B" notify list --json | jq -e '.channels | length == 6' >/dev/null || fail "the standby does not have the channels"
pass "channels and notifications: apply, refused with FILE:LINE, export round-trips, replicated"

# ---- One critical event: every channel, once; retries; a muted channel ----
send_both "<13>Oct 11 22:14:15 host app: crit-1"
wait_until 20 sink_is webhook '.path == "/hook" and .body.text == "crit-1"' 1 || fail "webhook: $(cat "$SINK" 2>/dev/null)"
wait_until 20 sink_is mail '.subject == "[critical] crit-1"' 1 || fail "mail: $(cat "$SINK")"
wait_until 20 sink_is mail '.secure and .tls and .login and .to == ["sec@example.com"]' 1 || fail "mail with STARTTLS and AUTH: $(cat "$SINK"; tail "$WORK/sink.log")"
wait_until 20 sink_is syslog '.line | test("crit-1$")' 1 || fail "syslog forward: $(cat "$SINK")"
wait_until 20 test -s "$WORK/cmd.out" || fail "command did not run"
grep -q "critical crit-1" "$WORK/cmd.out" || fail "command output: $(cat "$WORK/cmd.out")"
sink_is webhook '.path == "/night"' 0 || fail "the muted channel sent"
j=$(jq -s '[.[] | select(.kind == "webhook" and .path == "/hook")][0]' "$SINK")
echo "$j" | jq -e '.key | test("^duet-[0-9]+-[0-9]+$")' >/dev/null || fail "Idempotency-Key: $j"
echo "$j" | jq -e '.header_x_team == "ops" and .body.priority == "critical"' >/dev/null || fail "webhook: $j"
jq -s -e '[.[] | select(.kind == "mail" and (.secure | not))][0] | (.to | sort) == ["oncall@example.com", "ops@example.com"] and (.message_id | test("^<duet-[0-9]+-[0-9]+@a.duet>$"))' "$SINK" >/dev/null || fail "mail: $(cat "$SINK")"
jq -s -e '[.[] | select(.kind == "syslog")][0].line | test("^<154>1 .* a duet - notify \\[duet@32473 key=\"duet-")' "$SINK" >/dev/null || fail "syslog line: $(cat "$SINK")"
o=$(ctl_insecure --manager "$PAIR" notify outbox --notification crit-all --json)
echo "$o" | jq -e '[.intents[] | select(.channel == "night")][0].state == "muted"' >/dev/null || fail "muted intent: $o"
echo "$o" | jq -e '[.intents[] | select(.channel == "hook")][0] | .state == "sent" and .attempts == 3' >/dev/null || fail "retried intent: $o"
event=$(echo "$o" | jq -r '.intents[0].event_id')
pass "one critical event: webhook (after 2 failed tries), mail (plain, and STARTTLS with AUTH), command and syslog forward once each; the muted channel kept as muted"

# ---- Suppression: after 3, repeat never ----
for i in 1 2 3 4 5 6; do send_both "<13>Oct 11 22:14:15 host app: flap-$i"; sleep 0.05; done
wait_until 20 sink_is webhook '.body.text | test("^flap")' 1 || fail "flapping: $(sink_count webhook '.body.text | test("^flap")')"
sleep 1
sink_is webhook '.body.text | test("^flap")' 1 || fail "flapping notified more than once"
sink_is webhook '.body.text == "flap-3"' 1 || fail "flapping did not notify on the 3rd: $(cat "$SINK")"
pass "after 3, repeat never: the 3rd of 6 warnings notified, and only it"

# ---- The console ----
ctl_insecure --manager "$PAIR" events show "$event" --json | jq -e '.confirm_state == "unconfirmed" and (.notifications | length == 6)' >/dev/null || fail "events show: $(ctl_insecure --manager "$PAIR" events show "$event" --json)"
ctl_insecure --manager "$PAIR" events confirm "$event" --by alice --comment "on it" | grep -q "1 event(s) set confirmed" || fail "events confirm"
ctl_insecure --manager "$B" events show "$event" --json | jq -e '.confirm_state == "confirmed" and .confirmed_by == "alice" and .confirm_comment == "on it"' >/dev/null || fail "confirmation not on the standby"
if ctl_insecure --manager "$PAIR" events confirm 99999999 2>/dev/null; then fail "confirming a missing event succeeded"; fi
ctl_insecure --manager "$PAIR" notify show crit-all | grep -q "channels: hook,mail,securemail,cmd,fwd,night" || fail "notify show"
ctl_insecure --manager "$PAIR" notify test hook --message "hello from the test" >/dev/null || fail "notify test"
wait_until 10 sink_is webhook '.body.text == "hello from the test"' 1 || fail "notify test did not arrive"
ctl_insecure --manager "$PAIR" board --json | jq -e '.nodes | type == "array"' >/dev/null || fail "board"
pass "console: events show/confirm (replicated, with who and a comment), notify show/test, board"

# ---- Failover: events flowing, kill -9 of the master ----
N=400
(
  for ((i = 1; i <= N; i++)); do
    send_both "<13>Oct 11 22:14:15 host app: crit-s-$i"
    sleep 0.01
  done
) &
sender=$!
sleep 1.5
kill -KILL "${PID[a]}"
wait "$sender"
wait_until 20 is_role "$B" master || fail "b did not take over"
stream_count() { jq -s '[.[] | select(.kind == "webhook" and (.body.text | tostring | test("^crit-s-")))] | map(.body.text) | unique | length' "$SINK"; }
stream_is() { [ "$(stream_count)" = "$N" ]; }
wait_until 60 stream_is || fail "$(stream_count) of $N stream notifications arrived"
total=$(sink_count webhook '.body.text | tostring | test("^crit-s-")')
dups=$((total - N))
keys=$(jq -s '[.[] | select(.kind == "webhook" and (.body.text | tostring | test("^crit-s-")))] | map(.key) | unique | length' "$SINK")
# A duplicate is a resend of an intent the old master sent but had not yet
# marked sent: it carries the same key.
[ "$keys" = "$N" ] || fail "$keys distinct idempotency keys for $N notifications (a resend must keep its key)"
echo "failover: $N of $N stream notifications arrived, $dups duplicate(s) by idempotency key"
start_node a 2
ctl_insecure --manager "$PAIR" failback --wait 60 >/dev/null || fail "failback"
pass "kill -9 of the master mid-stream: every notification arrived ($dups duplicates, each with its original key)"

# ---- A planned switchover mid-stream: nothing lost, nothing sent twice ----
wait_until 30 is_role "$A" standby || fail "a is not standby after the failback"
(
  for ((i = 1; i <= N; i++)); do
    send_both "<13>Oct 11 22:14:15 host app: crit-w-$i"
    sleep 0.01
  done
) &
sender=$!
sleep 1.5
ctl_insecure --manager "$PAIR" switchover --wait 30 >/dev/null || fail "switchover"
wait "$sender"
sw_count() { jq -s '[.[] | select(.kind == "webhook" and (.body.text | tostring | test("^crit-w-")))] | map(.body.text) | unique | length' "$SINK"; }
sw_is() { [ "$(sw_count)" = "$N" ]; }
wait_until 60 sw_is || fail "$(sw_count) of $N notifications arrived across the switchover"
sleep 1
sw_total=$(sink_count webhook '.body.text | tostring | test("^crit-w-")')
[ "$sw_total" = "$N" ] || fail "$sw_total notifications for $N events across a switchover: $((sw_total - N)) sent twice"
is_role "$A" master || fail "a is not master after the switchover"
pass "switchover mid-stream: $N of $N notifications, none twice"
