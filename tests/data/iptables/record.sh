#!/bin/sh
# Re-make the derived recordings from nft-docker.txt (a real `iptables-save` of a host
# running Docker 20.10). Every rule change happens in a scratch network namespace
# (`unshare -n`), never in the host's firewall. Needs root, iptables-nft and -legacy.
set -eu
cd "$(dirname "$0")"
scratch() { unshare -n sh -euc "iptables-nft-restore < nft-docker.txt; $1"; }

unshare -n sh -euc 'iptables-legacy-restore < nft-docker.txt; iptables-legacy-save' \
    > legacy-docker.txt
# someone deleted one network's rule (or a script restored a set saved before it existed)
scratch 'iptables-nft -t nat -D POSTROUTING -s 10.213.143.0/24 ! -o br-e697f6cb912b -j MASQUERADE
    iptables-nft-save' > nft-missing-masquerade.txt
# `iptables -t nat -F` and `-X`: NAT gone, the filter chains still there
scratch 'iptables-nft -t nat -F; iptables-nft -t nat -X; iptables-nft-save' > nft-nat-flushed.txt
# the `iptables -F; iptables -X` habit on both tables (or an engine run with --iptables=false)
scratch 'for t in filter nat; do iptables-nft -t $t -F; iptables-nft -t $t -X; done
    iptables-nft-save' > nft-no-docker-chains.txt
