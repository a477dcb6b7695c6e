#!/bin/sh
# claude-agent-telemetry capture hook.
# Copies one Claude Code hook payload (stdin) into the spool, maildir-style: write under tmp/, then rename
# into new/, so the collector never sees a half-written file. Only shell builtins plus cat and mv run
# (rm only after a failed write), and it always exits 0 with no output: it must never slow down or block
# Claude Code.
#
# Two ways to run it, same result:
#   exec '/path/bin/capture-hook.sh' <scope>
#       a new shell runs this file; the spool is found next to it ($0).
#   set -- <scope> '/path/bin/capture-hook.sh'; if [ -r "$2" ]; then . "$2"; fi
#       the calling `sh -c` shell reads this file itself, one exec fewer (what `connect` registers); a
#       missing hook file then ends the call silently with status 0.
# <scope> is how the hooks were connected: project | local | global | demo (anything else: unknown).
#
# File name: <pid>.<uuid>.<scope>; the pid orders events that share one coarse mtime tick.
# First line of the file: "CT1 <CLAUDE_PROJECT_DIR>" (empty when unset or when it holds a newline);
# the payload follows byte for byte. When any of CLAUDE_TELEMETRY_AGENT_ID, CLAUDE_TELEMETRY_AGENT_GROUP,
# CLAUDE_TELEMETRY_AGENT_ROLE, CLAUDE_TELEMETRY_WORKFLOW_ID is set (agents of a fleet started separately),
# the first line is instead "CT2 <agent id>\t<group>\t<role>\t<workflow id>\t<CLAUDE_PROJECT_DIR>", a value
# holding a tab or a newline left empty.
exec 2>/dev/null
case $1 in project | local | global | demo) s=$1 ;; *) s=unknown ;; esac
h=${2:-$0}
d=${h%/*}/../spool
p=$CLAUDE_PROJECT_DIR
case $p in *'
'*) p= ;; esac
x='CT1 '
case $CLAUDE_TELEMETRY_AGENT_ID$CLAUDE_TELEMETRY_AGENT_GROUP$CLAUDE_TELEMETRY_AGENT_ROLE$CLAUDE_TELEMETRY_WORKFLOW_ID in
?*)
  x='CT2 '
  for v in "$CLAUDE_TELEMETRY_AGENT_ID" "$CLAUDE_TELEMETRY_AGENT_GROUP" "$CLAUDE_TELEMETRY_AGENT_ROLE" \
    "$CLAUDE_TELEMETRY_WORKFLOW_ID"; do
    case $v in *'	'* | *'
'*) v= ;; esac
    x="$x$v	"
  done
  ;;
esac
r=
read -r r </proc/sys/kernel/random/uuid || r=$PPID.${RANDOM-}.${CLAUDE_CODE_SESSION_ID:-x}
n=$$.$r.$s
if { printf '%s%s\n' "$x" "$p" && cat; } >"$d/tmp/$n"; then
  # Not exec'd: a failed rename (new/ missing) must not turn into a hook error. The file then stays in
  # tmp/, where the collector's orphan recovery picks it up.
  mv -f "$d/tmp/$n" "$d/new/$n"
  exit 0
fi
# Spool missing or disk full: drop the partial file, drain stdin, and still succeed.
rm -f "$d/tmp/$n"
cat >/dev/null
exit 0
