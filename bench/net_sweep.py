#!/usr/bin/python3
"""What a bench run's pods may leave on the host's network when a daemon was
stopped before it tore them down (a timeout under load, an interrupted run):
containerd's network namespaces under /run/netns (its pods' veths on our
bridges name them) and the bridge plugin's ipMasq rules (a POSTROUTING jump
from a pod's address in our subnets to a CNI-<hash> chain). Left behind, the
rules slow every later iptables call on the machine, and so every CNI ADD:
200 of them made the bridge plugin's ADD ~20% slower here.

    bench/net_sweep.py --bridge cb3ctd --ipam-dir /tmp/crid-bench.X/containerd/ipam [...]

Only what this run made is touched: namespaces whose veth is on its bridges,
rules of addresses its own host-local stores still lease to the container the
rule names (a concurrent run has its own stores). Best effort: prints what it removed, never fails the run.
"""
import argparse
import ipaddress
import json
import os
import shlex
import subprocess
import sys


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def netns_ids_on(bridge):
    """The link netns ids of the veths enslaved to |bridge|."""
    out = run(["ip", "-j", "-d", "link", "show", "master", bridge])
    if out.returncode != 0 or not out.stdout.strip():
        return set()
    return {link["link_netnsid"] for link in json.loads(out.stdout) if "link_netnsid" in link}


def sweep_netns(bridges):
    ids = set()
    for b in bridges:
        ids |= netns_ids_on(b)
    removed = 0
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "(id:" and int(parts[2].rstrip(")")) in ids \
                and parts[0].startswith("cni-"):
            path = os.path.join("/run/netns", parts[0])
            run(["umount", path])
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
    return removed


def ipam_leases(dirs):
    """{address: container id} of every lease host-local still holds under |dirs|
    (a file named by the address, the container id on its first line): a pod
    whose DEL ran has none, so what is left is exactly what this run leaked."""
    leases = {}
    for top in dirs:
        for root, _, files in os.walk(top):
            for f in files:
                try:
                    ipaddress.ip_address(f)
                    with open(os.path.join(root, f)) as fh:
                        leases[f] = fh.readline().strip()
                except (ValueError, OSError):
                    continue
    return leases


def sweep_masquerade(leases):
    """Deletes the POSTROUTING jump of each leased address whose comment names the
    lease's own container, then the chain it jumps to."""
    chains, removed = set(), 0
    for rule in run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout.splitlines():
        args = shlex.split(rule)
        if "-s" not in args or "-j" not in args or "--comment" not in args:
            continue
        addr = args[args.index("-s") + 1].split("/")[0]
        target = args[args.index("-j") + 1]
        comment = args[args.index("--comment") + 1]
        if addr not in leases or not target.startswith("CNI-") or \
                'id: "%s"' % leases[addr] not in comment:
            continue
        if run(["iptables", "-t", "nat", "-D"] + args[1:]).returncode == 0:
            removed += 1
            chains.add(target)
    for c in chains:
        run(["iptables", "-t", "nat", "-F", c])
        run(["iptables", "-t", "nat", "-X", c])
    return removed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge", action="append", default=[])
    ap.add_argument("--ipam-dir", action="append", default=[])
    a = ap.parse_args()
    ns = sweep_netns(a.bridge)
    rules = sweep_masquerade(ipam_leases(a.ipam_dir))
    if ns or rules:
        print("bench: swept %d leftover network namespaces and %d masquerade rules" % (ns, rules),
              file=sys.stderr)


if __name__ == "__main__":
    main()
