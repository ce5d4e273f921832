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
# ufw (ufw-filter.rules) on the legacy backend while the engine's rules are in nf_tables:
# ufw's FORWARD DROP policy drops what Docker's nft rules accept (host.firewall-split)
unshare -n sh -euc 'iptables-legacy-restore < ufw-filter.rules; iptables-legacy-save' \
    > legacy-ufw-forward-drop.txt
# ufw and the engine on one backend (ufw enabled after the engine started: its FORWARD jumps
# come after Docker's): INPUT denies 5432 but to 10.0.0.0/8 (port.exposed-despite-firewall)
scratch 'iptables-nft-restore --noflush < ufw-filter.rules; iptables-nft-save' > nft-docker-ufw.txt
