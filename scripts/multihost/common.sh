# Shared settings of the multi-host scripts (sourced, not run).
#
#   MPIML_MH_PREFIX  names of everything created: namespaces PREFIX-h1..PREFIX-hN
#                    (also the host names) and PREFIX-sw (the switch) (default mh)
#   MPIML_MH_SUBNET  first three octets of the private /24 used on the links only
#                    (default 10.213.77; host i gets .i)
#   MPIML_MH_STATE   directory recording what up.sh created, for down.sh
#                    (default /run/mpiml-multihost)
PREFIX=${MPIML_MH_PREFIX:-mh}
SUBNET=${MPIML_MH_SUBNET:-10.213.77}
STATE_DIR=${MPIML_MH_STATE:-/run/mpiml-multihost}
STATE=$STATE_DIR/$PREFIX.created
SWITCH=$PREFIX-sw
# Inside each host namespace the link is called LINK; its switch-side peer is pN.
LINK=mh0
# `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts for the
# command it runs: a hosts file private to our namespaces; /etc/hosts is never edited.
NETNS_ETC=/etc/netns

host_name() { echo "$PREFIX-h$1"; }
