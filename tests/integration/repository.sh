#!/usr/bin/env bash
# The repository between real processes on 127.0.0.11 / 127.0.0.12: scopes and
# nodes added with duetctl on the master and listed on the standby; a YAML file
# applied twice (the second time everything unchanged); an export applied back
# (unchanged); an invalid file named FILE:LINE with nothing changed; writes to
# the standby alone refused; kill -9 of the master leaves the repository intact
# on the new master.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17600
B=127.0.0.12:17600
PAIR="$A,$B"

pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
declare -A PID
start_node() { start "$WORK/$1.$2.log" "$MANAGER" --config "$WORK/$1.yaml"; PID[$1]=$LAST_PID; }
ctl() { ctl_insecure --manager "$@"; }
last_lsn() { ctl "$1" status --json | jq -r '.store.last_lsn'; }
# nodes ADDR: that node's own copy of the nodes, as one JSON line (no stamps)
nodes() { ctl "$1" nodes list --json | jq -c '[.nodes[] | {name, addresses, os, attributes, scopes}]'; }
scopes() { ctl "$1" scopes list --json | jq -c '[.scopes[] | {name, parent, description, depth, nodes}]'; }
same_repo() { [ "$(nodes "$1")" = "$(nodes "$2")" ] && [ "$(scopes "$1")" = "$(scopes "$2")" ]; }
# export ADDR: the YAML without its comment lines (they name the node and LSN)
export_of() { ctl "$1" export | grep -v '^#'; }

start_node a 1
start_node b 1
wait_until 15 is_role "$A" master || fail "a never became master"
wait_until 15 is_role "$B" standby || fail "b never became standby"
pass "pair up: a master, b standby"

# --- duetctl scopes add / nodes add, on the master, replicated
out=$(ctl "$PAIR" scopes add prod --description "Production" --json) || fail "scopes add: $out"
echo "$out" | jq -e '.node == "a" and .committed and .replicated and
  .changes == [{"kind": "scope", "name": "prod", "action": "created", "fields": []}]' >/dev/null \
  || fail "scopes add prod: $out"
ctl "$PAIR" scopes add web --parent prod --description "Web servers" >/dev/null || fail "add web"
ctl "$PAIR" scopes add db --parent prod >/dev/null || fail "add db"
out=$(ctl "$PAIR" nodes add web01 --address 10.0.0.11 --address Web01.Example.NET \
  --os debian-12 --attr rack=r12 --attr owner=team-a --scope web) || fail "nodes add web01: $out"
echo "$out" | grep -q "^node web01: created$" || fail "nodes add output: $out"
echo "$out" | grep -q "replicated to the standby" || fail "nodes add not replicated: $out"
ctl "$PAIR" nodes add db01 --address 10.0.1.1 --scope db --scope prod >/dev/null || fail "db01"
out=$(ctl "$PAIR" nodes add db01 --address 10.0.1.1 --scope prod --scope db --json) \
  || fail "nodes add again: $out"
echo "$out" | jq -e '.changes[0].action == "unchanged" and .committed == false' >/dev/null \
  || fail "the same add again: $out"
out=$(ctl "$PAIR" nodes add db01 --address 10.0.1.2 2>&1) && fail "a differing add was accepted"
echo "$out" | grep -q "node 'db01' exists with other addresses, scopes" || fail "refusal: $out"
out=$(ctl "$PAIR" nodes add bad --address 10.0.0.300 2>&1) && fail "a bad address was accepted"
echo "$out" | grep -q "address '10.0.0.300' is neither an IPv4/IPv6 address nor a host name" \
  || fail "bad address: $out"
pass "scopes and nodes added on the master, each replicated; add again unchanged; conflicts refused"

# --- reads on the standby, from its own store
wait_until 5 same_repo "$A" "$B" || fail "b differs: $(nodes "$B") vs $(nodes "$A")"
[ "$(ctl "$B" scopes list --json | jq -r '[.node] + [.scopes[] | "\(.name):\(.depth)"] | join(" ")')" \
  = "b prod:0 db:1 web:1" ] || fail "scopes on b: $(ctl "$B" scopes list --json)"
nodes "$B" | jq -e '.[] | select(.name == "web01") | .addresses == ["10.0.0.11", "web01.example.net"]
  and .attributes == {"owner": "team-a", "rack": "r12"} and .scopes == ["web"] and .os == "debian-12"' \
  >/dev/null || fail "web01 on b: $(nodes "$B")"
[ "$(ctl "$B" nodes list --scope prod --json | jq -r '[.nodes[].name] | join(",")')" = "db01,web01" ] \
  || fail "nodes in prod (and below) on b"
[ "$(ctl "$B" nodes list --scope web --json | jq -r '[.nodes[].name] | join(",")')" = "web01" ] \
  || fail "nodes in web on b"
text=$(ctl "$B" nodes list) || fail "nodes list text"
echo "$text" | grep -Eq "^web01 +10\.0\.0\.11, web01\.example\.net +debian-12 +web +owner=team-a, rack=r12$" \
  || fail "nodes list text: $text"
text=$(ctl "$B" scopes list) || fail "scopes list text"
echo "$text" | grep -Eq "^  web +1 +Web servers$" || fail "scopes list text: $text"
rc=0; ctl "$B" nodes list --scope nowhere >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "an unknown scope: exit $rc, not 3"
pass "the standby lists the same nodes and scopes (tree order, --scope with sub-scopes)"

# --- a write to the standby alone is refused, naming the master
for cmd in "nodes add x --address 10.9.9.9" "nodes remove web01" "scopes add x" \
  "scopes remove db" "apply -f /dev/null"; do
  # shellcheck disable=SC2086
  out=$(ctl "$B" $cmd 2>&1) && fail "the standby accepted: $cmd"
  echo "$out" | grep -q "not master; the master is a" || fail "standby refusal of $cmd: $out"
done
same_repo "$A" "$B" || fail "a refused write changed something"
pass "the standby refuses every repository write, naming the master"

# --- apply -f FILE, twice
cat >"$WORK/repo.yaml" <<'YAML'
scopes:
  - name: lab
    description: "Test machines"
  - name: web
    parent: prod
    description: "Web servers (EU)"
nodes:
  - name: web01
    addresses: [10.0.0.11, web01.example.net]
    os: debian-12
    attributes: {rack: r14, owner: team-a}
    scopes: [web, lab]
  - name: web02
    addresses: ["2001:DB8::12"]
    scopes: [web]
YAML
out=$(ctl "$PAIR" apply -f "$WORK/repo.yaml" --dry-run) || fail "dry run: $out"
echo "$out" | grep -q "^node web02: would be created$" || fail "dry run output: $out"
echo "$out" | grep -q "dry run, nothing changed" || fail "dry run summary: $out"
ctl "$PAIR" nodes list --json | jq -e '[.nodes[].name] | index("web02") == null' >/dev/null \
  || fail "the dry run created web02"
out=$(ctl "$PAIR" apply -f "$WORK/repo.yaml" --json) || fail "apply: $out"
echo "$out" | jq -e '.node == "a" and .committed and .replicated and
  .summary == {"created": 2, "updated": 2} and
  ([.changes[] | "\(.kind) \(.name) \(.action) \(.fields | join("+"))"] ==
   ["scope lab created ", "scope web updated description", "node web01 updated attributes+scopes",
    "node web02 created "])' >/dev/null || fail "first apply: $out"
lsn=$(last_lsn "$A")
out=$(ctl "$PAIR" apply -f "$WORK/repo.yaml") || fail "second apply: $out"
[ "$(echo "$out" | grep -c ': unchanged$')" = 4 ] || fail "second apply: $out"
echo "$out" | grep -q "^a: 4 unchanged; nothing to change$" || fail "second apply summary: $out"
[ "$(last_lsn "$A")" = "$lsn" ] || fail "the second apply wrote (LSN $lsn -> $(last_lsn "$A"))"
wait_until 5 same_repo "$A" "$B" || fail "b differs after apply"
nodes "$B" | jq -e '.[] | select(.name == "web02") | .addresses == ["2001:db8::12"]' >/dev/null \
  || fail "web02 on b: $(nodes "$B")"
pass "apply -f: created/updated per object, replicated; the second time all unchanged, nothing written"

# --- export, and apply of the export
ctl "$PAIR" export >"$WORK/export.yaml" || fail "export"
head -1 "$WORK/export.yaml" | grep -q "^# Duet repository, exported from a at LSN $lsn" \
  || fail "export header: $(head -2 "$WORK/export.yaml")"
out=$(ctl "$PAIR" apply -f "$WORK/export.yaml" --json) || fail "apply export: $out"
echo "$out" | jq -e '.committed == false and .summary == {"unchanged": 7} and
  (.changes | length) == 7' >/dev/null || fail "apply of the export: $out"
[ "$(last_lsn "$A")" = "$lsn" ] || fail "applying the export wrote"
[ "$(export_of "$B")" = "$(export_of "$A")" ] || fail "the standby's export differs"
out=$(cat "$WORK/export.yaml" | ctl "$PAIR" apply -f - --json) || fail "apply -f -: $out"
echo "$out" | jq -e '.committed == false' >/dev/null || fail "apply from stdin: $out"
pass "export applies back as all unchanged; the standby exports the same"

# --- an invalid file names FILE:LINE and changes nothing
cat >"$WORK/bad.yaml" <<'YAML'
nodes:
  - name: web03
    addresses: [10.0.0.300]
    colour: blue
YAML
out=$(ctl "$PAIR" apply -f "$WORK/bad.yaml" 2>&1) && fail "an invalid file was applied"
echo "$out" | grep -q "refused, nothing changed" || fail "invalid file: $out"
echo "$out" | grep -qF "$WORK/bad.yaml:3: node 'web03': address '10.0.0.300' is neither" \
  || fail "invalid address not named with FILE:LINE: $out"
echo "$out" | grep -qF "$WORK/bad.yaml:4: node 'web03': unknown key 'colour'" \
  || fail "unknown key not named with FILE:LINE: $out"
cat >"$WORK/cycle.yaml" <<'YAML'
scopes:
  - name: lab
    parent: lab-child
  - name: lab-child
    parent: lab
  - name: eu
    parent: europe
YAML
out=$(ctl "$PAIR" apply -f "$WORK/cycle.yaml" 2>&1) && fail "a cycle was applied"
echo "$out" | grep -qF "$WORK/cycle.yaml:3: scope 'lab': parent 'lab-child' makes a cycle: lab -> lab-child -> lab" \
  || fail "cycle: $out"
echo "$out" | grep -qF "$WORK/cycle.yaml:7: scope 'eu': parent 'europe' does not exist" \
  || fail "missing parent: $out"
[ "$(last_lsn "$A")" = "$lsn" ] || fail "an invalid file wrote"
rc=0; ctl "$PAIR" apply -f "$WORK/missing.yaml" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "a missing file: exit $rc"
pass "invalid files are refused with FILE:LINE for every problem; nothing changed"

# --- removals
out=$(ctl "$PAIR" scopes remove prod 2>&1) && fail "a scope with children was removed"
echo "$out" | grep -q "scope 'prod' has child scopes: db, web" || fail "remove prod: $out"
out=$(ctl "$PAIR" scopes remove db) || fail "scopes remove db: $out"
echo "$out" | grep -q "^membership db/db01: removed$" || fail "remove db: $out"
out=$(ctl "$PAIR" nodes remove web02 --json) || fail "nodes remove: $out"
echo "$out" | jq -e '.replicated and ([.changes[].name] == ["web02", "web/web02"])' >/dev/null \
  || fail "remove web02: $out"
rc=0; ctl "$PAIR" nodes remove web02 >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "removing a missing node: exit $rc, not 3"
wait_until 5 same_repo "$A" "$B" || fail "b differs after removals"
nodes "$B" | jq -e '.[] | select(.name == "db01") | .scopes == ["prod"]' >/dev/null \
  || fail "db01 keeps prod: $(nodes "$B")"
pass "scopes remove refuses a scope with children, takes memberships; nodes remove; 3 for none"

# --- kill -9 of the master: the repository intact on the new master
before_nodes=$(nodes "$A")
before_scopes=$(scopes "$A")
before_export=$(export_of "$A")
kill -KILL "${PID[a]}"
wait_exit "${PID[a]}" 5
wait_until 10 is_role "$B" master || fail "b did not take over after kill -9"
[ "$(nodes "$B")" = "$before_nodes" ] || fail "nodes on the new master: $(nodes "$B")"
[ "$(scopes "$B")" = "$before_scopes" ] || fail "scopes on the new master: $(scopes "$B")"
[ "$(export_of "$PAIR")" = "$before_export" ] || fail "export on the new master differs"
out=$(ctl "$PAIR" apply -f "$WORK/export.yaml" --json) || fail "apply on b: $out"
echo "$out" | jq -e '.node == "b" and .committed' >/dev/null || fail "re-adding web02 on b: $out"
out=$(ctl "$PAIR" apply -f "$WORK/export.yaml" --json) || fail "apply on b again: $out"
echo "$out" | jq -e '.node == "b" and .committed == false' >/dev/null || fail "idempotent on b: $out"
pass "kill -9 of the master: b has the identical repository and takes writes"

start_node a 2
wait_until 15 is_role "$A" standby || fail "restarted a is not standby"
wait_until 10 same_repo "$A" "$B" || fail "a did not catch up: $(nodes "$A")"
pass "the old master restarts as standby with the same repository"

# An empty data directory: re-seeded by snapshot, repository tables included.
kill -TERM "${PID[a]}"
wait_exit "${PID[a]}" 15
rm -rf "${WORK:?}/a"
start_node a 3
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 20 2>&1) || fail "failback: $out"
wait_until 10 same_repo "$A" "$B" || fail "a not re-seeded: $(nodes "$A")"
grep -q "restored the master's snapshot" "$WORK/a.3.log" || fail "a did not restore a snapshot"
[ "$(export_of "$A")" = "$(export_of "$B")" ] || fail "exports differ after the re-seed"
pass "a node with an empty data directory gets the repository from the master's snapshot"

echo "repository: all passed"
