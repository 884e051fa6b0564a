"""A host of its own for one Kafka broker: a network namespace with a veth link to the rest.

The cluster's other members stay in the root namespace on an address of their own on its
loopback (the namespace has a loopback of its own, so ``127.0.0.1`` cannot join them). The
link is a veth pair: ``root_addr`` on the root side, ``ns_addr`` in the namespace, whose
default route goes through the link. :meth:`BrokerHost.cut` takes the root side down: the
root namespace loses its route to the broker and the broker's packets go nowhere, so it is
cut off from the other brokers and from every client; :meth:`BrokerHost.heal` brings the link
back. Needs root and iproute2 (``ip``); :func:`available` says whether this machine has both.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2 (ip)"
    probe = f"tfprobe-{uuid.uuid4().hex[:6]}"
    try:
        ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"cannot create a network namespace: {exc}"
    ip("netns", "del", probe)
    return None


def _free_subnet() -> int:
    """A third octet n such that nothing here uses 10.231.n.0/24."""
    used = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show", "table", "all")
    taken = [ipaddress.ip_network(word, strict=False) for word in used.split() if "/" in word]
    for n in random.sample(range(256), 256):
        net = ipaddress.ip_network(f"10.231.{n}.0/24")
        if not any(net.overlaps(t) for t in taken if t.version == 4):
            return n
    raise RuntimeError("no free 10.231.n.0/24 subnet")


@dataclass
class BrokerHost:
    """The namespace, its link and the addresses; :meth:`create` makes them, :meth:`delete`
    removes every one of them."""

    name: str  # the namespace
    root_if: str
    ns_if: str
    root_addr: str  # the root side of the link
    ns_addr: str  # the broker's address
    peers_addr: str  # the address of the members in the root namespace (on its loopback)

    @property
    def subnet(self) -> str:
        """The /24 the link's addresses come from; the root namespace drops what it cannot
        deliver there (see :meth:`create`)."""
        return str(ipaddress.ip_network(f"{self.root_addr}/24", strict=False))

    @classmethod
    def create(cls) -> BrokerHost:
        tag = uuid.uuid4().hex[:6]
        n = _free_subnet()
        host = cls(
            name=f"tierflow-{tag}",
            root_if=f"tfk{tag}r",
            ns_if=f"tfk{tag}n",
            root_addr=f"10.231.{n}.1",
            ns_addr=f"10.231.{n}.2",
            peers_addr=f"10.231.{n}.129",
        )
        try:
            ip("netns", "add", host.name)
            ip("link", "add", host.root_if, "type", "veth", "peer", "name", host.ns_if)
            ip("link", "set", host.ns_if, "netns", host.name)
            ip("addr", "add", f"{host.root_addr}/30", "dev", host.root_if)
            ip("link", "set", host.root_if, "up")
            ip("-n", host.name, "addr", "add", f"{host.ns_addr}/30", "dev", host.ns_if)
            ip("-n", host.name, "link", "set", "lo", "up")
            ip("-n", host.name, "link", "set", host.ns_if, "up")
            ip("-n", host.name, "route", "add", "default", "via", host.root_addr)
            ip("addr", "add", f"{host.peers_addr}/32", "dev", "lo")
            # While the link is cut its /30 route is gone; without this, packets to the broker
            # would take the default route off the machine, where a middlebox may answer
            # (an HTTP 400 read as a Kafka frame size made a peer broker run out of heap).
            # Dropped, as on a cut cable: the peers see timeouts.
            ip("route", "add", "blackhole", host.subnet)
        except RuntimeError:
            host.delete()
            raise
        return host

    def cut(self) -> None:
        ip("link", "set", self.root_if, "down")

    def heal(self) -> None:
        ip("link", "set", self.root_if, "up")

    def delete(self) -> None:
        for args in (
            ("route", "del", "blackhole", self.subnet),
            ("addr", "del", f"{self.peers_addr}/32", "dev", "lo"),
            ("link", "del", self.root_if),  # its peer goes with it
            ("netns", "del", self.name),
        ):
            try:
                ip(*args)
            except RuntimeError:
                pass  # not made, or already gone
