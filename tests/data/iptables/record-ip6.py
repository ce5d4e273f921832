"""Re-make ip6-docker-ufw.txt: a real `ip6tables-save` of an Engine 20.10 with ip6tables
rules (`--experimental --ip6tables`), one IPv6 network (fd00:db8:1::/64, its bridge named
br-e697f6cb912b as in nft-docker.txt) with 5432 published, and ufw6-filter.rules loaded
beside them. Everything happens in the netns engine's own namespace
(tests/integration/netns_engine.py), removed at the end; the host's firewall is never
touched. Run as root from the repository: `python3 tests/data/iptables/record-ip6.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docker.types import IPAMConfig, IPAMPool

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration.netns_engine import BASE, BUSYBOX, NetnsEngine, in_netns

HERE = Path(__file__).parent


def main() -> None:
    engine = NetnsEngine(base=BASE, ipv6=True)
    engine.teardown()
    try:
        engine.start()
        engine.load_images(BUSYBOX)
        client = engine.client()
        pool = IPAMPool(subnet="fd00:db8:1::/64", gateway="fd00:db8:1::1")
        client.networks.create(
            "shop_default",
            driver="bridge",
            enable_ipv6=True,
            ipam=IPAMConfig(pool_configs=[pool]),
            options={"com.docker.network.bridge.name": "br-e697f6cb912b"},
        )
        client.containers.run(
            BUSYBOX,
            ["httpd", "-f", "-p", "5432"],
            name="shop-web-1",
            network="shop_default",
            ports={"5432/tcp": 5432},
            detach=True,
        )
        client.close()
        rules = (HERE / "ufw6-filter.rules").read_text(encoding="utf-8")
        done = in_netns("ip6tables-restore", "--noflush", check=False, stdin=rules)
        assert done.returncode == 0, done.stderr
        (HERE / "ip6-docker-ufw.txt").write_text(in_netns("ip6tables-save").stdout)
    finally:
        engine.teardown()


if __name__ == "__main__":
    main()
