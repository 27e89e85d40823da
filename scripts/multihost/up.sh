#!/usr/bin/env bash
# Emulate N hosts on this machine with network namespaces (as root).
#
#   scripts/multihost/up.sh N [--rate RATE] [--delay DELAY]
#
# Creates namespaces PREFIX-h1..PREFIX-hN (the "hosts") and PREFIX-sw (a switch
# holding one Linux bridge). Each host gets lo (up) and one veth link `mh0` with
# the private address SUBNET.i/24, whose peer pI is a port of the bridge. Host
# names resolve through /etc/netns/PREFIX-hI/hosts, which `ip netns exec`
# mounts over /etc/hosts for commands in that namespace only. Nothing is created
# in the root namespace and no existing interface or address is touched.
#
# --rate (e.g. 1gbit) shapes both directions of every link with tbf;
# --delay (e.g. 50us) adds latency with netem where the kernel has it
# (CONFIG_NET_SCH_NETEM); without netem, --delay is an error unless
# MPIML_MH_ALLOW_NO_DELAY=1, which then shapes the rate only and says so.
#
# Everything created is recorded in $MPIML_MH_STATE/PREFIX.created before it is
# created; scripts/multihost/down.sh removes exactly those, and up.sh calls it
# itself when it fails half-way. Prints the host names, comma-separated.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

die() { echo "up.sh: ERROR: $*" >&2; exit 1; }
N=${1:?usage: up.sh N [--rate RATE] [--delay DELAY]}
shift
RATE="" DELAY=""
while [ $# -gt 0 ]; do
    case $1 in
        --rate) RATE=$2; shift 2 ;;
        --delay) DELAY=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 250 ] || die "N must be 1..250, got $N"
[ "$(id -u)" -eq 0 ] || die "must run as root (creates network namespaces)"
command -v ip >/dev/null || die "no 'ip' command (apt-get install iproute2)"
command -v unshare >/dev/null || die "no 'unshare' command (util-linux)"

if [ -e "$STATE" ]; then
    echo "up.sh: a previous set-up with prefix $PREFIX was not removed; removing it first" >&2
    "$HERE/down.sh"
fi
for i in $(seq 1 "$N") sw; do
    ns=$PREFIX-h$i; [ "$i" = sw ] && ns=$SWITCH
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
        die "namespace $ns exists and was not created by up.sh; choose another MPIML_MH_PREFIX"
    fi
    [ ! -e "$NETNS_ETC/$ns" ] || die "$NETNS_ETC/$ns exists and was not created by up.sh"
done

mkdir -p "$STATE_DIR"
: > "$STATE"
record() { echo "$*" >> "$STATE"; }
trap 'rc=$?; [ $rc -eq 0 ] || { echo "up.sh: failed (exit $rc); undoing" >&2; "$HERE/down.sh" >&2 || true; }' EXIT

shape() {  # shape NS DEV: rate (tbf) and delay (netem) on DEV's egress
    local ns=$1 dev=$2
    if [ -n "$DELAY" ] && [ -z "${NO_NETEM:-}" ]; then
        if [ -n "$RATE" ]; then
            ip -n "$ns" link set "$dev" txqueuelen 10000
            ip netns exec "$ns" tc qdisc add dev "$dev" root netem delay "$DELAY" rate "$RATE" limit 100000
        else
            ip netns exec "$ns" tc qdisc add dev "$dev" root netem delay "$DELAY" limit 100000
        fi
    elif [ -n "$RATE" ]; then
        # burst: 1 ms worth of the rate (at least 256 KiB, several 64 KiB TSO
        # segments), else tbf holds back fast links; latency bounds the queue
        local burst
        burst=$(awk -v r="$RATE" 'BEGIN { n = r + 0; u = tolower(substr(r, length(n "") + 1));
            m = (u == "gbit") ? 1e9 : (u == "mbit") ? 1e6 : (u == "kbit") ? 1e3 : 1;
            b = int(n * m / 8 / 1000); if (b < 262144) b = 262144; print b }')
        ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$RATE" burst "$burst" latency 50ms
    fi
}

record ns "$SWITCH"
ip netns add "$SWITCH"
ip -n "$SWITCH" link add br0 type bridge
ip -n "$SWITCH" link set br0 up
ip -n "$SWITCH" link set lo up

if [ -n "$DELAY" ]; then
    # probe for netem on our own bridge (removed again below)
    if ip netns exec "$SWITCH" tc qdisc add dev br0 root netem delay 1us 2>/dev/null; then
        ip netns exec "$SWITCH" tc qdisc del dev br0 root
    else
        if [ "${MPIML_MH_ALLOW_NO_DELAY:-0}" = 1 ]; then
            echo "up.sh: WARNING: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): --delay $DELAY" \
                 "is NOT applied; links are shaped to ${RATE:-full speed} only" >&2
            NO_NETEM=1
        else
            die "this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so --delay cannot be emulated" \
                "(set MPIML_MH_ALLOW_NO_DELAY=1 to shape the rate only)"
        fi
    fi
fi

hosts_text="127.0.0.1 localhost"
for i in $(seq 1 "$N"); do hosts_text+=$'\n'"$SUBNET.$i $(host_name "$i")"; done

names=()
for i in $(seq 1 "$N"); do
    ns=$(host_name "$i")
    record ns "$ns"
    ip netns add "$ns"
    # loopback must be up: with lo down, a 2 hosts x 2 ranks MPICH job (UCX over
    # TCP) never got past start-up here (hydra's MPIEXEC_TIMEOUT ended it)
    ip -n "$ns" link set lo up
    # created directly inside the namespaces: the pair never exists in the root namespace
    ip link add "$LINK" netns "$ns" type veth peer name "p$i" netns "$SWITCH"
    ip -n "$SWITCH" link set "p$i" master br0
    ip -n "$SWITCH" link set "p$i" up
    ip -n "$ns" addr add "$SUBNET.$i/24" dev "$LINK"
    ip -n "$ns" link set "$LINK" up
    shape "$ns" "$LINK"
    shape "$SWITCH" "p$i"
    if [ ! -d "$NETNS_ETC" ]; then record dir "$NETNS_ETC"; mkdir -p "$NETNS_ETC"; fi
    record dir "$NETNS_ETC/$ns"
    mkdir "$NETNS_ETC/$ns"
    record file "$NETNS_ETC/$ns/hosts"
    printf '%s\n' "$hosts_text" > "$NETNS_ETC/$ns/hosts"
    names+=("$ns")
done
{
    echo "# rate=${RATE:-none} delay=${DELAY:-none}${NO_NETEM:+ (delay not applied: no netem)}"
} >> "$STATE"
(IFS=,; echo "${names[*]}")
