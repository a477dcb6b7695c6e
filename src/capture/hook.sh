#!/bin/sh
# claude-agent-telemetry capture hook.
# Copies one Claude Code hook payload (stdin) into the spool, maildir-style: write under tmp/, then rename
# into new/, so the collector never sees a half-written file. Only shell builtins plus cat and mv run, and
# it always exits 0 with no output: it must never slow down or block Claude Code.
# File name: <pid>.<random>.<scope>; the pid orders events that share one coarse mtime tick.
# First line of the file: "CT1 <CLAUDE_PROJECT_DIR>"; the payload follows byte for byte.
exec 2>/dev/null
case $1 in project | local | global | demo) s=$1 ;; *) s=unknown ;; esac
d=${0%/*}/../spool
r=
read -r r </proc/sys/kernel/random/uuid || r=$PPID.${CLAUDE_CODE_SESSION_ID:-x}
n=$$.$r.$s
if { printf 'CT1 %s\n' "$CLAUDE_PROJECT_DIR" && cat; } >"$d/tmp/$n"; then
  exec mv -f "$d/tmp/$n" "$d/new/$n"
fi
# Spool missing or disk full: drop the partial file, drain stdin, and still succeed.
rm -f "$d/tmp/$n"
cat >/dev/null
exit 0
