#!/usr/bin/env bash
# duet-manager, duetctl and duet-agent as an operator runs them: start, status,
# clean stop on SIGTERM and SIGINT, a new epoch per start, JSON logs.
source "$(dirname "$0")/lib.sh"
addr=127.0.1.1:17420

for b in "$MANAGER" "$AGENT" "$DUETCTL"; do
  "$b" --version | grep -q "0\.[0-9]*\.[0-9]*" || fail "$b --version"
  "$b" --help | grep -qi "usage" || fail "$b --help"
done
pass "--version and --help on all three binaries"

manager_config "$WORK/a.yaml" a "$addr" "{ sqlite: \"$WORK/data/a.db\" }" "{ insecure: true }" \
  "log: { format: json, file: \"$WORK/a.json\" }"
start "$WORK/a.log" "$MANAGER" --config "$WORK/a.yaml"
pid=$LAST_PID
wait_until 20 is_master "$addr" || fail "manager never became master"
json=$(ctl_insecure --manager "$addr" status --json)
echo "$json" | jq -e '.master == "a" and .sync_mode == "sync" and .ha == "standalone"' >/dev/null || fail "status: $json"
echo "$json" | jq -e '.nodes | length == 1' >/dev/null || fail "nodes: $json"
echo "$json" | jq -e '.nodes[0] | .name == "a" and .role == "master" and .epoch == 1 and .address == "127.0.1.1:17420" and .heartbeat_age_ms == null and .applied_lsn == 0 and .lag_records == 0 and .lag_ms == 0 and .guard == "none"' >/dev/null || fail "node: $json"
echo "$json" | jq -e '.store | .backend == "sqlite" and .state == "ok" and .schema_version == 10' >/dev/null || fail "store: $json"
pass "status --json has the documented shape"

text=$(ctl_insecure --manager "$addr" status)
echo "$text" | grep -q "^master: a" || fail "text status: $text"
echo "$text" | grep -Eq "^a +127\.0\.1\.1:17420 +master +1 " || fail "text status row: $text"
pass "status prints a readable table"

kill -TERM "$pid"
wait_exit "$pid" 15; rc=$WAIT_RC
[ "$rc" = 0 ] || fail "SIGTERM exit code $rc"
grep -q '"msg":"store closed"' "$WORK/a.json" || fail "no 'store closed' in the log"
jq -e . "$WORK/a.json" >/dev/null || fail "log is not JSON lines"
[ "$(sqlite3 "$WORK/data/a.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
[ "$(sqlite3 "$WORK/data/a.db" "SELECT value FROM duet_meta WHERE key='epoch'")" = 1 ] || fail "epoch not persisted"
pass "SIGTERM: exit 0, store closed, database intact, JSON log lines"

start "$WORK/a2.log" "$MANAGER" --config "$WORK/a.yaml"
pid=$LAST_PID
wait_until 20 is_master "$addr" || fail "restart never became master"
ctl_insecure --manager "$addr" status --json | jq -e '.nodes[0].epoch == 2' >/dev/null || fail "restart did not take epoch 2"
kill -INT "$pid"
wait_exit "$pid" 15; rc=$WAIT_RC
[ "$rc" = 0 ] || fail "SIGINT exit code $rc"
pass "a restart takes a new epoch; SIGINT stops cleanly"

# A configured peer that never answers: wait-for-all, the node does not promote itself.
manager_config "$WORK/p.yaml" a "$addr" "{ sqlite: \"$WORK/data/a.db\" }" "{ insecure: true }" \
  'peer: { name: b, address: "127.0.1.1:17421" }
ha:   { interval_ms: 100, timeout_ms: 300, guard: reference, reference: ["icmp:127.0.0.1"] }'
start "$WORK/p.log" "$MANAGER" --config "$WORK/p.yaml"
pid=$LAST_PID
answers() { ctl_insecure --manager "$addr" status --json >/dev/null 2>&1; }
wait_until 20 answers || fail "manager with peer never answered"
sleep 1  # more than three failover timeouts
ctl_insecure --manager "$addr,127.0.1.1:17421" status --json |
  jq -e '.master == null and .ha == "pair" and .nodes[0].role == "syncing" and (.nodes | length == 2) and .nodes[1].name == "b" and .nodes[1].role == "down"' >/dev/null ||
  fail "waiting node: $(ctl_insecure --manager "$addr" status --json)"
ctl_insecure --manager "127.0.1.1:17421,$addr" status --json |
  jq -e '.answered_by == "127.0.1.1:17420" and (.unreachable | length == 1)' >/dev/null || fail "finding the answering node among two addresses"
kill -TERM "$pid"
wait_exit "$pid" 15; [ "$WAIT_RC" = 0 ] || fail "stop with peer"
pass "with an absent peer the node waits (syncing, no master); duetctl finds the answering node"

cat >"$WORK/agent.yaml" <<YAML
managers: ["$addr"]
node: web01
outbox: "$WORK/agent.db"
tls: { insecure: true }
enrol_token: "never-log-me"
YAML
start "$WORK/agent.log" "$AGENT" --config "$WORK/agent.yaml"
pid=$LAST_PID
wait_until 10 grep -q "duet-agent .* started" "$WORK/agent.log" || fail "agent did not start"
kill -TERM "$pid"
wait_exit "$pid" 10; [ "$WAIT_RC" = 0 ] || fail "agent SIGTERM"
grep -q "never-log-me" "$WORK/agent.log" && fail "agent logged its enrolment token"
pass "duet-agent starts and stops cleanly on SIGTERM, token not logged"

ctl_insecure --manager "$addr" status >/dev/null 2>&1 && fail "status succeeded with no manager"
out=$(ctl_insecure --manager "$addr" status 2>&1 || true)
echo "$out" | grep -q "no manager answered" || fail "unreachable message: $out"
pass "duetctl says clearly when no manager answers"
echo "manager_lifecycle: all passed"
