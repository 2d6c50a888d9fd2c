"""What integration modules leave on the machine: /tmp/crid-* dirs, mounts below
them and Linux bridges named cr* (the test networks: cridc*, cridp*, crc*, crt*).

  leftovers.py snap FILE LABEL    records what is there now (run.sh: before the first
                                  module and after each one ends)
  leftovers.py watch LOGDIR RUNPID
                                  every 5 s until RUNPID exits or LOGDIR/watch.stop
                                  appears: which module uses which dir (a process
                                  naming the dir in its argv or working in it, below a
                                  module's crid_fixture.py), and which bridges the
                                  conflists in those dirs name; into LOGDIR/owners.json
  leftovers.py report LOGDIR      what is new since the first snapshot and still there
                                  at the last, each entry with the module that used it

Ownership comes from the environment run.sh gives each module (CRID_RUN_ID, its
log dir; CRID_MODULE), which every process a module starts inherits. An entry a
module of this run used is that module's; one only other processes used (another
run's, a benchmark, a fuzzer), or that a live process still uses, is not this
run's. Anything else new is blamed on the module whose end first saw it (and
those running beside it then); when other processes were using /tmp/crid-* dirs
meanwhile, those cannot be told from theirs: printed without failing.
`report` exits 1 when something is blamed. Standard library only.
"""
import json
import os
import re
import subprocess
import sys
import time

TMP = "/tmp"
PREFIX = TMP + "/crid-"
BRIDGE_RX = re.compile(r'"bridge"\s*:\s*"([^"]+)"')


def ours(path):
    # a run's own log dir (crid-integration.*) is kept on failure on purpose
    return path.startswith(PREFIX) and not path.startswith(TMP + "/crid-integration.")


def top_dir(path):
    """/tmp/crid-x/a/b -> /tmp/crid-x"""
    return "/".join(path.split("/")[:3])


def tmp_dirs():
    try:
        return sorted(p for p in (os.path.join(TMP, n) for n in os.listdir(TMP)) if ours(p))
    except OSError:
        return []


def mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted({ln.split()[4] for ln in f if ours(ln.split()[4])})


def bridges():
    out = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True,
                         text=True).stdout
    names = [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln]
    return sorted(n for n in names if n.startswith("cr"))


def procs():
    """pid -> (ppid, argv, cwd) of every process we can read."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            cwd = os.readlink("/proc/%s/cwd" % p)
        except (OSError, ValueError, IndexError):
            continue
        out[int(p)] = (ppid, argv, cwd)
    return out


def dirs_used(argv, cwd):
    found = {top_dir(cwd)} if ours(cwd) else set()
    for a in argv:
        for m in re.finditer(r"/tmp/crid-[^/\s:,=]+", a):
            if ours(m.group(0)):
                found.add(m.group(0))
    return found


def run_env(pid):
    """(CRID_RUN_ID, CRID_MODULE) from |pid|'s environment: run.sh sets them for every
    module, and every process a module starts inherits them, wherever it is reparented."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    except OSError:
        return None, None
    run, mod = env.get(b"CRID_RUN_ID"), env.get(b"CRID_MODULE")
    return (run.decode(errors="replace") if run else None,
            mod.decode(errors="replace") if mod else None)


def owner(pid, ps, runid, runpid):
    """(run, module) of the integration module |pid| belongs to: run is "ours" (this run),
    "foreign" (another run's module) or "other" (no module: a benchmark, a fuzzer)."""
    run, mod = run_env(pid)
    if run:
        return ("ours" if run == runid else "foreign"), mod
    module, q = None, pid
    for _ in range(64):
        if q in (0, 1) or q not in ps:
            break
        if q == runpid:
            return "ours", module
        argv = ps[q][1]
        if module is None and any(a.endswith("crid_fixture.py") for a in argv):
            module = argv[-1] if argv[-1] else argv[-2]
        q = ps[q][0]
    return ("foreign" if module else "other"), module


def conflist_bridges(d):
    names = set()
    for root, dirs, files in os.walk(d):
        if root.count("/") - d.count("/") >= 2:
            dirs[:] = []
        for f in files:
            if f.endswith((".conflist", ".conf")):
                try:
                    with open(os.path.join(root, f)) as fh:
                        names.update(BRIDGE_RX.findall(fh.read(65536)))
                except OSError:
                    pass
    return names


def watch(logdir, runpid):
    owners, bridge_dir = {}, {}
    path = os.path.join(logdir, "owners.json")

    def running():
        return os.path.exists("/proc/%d" % runpid) and not os.path.exists(
            os.path.join(logdir, "watch.stop"))

    while running():
        ps = procs()
        for pid, (_, argv, cwd) in ps.items():
            used = dirs_used(argv, cwd)
            if not used:
                continue
            who = owner(pid, ps, logdir, runpid)
            for d in used:
                if list(who) not in owners.setdefault(d, []):
                    owners[d].append(list(who))
                    for b in conflist_bridges(d):
                        bridge_dir.setdefault(b, d)
        with open(path + ".tmp", "w") as f:
            json.dump({"owners": owners, "bridges": bridge_dir}, f)
        os.rename(path + ".tmp", path)
        for _ in range(10):  # 5 s between samples: a /proc walk costs ~0.1 s of CPU
            if not running():
                break
            time.sleep(0.5)
    return 0


def snap(path, label):
    with open(path, "w") as f:
        json.dump({"label": label, "dirs": tmp_dirs(), "mounts": mounts(),
                   "bridges": bridges()}, f)


def load(logdir):
    names = sorted((n for n in os.listdir(logdir) if n.startswith("snap.")),
                   key=lambda n: int(n.split(".")[1]))
    snaps = []
    for n in names:
        with open(os.path.join(logdir, n)) as f:
            snaps.append(json.load(f))
    try:
        with open(os.path.join(logdir, "owners.json")) as f:
            w = json.load(f)
    except (OSError, ValueError):
        w = {"owners": {}, "bridges": {}}
    return snaps, w


def blame(kind, e, snaps, w, live):
    """(module or None, why) for a new entry; module None means not this run's."""
    d = w["bridges"].get(e) if kind == "bridges" else top_dir(e)
    who = w["owners"].get(d, []) if d else []
    mods = sorted({m for run, m in who if run == "ours" and m})
    if mods:
        return " ".join(mods), "used by it"
    if who or (d and d in live):
        return None, "another's"  # used, but never by this run's modules
    seen = next(i for i, s in enumerate(snaps) if e in s[kind])
    return "?" + snaps[seen]["label"], "seen first when it ended"


def report(logdir):
    snaps, w = load(logdir)
    if len(snaps) < 2:
        return 0
    ps = procs()
    live = set()
    for _, argv, cwd in ps.values():
        live |= dirs_used(argv, cwd)
    foreign = any(run != "ours" for who in w["owners"].values() for run, _ in who)
    left = {}
    for kind in ("dirs", "mounts", "bridges"):
        for e in sorted(set(snaps[-1][kind]) - set(snaps[0][kind])):
            mod, why = blame(kind, e, snaps, w, live)
            if mod is not None:
                left.setdefault((mod, why), []).append((kind, e))
    if not left:
        return 0
    print("\nintegration: left behind on the machine (new since the run began, still there):")
    for (mod, why), entries in sorted(left.items()):
        print("  %s (%s):" % (mod.lstrip("?"), why))
        below = {}
        for kind, e in entries:
            if kind == "mounts":
                below.setdefault(top_dir(e), []).append(e)
            else:
                print("    %s %s" % (kind[:-1], e))
        for d, ms in below.items():
            print("    %d mount(s) below %s: %s%s" % (len(ms), d, " ".join(ms[:3]),
                                                     " ..." if len(ms) > 3 else ""))
    if foreign and all(mod.startswith("?") for mod, _ in left):
        print("integration: other tests or benchmarks were running on this machine meanwhile "
              "and none of these was seen in use by this run's modules: not failing on them")
        return 0
    return 1


def main(argv):
    if len(argv) == 4 and argv[1] == "snap":
        snap(argv[2], argv[3])
        return 0
    if len(argv) == 4 and argv[1] == "watch":
        return watch(argv[2], int(argv[3]))
    if len(argv) == 3 and argv[1] == "report":
        return report(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
