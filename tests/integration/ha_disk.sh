#!/usr/bin/env bash
# The master's disk fails: it hands over at once. Each manager runs in a mount
# namespace of its own with an 80 MiB tmpfs as its data directory, so the test
# can fill it without touching the host: a below the free-space floor, b to
# the last byte (SQLite's writes then fail). A read-only remount cannot be
# shown this way: the kernel refuses it (EBUSY) while SQLite holds the file
# open for writing.
# Needs root (CI runs as root); fails with the reason otherwise.
source "$(dirname "$0")/lib.sh"
A=127.0.0.11:17540
B=127.0.0.12:17540
PAIR="$A,$B"
command -v unshare >/dev/null && command -v nsenter >/dev/null || fail "unshare/nsenter missing (util-linux)"
unshare -m --propagation private true 2>/dev/null || fail "cannot create a mount namespace (needs root)"

pair_config a "$A" b "$B"
pair_config b "$B" a "$A"
declare -A PID
start_node() {  # NAME: in its own mount namespace, on its own tmpfs
  start "$WORK/$1.log" unshare -m --propagation private sh -c \
    "mount -t tmpfs -o size=80m duet-test '$WORK/$1' && exec '$MANAGER' --config '$WORK/$1.yaml'"
  PID[$1]=$LAST_PID
}
in_ns() { local node=$1; shift; nsenter -t "${PID[$node]}" -m "$@"; }
view() { ctl_insecure --manager "$1" status --json 2>/dev/null; }
role() { node_role "$1"; }

start_node a
start_node b
wait_until 15 is_role "$A" master || fail "a never became master ($(role "$A"))"
wait_until 15 is_role "$B" standby || fail "b never became standby"
pass "pair up, each manager on its own 80 MiB tmpfs"

# a's disk fills up (below the 64 MiB the store needs free).
in_ns a dd if=/dev/zero of="$WORK/a/fill" bs=1M count=40 status=none || fail "cannot fill a's disk"
wait_until 5 is_role "$B" master || fail "b did not take over from a full disk (a: $(role "$A"))"
is_role "$A" fenced || fail "a is $(role "$A"), not fenced"
view "$A" | jq -r '.nodes[] | select(.self) | .detail' | grep -q "disk nearly full" || fail "a does not say why"
grep -q "disk nearly full" "$WORK/a.log" || fail "no log line for the full disk"
pass "a's disk full: a fenced at once, b master"

in_ns a rm -f "$WORK/a/fill"
out=$("$DUETCTL" --insecure --manager "$PAIR" failback --wait 15 2>&1) || fail "failback: $out"
is_role "$A" standby && is_role "$B" master || fail "after failback a $(role "$A") b $(role "$B")"
pass "space freed, failback: a standby again"

# b's disk fills to the last byte: b hands over to a.
in_ns b dd if=/dev/zero of="$WORK/b/fill" bs=1M count=100 status=none 2>/dev/null || true
wait_until 5 is_role "$A" master || fail "a did not take over from b's full disk (b: $(role "$B"))"
is_role "$B" fenced || fail "b is $(role "$B"), not fenced"
grep -Eq "disk nearly full|store write failed" "$WORK/b.log" || fail "no log line for b's full disk"
pass "b's disk completely full: b fenced, a master"
echo "ha_disk: all passed"
