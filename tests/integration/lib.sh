# Helpers for real-process tests. Source it; set DUET_BIN_DIR and DUET_SOURCE_DIR
# (ctest does). Every wait is bounded; every process started is killed on exit.
set -euo pipefail

BIN=${DUET_BIN_DIR:?set DUET_BIN_DIR to the build directory}
SRC=${DUET_SOURCE_DIR:?set DUET_SOURCE_DIR to the source tree}
MANAGER=$BIN/manager/duet-manager
AGENT=$BIN/agent/duet-agent
DUETCTL=$BIN/cli/duetctl
WORK=$(mktemp -d /tmp/duet-it-XXXXXX)
PIDS=()
LAST_PID=
AT_EXIT=()  # commands run at exit, after the processes are gone (e.g. deleting namespaces)

cleanup() {
  # A watchdog subshell killed before bash reset its traps would run this too
  # (and kill the test's processes mid-test): only the test's own shell cleans up.
  [ "$BASHPID" = "$$" ] || return 0
  local p c
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for c in "${AT_EXIT[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$WORK"/*.log; do
    [ -f "$f" ] || continue
    echo "--- $f" >&2
    # A crashed process's stack (common/crash_report.h) is shown whole.
    if grep -q ": fatal: .*; stack:" "$f"; then
      grep -B 20 -A 64 ": fatal: .*; stack:" "$f" >&2
    else
      tail -n 20 "$f" >&2
    fi
  done
  exit 1
}
pass() { echo "ok: $*"; }

# wait_until SECONDS CMD...: true once CMD succeeds, false after SECONDS.
wait_until() {
  local limit=$1
  shift
  local end=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

# start BINARY ARGS...: runs it in the background of this shell; pid in LAST_PID.
start() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to end; its
# exit code lands in WAIT_RC. Fails the test if it runs past SECONDS.
wait_exit() {
  local pid=$1 limit=$2 dog marker="$WORK/.timed-out.$1"
  (sleep "$limit"; kill -0 "$pid" 2>/dev/null && touch "$marker" && kill -KILL "$pid") \
    >/dev/null 2>&1 &
  dog=$!
  WAIT_RC=0
  wait "$pid" || WAIT_RC=$?
  kill "$dog" 2>/dev/null || true
  wait "$dog" 2>/dev/null || true
  [ ! -e "$marker" ] || fail "pid $pid did not exit within ${limit}s"
}

# manager_config FILE NAME ADDRESS STORE_YAML TLS_YAML [EXTRA_YAML]
manager_config() {
  cat >"$1" <<YAML
node:  { name: $2, address: "$3" }
store: $4
tls:   $5
${6:-}
YAML
}

ctl_insecure() { "$DUETCTL" --insecure --timeout 2 "$@"; }

# is_master ADDRESS: the manager at ADDRESS says it is master (plaintext).
is_master() { ctl_insecure --manager "$1" status --json 2>/dev/null | jq -e '.master != null' >/dev/null; }

# pair_config NAME ADDR PEER PEER_ADDR [HA_YAML]: the config of one manager of
# a pair in $WORK/NAME.yaml, store in $WORK/NAME/, plaintext gRPC, and by
# default fast timing (200 ms / 1 s) with the reference icmp:127.0.0.1.
pair_config() {
  local ha=${5:-"interval_ms: 200, timeout_ms: 1000, guard: reference, reference: [\"icmp:127.0.0.1\"]"}
  mkdir -p "$WORK/$1"
  manager_config "$WORK/$1.yaml" "$1" "$2" "{ sqlite: \"$WORK/$1/$1.db\" }" "{ insecure: true }" \
    "peer: { name: $3, address: \"$4\" }
ha:   { $ha }"
}

# The answering node's own view of itself (ADDRESS): role and epoch.
node_role() { ctl_insecure --manager "$1" status --json 2>/dev/null | jq -r '.nodes[] | select(.self) | .role'; }
node_epoch() { ctl_insecure --manager "$1" status --json 2>/dev/null | jq -r '.nodes[] | select(.self) | .epoch'; }
is_role() { [ "$(node_role "$1")" = "$2" ]; }
