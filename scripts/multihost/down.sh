#!/usr/bin/env bash
# Remove exactly what scripts/multihost/up.sh recorded as created (namespaces,
# which takes their veth links and qdiscs with them, and the private hosts
# files under /etc/netns). Safe to run twice; a missing state file is no error.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

[ -e "$STATE" ] || exit 0
rc=0
# reverse order: hosts files and host namespaces before the switch
while read -r kind what; do
    case $kind in
        ns)
            if ip netns list | awk '{print $1}' | grep -qx "$what"; then
                # end processes still running inside (e.g. after a killed test)
                for pid in $(ip netns pids "$what" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
                ip netns del "$what" || { echo "down.sh: cannot delete namespace $what" >&2; rc=1; }
            fi ;;
        file) rm -f "$what" ;;
        dir) rmdir "$what" 2>/dev/null || { echo "down.sh: $what not empty, left in place" >&2; rc=1; } ;;
    esac
done < <(tac "$STATE")
rm -f "$STATE"
rmdir "$STATE_DIR" 2>/dev/null || true
exit $rc
