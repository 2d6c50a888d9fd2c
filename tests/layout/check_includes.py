#!/usr/bin/env python3
"""Fails on an include circle or an include that points up the house.

Reads every `#include "..."` of the C sources git knows. A module is a path
without its extension (runtime/pod/pod.c and .h are one module; a private
x_internal.h or x_testing.h belongs to module x). Checks:
  - no cycle between modules, and none between folders (runtime/pod,
    runtime/container, handlers, io, ...);
  - the floors of DESIGN.md: handlers -> runtime -> reactor/io, so reactor
    includes nothing of io, runtime or handlers; io nothing of runtime or
    handlers; runtime nothing of handlers and no protobuf (proto/, *.pb-c.h).
Prints each violation and exits 1; prints `include check: N modules, N folders, ok`.
"""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# what each floor may not include (prefixes)
FORBIDDEN = {
    "reactor/": ("io/", "runtime/", "handlers/", "proto/"),
    "io/": ("runtime/", "handlers/", "proto/"),
    "runtime/": ("handlers/", "proto/", "api.pb-c.h"),
}


def sources(root):
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split()
    return [p for p in out if os.path.exists(os.path.join(root, p))]


def module(path):
    """x.c, x.h and the private x_internal.h / x_testing.h are one module."""
    m = os.path.splitext(path)[0]
    for suffix in ("_internal", "_testing"):
        if m.endswith(suffix):
            return m[:-len(suffix)]
    return m


def folder(path):
    parts = path.split("/")
    if parts[0] == "runtime" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else "."


def circles(graph):
    """Strongly connected components of more than one node (Tarjan), sorted."""
    sys.setrecursionlimit(10000)
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = sources(root)
    known = {module(p) for p in files}
    mods, dirs, bad = {}, {}, []
    for p in files:
        with open(os.path.join(root, p), errors="replace") as f:
            incs = INCLUDE.findall(f.read())
        for inc in incs:
            for floor, banned in FORBIDDEN.items():
                if p.startswith(floor) and any(inc.startswith(b) or inc.endswith(b) for b in banned):
                    bad.append("%s includes %s: %s may not look up at it" % (p, inc, floor))
            target = module(inc)
            if target not in known or target == module(p):
                continue
            mods.setdefault(module(p), set()).add(target)
            a, b = folder(p), folder(inc)
            if a != b:
                dirs.setdefault(a, set()).add(b)
    for name, graph in (("module", mods), ("folder", dirs)):
        for comp in circles(graph):
            bad.append("%s include circle among: %s" % (name, ", ".join(comp)))
    for b in bad:
        print("include check: " + b)
    if bad:
        return 1
    print("include check: %d modules, %d folders, ok" % (len(known), len(dirs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
