#!/usr/bin/env bash
# Job nets between real processes: a pair on 127.0.0.11 / 127.0.0.12 and one
# agent. Definitions are applied (a bad file is refused with FILE:LINE),
# a net runs on the agent with variables, an error branch and output tails;
# operators hold, release, approve, force-end and rerun. Then a net of
# 1,000 jobs runs and the master is killed (-9) in the middle: every job
# runs exactly once (each writes its unit and run id to a ledger), and the
# net ends normal, as it would have without the failure.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17760
B=127.0.0.12:17760
PAIR="$A,$B"
JOBS=${JOBS_TEST_COUNT:-1000}

SYSLOG_PORT=17761
pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
echo "receivers: { syslog: { udp: \"127.0.0.11:$SYSLOG_PORT\" } }" >>"$WORK/a.yaml"
echo "receivers: { syslog: { udp: \"127.0.0.12:$SYSLOG_PORT\" } }" >>"$WORK/b.yaml"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
ctl() { "$DUETCTL" --insecure --timeout 10 --manager "$@"; }

cat >"$WORK/agent.yaml" <<YAML
managers: ["$A", "$B"]
node: batch01
outbox: $WORK/agent/outbox.db
tls: { insecure: true }
reconnect_min_ms: 100
reconnect_max_ms: 500
YAML
mkdir -p "$WORK/agent"
start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
ctl "$PAIR" nodes add batch01 --address 127.0.0.1 >/dev/null || fail "nodes add batch01"
start "$WORK/agent.log" "$AGENT" --config "$WORK/agent.yaml"
PID[agent]=$LAST_PID
connected() {
  ctl "$PAIR" agents list --json 2>/dev/null |
    jq -e '.agents[] | select(.node == "batch01") | .state == "connected"' >/dev/null
}
wait_until 15 connected || fail "the agent never connected"
pass "pair up, agent batch01 connected"

# A bad file: every problem named with its line; nothing written.
cat >"$WORK/bad.yaml" <<'YAML'
jobnets:
  - name: broken
    units:
      - name: a
        command: {run: "true"}
      - name: b
        after: [nope]
        command: {run: "true", node: batch01}
YAML
out=$(ctl "$PAIR" jobs apply -f "$WORK/bad.yaml" 2>&1) && fail "a bad file was accepted"
echo "$out" | grep -q "bad.yaml:5:" || fail "no line for the missing node: $out"
echo "$out" | grep -q "bad.yaml:7:.*nope" || fail "no line for the unknown predecessor: $out"
[ "$(ctl "$PAIR" jobs list --json | jq '.nets | length')" = 0 ] || fail "a bad file wrote something"
pass "a bad file is refused, each problem as FILE:LINE"

cat >"$WORK/jobs.yaml" <<YAML
queues:
  - {name: serial, limit: 1}
node_limits:
  - {node: batch01, limit: 32}
jobnets:
  - name: smoke
    params: {TARGET: test}
    variables: {OUT: $WORK/out}
    units:
      - name: extract
        command: {run: "mkdir -p \${OUT}; echo extracting \${TARGET}; echo '::duet-set ROWS=42'", node: batch01}
      - name: load
        after: [extract]
        command: {run: "echo loaded \$ROWS_ENV rows=\${ROWS} >\${OUT}/load.txt; echo oops >&2; exit 1", node: batch01, env: {ROWS_ENV: "\${ROWS}"}}
      - name: check
        after: [{unit: load, status: any}]
        command: {run: "exit 5", node: batch01}
      - name: on-error
        wait:
          groups:
            - conditions: [{unit: check, status: abnormal}]
        command: {run: "echo handled", node: batch01}
      - name: approve
        approval: {prompt: "publish?"}
        after: [on-error]
      - name: publish
        after: [approve]
        command: {run: "echo published", node: batch01}
  - name: ticker
    max_sessions: 5
    schedules:
      - {cron: "*/2 * * * * *", zone: Europe/London}
    units:
      - {name: tick, command: {run: "echo \$DUET_SESSION \$DUET_BUSINESS_DAY >>$WORK/ticks", node: batch01}}
  - name: on-alarm
    triggers:
      - {kind: event, pattern: "DISK FULL"}
    units:
      - {name: clean, command: {run: "echo cleaned >>$WORK/alarms", node: batch01}}
  - name: on-file
    triggers:
      - {kind: file, node: batch01, path: $WORK/inbox/ready, on: created, interval: 1s}
    units:
      - {name: take, command: {run: "echo took >>$WORK/taken", node: batch01}}
  - name: copy
    units:
      - name: send
        transfer: {from_node: batch01, from_path: $WORK/outgoing.bin, to_node: batch01, to_path: $WORK/incoming/data.bin}
      - name: verify
        after: [send]
        command: {run: "cmp $WORK/outgoing.bin $WORK/incoming/data.bin", node: batch01}
  - name: bigcopy
    units:
      - name: send
        transfer: {from_node: batch01, from_path: $WORK/big.bin, to_node: batch01, to_path: $WORK/incoming/big.bin, overwrite: true}
      - name: verify
        after: [send]
        command: {run: "cmp $WORK/big.bin $WORK/incoming/big.bin", node: batch01}
  - name: wide
    units:
YAML
for i in $(seq 1 "$JOBS"); do
  # Ten chains side by side; each job waits for the one before it in its chain.
  if [ "$i" -le 10 ]; then after=""; else after="after: [j$((i - 10))], "; fi
  echo "      - {name: j$i, ${after}command: {run: \"echo \$DUET_UNIT \$DUET_RUN_ID >>$WORK/ledger; sleep 0.0\$((RANDOM % 5))\", node: batch01}}" >>"$WORK/jobs.yaml"
done
out=$(ctl "$PAIR" jobs apply -f "$WORK/jobs.yaml" --json) || fail "jobs apply: $out"
echo "$out" | jq -e '.committed and ([.changes[] | select(.kind == "jobnet" and .action == "created")] | length) == 7' \
  >/dev/null || fail "jobs apply: $out"
out=$(ctl "$PAIR" jobs apply -f "$WORK/jobs.yaml" --json) || fail "jobs apply again: $out"
echo "$out" | jq -e '[.changes[] | select(.action != "unchanged")] | length == 0' >/dev/null \
  || fail "applying the same file changed something: $out"
ctl "$PAIR" jobs export >"$WORK/export.yaml" || fail "jobs export"
out=$(ctl "$PAIR" jobs apply -f "$WORK/export.yaml" --json) || fail "apply the export: $out"
echo "$out" | jq -e '[.changes[] | select(.action != "unchanged")] | length == 0' >/dev/null \
  || fail "applying the export changed something: $out"
[ "$(ctl "$B" jobs list --json | jq '.nets | length')" = 7 ] || fail "the standby lacks the nets"
pass "definitions applied, replicated; applying them again or their export changes nothing"

# The smoke net: variables, an error branch, output tails, approval.
sid=$(ctl "$PAIR" jobs start smoke --param TARGET=prod --json | jq -r .session) || fail "jobs start"
unit_state() { ctl "$PAIR" jobs show "$1" --json | jq -r --arg u "$2" '.units[] | select(.path == $u) | .state'; }
wait_until 20 eval '[ "$(unit_state $sid approve)" = running ]' || fail "never reached the approval: $(ctl "$PAIR" jobs show "$sid")"
show=$(ctl "$PAIR" jobs show "$sid" --json)
echo "$show" | jq -e '.units[] | select(.path == "extract") | .runs[0].stdout_tail | contains("extracting prod")' >/dev/null \
  || fail "extract's output: $show"
echo "$show" | jq -e '.variables.ROWS == "42"' >/dev/null || fail "::duet-set: $show"
grep -q "loaded 42 rows=42" "$WORK/out/load.txt" || fail "load did not see the variable: $(cat "$WORK/out/load.txt")"
echo "$show" | jq -e '.units[] | select(.path == "load") | .end_status == "warning" and .end_value == 1 and (.runs[0].stderr_tail | contains("oops"))' >/dev/null \
  || fail "load's end: $show"
echo "$show" | jq -e '.units[] | select(.path == "check") | .end_status == "abnormal" and .end_value == 5' >/dev/null \
  || fail "check's end: $show"
echo "$show" | jq -e '.units[] | select(.path == "on-error") | .end_status == "normal"' >/dev/null \
  || fail "the error branch: $show"
ctl "$PAIR" jobs approve "$sid" publish >/dev/null 2>&1 && fail "approve of a command job was accepted"
ctl "$PAIR" jobs approve "$sid" approve >/dev/null || fail "approve"
wait_until 20 eval '[ "$(ctl "$PAIR" jobs show $sid --json | jq -r .state)" = ended ]' || fail "smoke never ended"
show=$(ctl "$PAIR" jobs show "$sid" --json)
echo "$show" | jq -e '.end_status == "abnormal"' >/dev/null || fail "smoke's end: $show"
echo "$show" | jq -e '.units[] | select(.path == "approve") | .approved_by != ""' >/dev/null || fail "approved_by: $show"
pass "smoke: params, variables set by a job, tails, an error branch, an approval; ends abnormal (check failed)"

# A transfer job: 3 MB through the master, then a job compares; again, the
# destination exists (overwrite off) and the transfer ends 3, abnormal.
mkdir -p "$WORK/incoming"
head -c 3000000 /dev/urandom >"$WORK/outgoing.bin"
chmod 640 "$WORK/outgoing.bin"
cid=$(ctl "$PAIR" jobs start copy --json | jq -r .session) || fail "start copy"
wait_until 20 eval '[ "$(ctl "$PAIR" jobs show $cid --json | jq -r .state)" = ended ]' || fail "copy never ended"
show=$(ctl "$PAIR" jobs show "$cid" --json)
echo "$show" | jq -e '.end_status == "normal"' >/dev/null || fail "copy: $show"
echo "$show" | jq -e '.units[] | select(.path == "send") | .runs[0].stdout_tail | test("copied 3000000 bytes from batch01:")' \
  >/dev/null || fail "copy's send: $show"
cmp -s "$WORK/outgoing.bin" "$WORK/incoming/data.bin" || fail "the copy differs"
[ "$(stat -c %a "$WORK/incoming/data.bin")" = 640 ] || fail "the copy's mode: $(stat -c %a "$WORK/incoming/data.bin")"
cid=$(ctl "$PAIR" jobs start copy --json | jq -r .session) || fail "start copy again"
wait_until 20 eval '[ "$(ctl "$PAIR" jobs show $cid --json | jq -r .state)" = ended ]' || fail "copy 2 never ended"
show=$(ctl "$PAIR" jobs show "$cid" --json)
echo "$show" | jq -e '.end_status == "abnormal" and (.units[] | select(.path == "send") | .end_value == 3 and (.runs[0].error | test("overwrite is off")))' \
  >/dev/null || fail "copy onto an existing file: $show"
pass "a transfer job copies 3 MB through the master with its mode; onto an existing file it ends 3"

# Force-end the failed check normal: the session ends again, now warning (load's).
ctl "$PAIR" jobs force-end "$sid" check --status normal >/dev/null || fail "force-end"
wait_until 10 eval '[ "$(ctl "$PAIR" jobs show $sid --json | jq -r .end_status)" = warning ]' \
  || fail "after force-end: $(ctl "$PAIR" jobs show "$sid")"
# Rerun load (from it): load, then check run again with new run ids.
old=$(ctl "$PAIR" jobs show "$sid" --json | jq -r '.units[] | select(.path == "load") | .runs[0].run_id')
ctl "$PAIR" jobs rerun "$sid" load --mode from >/dev/null || fail "rerun"
# Everything after load runs again, the approval too.
wait_until 20 eval '[ "$(unit_state $sid approve)" = running ]' || fail "the rerun never reached the approval"
ctl "$PAIR" jobs approve "$sid" approve >/dev/null || fail "approve after the rerun"
wait_until 20 eval '[ "$(ctl "$PAIR" jobs show $sid --json | jq -r .state)" = ended ]' || fail "rerun never ended"
show=$(ctl "$PAIR" jobs show "$sid" --json)
new=$(echo "$show" | jq -r '.units[] | select(.path == "load") | .runs[0].run_id')
[ "$new" != "$old" ] || fail "rerun used the old run id $old"
echo "$show" | jq -e '[.operations[].op] | index("rerun") != null and index("force-end") != null and index("approve") != null' >/dev/null \
  || fail "operations not recorded: $show"
pass "force-end and rerun, recorded with who and when"

# Hold and release: a held unit waits.
sid2=$(ctl "$PAIR" jobs start smoke --json | jq -r .session)
ctl "$PAIR" jobs hold "$sid2" publish >/dev/null || fail "hold"
wait_until 20 eval '[ "$(unit_state $sid2 approve)" = running ]' || fail "session $sid2 never reached the approval"
ctl "$PAIR" jobs approve "$sid2" approve >/dev/null || fail "approve 2"
wait_until 10 eval '[ "$(unit_state $sid2 publish)" = held ]' || fail "publish is not held"
ctl "$PAIR" jobs release "$sid2" publish >/dev/null || fail "release"
wait_until 10 eval '[ "$(ctl "$PAIR" jobs show $sid2 --json | jq -r .state)" = ended ]' || fail "not ended after release"
pass "hold keeps a unit from starting; release lets it go"

# An event that matches a trigger starts its net, once.
printf '<11>1 - host app - - - DISK FULL on /var' >/dev/udp/127.0.0.11/$SYSLOG_PORT
wait_until 20 eval '[ "$(cat "$WORK/alarms" 2>/dev/null | wc -l)" -ge 1 ]' || fail "the event trigger did not start on-alarm"
sleep 1
[ "$(wc -l <"$WORK/alarms")" = 1 ] || fail "on-alarm ran $(wc -l <"$WORK/alarms") times"
ctl "$PAIR" jobs sessions --net on-alarm --json | jq -e '.sessions[0].trigger | startswith("event ")' >/dev/null \
  || fail "on-alarm's trigger: $(ctl "$PAIR" jobs sessions --net on-alarm --json)"
pass "an event matching a trigger started its net once"

# A monitor's event starts it too: a log line the agent's log monitor matches.
: >"$WORK/app.log"
ctl "$PAIR" monitors add app-log --kind log_file --node batch01 --interval 60 \
  --param path="$WORK/app.log" --param poll_ms=200 --pattern 'ERROR=critical' >/dev/null \
  || fail "monitors add app-log"
sleep 2  # the agent takes the assignment and starts reading at the end of the file
echo "ERROR DISK FULL on /data" >>"$WORK/app.log"
wait_until 20 eval '[ "$(wc -l <"$WORK/alarms")" -ge 2 ]' || fail "a monitor's event did not start on-alarm"
sleep 1
[ "$(wc -l <"$WORK/alarms")" = 2 ] || fail "on-alarm ran $(wc -l <"$WORK/alarms") times after the monitor's event"
pass "a monitor's event (a log line) matching the trigger started its net once"

# A file-check trigger on the agent: created starts the net; modified does not.
mkdir -p "$WORK/inbox"
sleep 2  # the agent's first look (a file there before it looks does not count)
touch "$WORK/inbox/ready"
wait_until 20 eval '[ "$(cat "$WORK/taken" 2>/dev/null | wc -l)" -ge 1 ]' || fail "the file trigger did not start on-file"
echo more >>"$WORK/inbox/ready"
sleep 2.5
[ "$(wc -l <"$WORK/taken")" = 1 ] || fail "on-file ran $(wc -l <"$WORK/taken") times after a modification"
rm "$WORK/inbox/ready"; sleep 1.5; touch "$WORK/inbox/ready"
wait_until 20 eval '[ "$(wc -l <"$WORK/taken")" -ge 2 ]' || fail "a second creation did not start on-file"
ctl "$PAIR" jobs sessions --net on-file --json | jq -e '.sessions[0].trigger | startswith("file ")' >/dev/null \
  || fail "on-file's trigger: $(ctl "$PAIR" jobs sessions --net on-file --json)"
pass "a file created on the agent started its net; a modification did not; created again, again"

# The wide net, and kill -9 of the master in the middle.
: >"$WORK/ledger"
wid=$(ctl "$PAIR" jobs start wide --json | jq -r .session) || fail "start wide"
wait_until 60 eval '[ "$(wc -l <"$WORK/ledger")" -ge $((JOBS / 3)) ]' || fail "the wide net hardly ran"
# And a transfer of 256 MiB under way through the master when it dies.
head -c 268435456 /dev/urandom >"$WORK/big.bin"
bid=$(ctl "$PAIR" jobs start bigcopy --json | jq -r .session) || fail "start bigcopy"
wait_until 20 eval 'ls "$WORK"/incoming/.big.bin.duet-*.part >/dev/null 2>&1' || fail "the big transfer never began"
sleep 0.3
kill -9 "${PID[a]}"
part=$(ls "$WORK"/incoming/.big.bin.duet-*.part 2>/dev/null | head -1)
[ -n "$part" ] || fail "the big transfer ended before the kill: make it bigger"
echo "killed a with $(wc -l <"$WORK/ledger") of $JOBS jobs run and $(stat -c %s "$part") bytes of the transfer written"
wait_until 20 is_role "$B" master || fail "b never took over"
wait_until 120 eval '[ "$(ctl "$B" jobs show $wid --json 2>/dev/null | jq -r .state)" = ended ]' \
  || fail "wide never ended after the failover: $(ctl "$B" jobs sessions)"
show=$(ctl "$B" jobs show "$wid" --json)
echo "$show" | jq -e '.end_status == "normal"' >/dev/null || fail "wide's end: $(echo "$show" | jq -c '.end_status')"
lines=$(wc -l <"$WORK/ledger")
units=$(cut -d' ' -f1 "$WORK/ledger" | sort -u | wc -l)
runs=$(cut -d' ' -f2 "$WORK/ledger" | sort -u | wc -l)
[ "$lines" = "$JOBS" ] && [ "$units" = "$JOBS" ] && [ "$runs" = "$JOBS" ] \
  || fail "ledger: $lines lines, $units units, $runs run ids (want $JOBS each)"
ended=$(echo "$show" | jq '[.units[] | select(.kind == "command" and .state == "ended" and .end_status == "normal")] | length')
[ "$ended" = "$JOBS" ] || fail "$ended of $JOBS jobs ended normal"
pass "kill -9 of the master mid-net: $JOBS jobs, each run exactly once; the net ended normal"
wait_until 60 eval '[ "$(ctl "$B" jobs show $bid --json 2>/dev/null | jq -r .state)" = ended ]' \
  || fail "bigcopy never ended after the failover: $(ctl "$B" jobs show "$bid")"
show=$(ctl "$B" jobs show "$bid" --json)
echo "$show" | jq -e '.end_status == "normal" and (.units[] | select(.path == "send") | (.runs | length) == 1)' \
  >/dev/null || fail "bigcopy across the failover: $show"
cmp -s "$WORK/big.bin" "$WORK/incoming/big.bin" || fail "the big copy differs"
ls "$WORK"/incoming/.big.bin.duet-*.part >/dev/null 2>&1 && fail "a part file was left behind"
rm -f "$WORK/big.bin" "$WORK/incoming/big.bin"
pass "a 256 MiB transfer under way at the kill finished through the new master, in one run"

# The ticker ran every 2 s throughout, the failover included: each due time
# started one session (a time that fell due during the switchover late, once).
sessions=$(ctl "$B" jobs sessions --net ticker --limit 1000 --json)
times=$(echo "$sessions" | jq -r '.sessions[].trigger' | sed 's/.* at //' | sort)
[ -n "$times" ] || fail "the ticker never ran"
dups=$(echo "$times" | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "due times started twice: $(echo "$times" | uniq -d | head -3)"
first=$(date -d "$(echo "$times" | head -1)" +%s); last=$(date -d "$(echo "$times" | tail -1)" +%s)
count=$(echo "$times" | wc -l)
[ "$count" = $(((last - first) / 2 + 1)) ] || fail "ticker: $count sessions for $(((last - first) / 2 + 1)) due times between $first and $last"
pass "the 2-second schedule started each due time once across the failover ($count sessions)"

# The pair back with one command.
start_node a 2
wait_until 30 eval 'ctl "$PAIR" failback --wait 60 >/dev/null 2>&1' || fail "failback"
wait_until 30 is_role "$A" standby || fail "a is not standby after the failback"
sid3=$(ctl "$PAIR" jobs start smoke --json | jq -r .session) || fail "start after failback"
wait_until 20 eval '[ "$(unit_state $sid3 approve)" = running ]' || fail "smoke did not run after failback"
pass "failback: the pair is whole again, and nets run"
