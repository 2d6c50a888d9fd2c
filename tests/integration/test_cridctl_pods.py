"""cridctl's crictl-compatible pod verbs (runp, pods, inspectp, stopp, rmp) run
as subprocesses against a real daemon with a private bridge CNI network (real
plugins from /usr/lib/cni). While the daemon answers the sandbox RPCs with
UNIMPLEMENTED, the error format is checked and the lifecycle tests are skipped
with the reason printed."""
import json
import os
import re
import subprocess
import sys
import unittest

from crid_fixture import REPO, CridTestCase, require_root, valid_conflist, write_conflist

BUILD = os.environ.get("CRID_BUILD", "build")
CRIDCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cridctl")
NOT_IMPLEMENTED = "RunPodSandbox not implemented by this daemon"
RPC_ERROR = re.compile(r"^cridctl: (\w+): rpc error: code = (\w+) desc = (.*)$", re.M)


class CridctlPodsTest(CridTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a bridge of our own (name unique per run) and host-local leases in our temp dir
        tag = "%x" % (os.getpid() & 0xffff)
        conf = valid_conflist(name="crid-ctlpods-" + tag, bridge="cridp" + tag,
                              subnet="10.%d.0.0/16" % (100 + os.getpid() % 100))
        conf["plugins"][0]["ipam"]["dataDir"] = os.path.join(cls.crid.tmp, "ipam")
        write_conflist(cls.crid.cni_dir, "10-ctlpods.conflist", conf)
        cls.n = 0

    def ctl(self, *args, rc=0):
        p = subprocess.run([CRIDCTL, "-r", self.crid.target(), "-t", "30s"] + list(args),
                           capture_output=True, text=True, timeout=120)
        if rc is not None:
            self.assertEqual(p.returncode, rc, "cridctl %s: %s%s" % (" ".join(args), p.stdout,
                                                                      p.stderr))
        return p

    def pod_file(self, name, ext="yaml", namespace="ctl-test", labels=None, attempt=0):
        type(self).n += 1
        path = os.path.join(self.crid.tmp, "pod-%d.%s" % (self.n, ext))
        cfg = {"metadata": {"name": name, "namespace": namespace, "uid": "uid-%d" % self.n,
                            "attempt": attempt},
               "hostname": name, "log_directory": os.path.join(self.crid.tmp, "logs", name),
               "labels": labels or {}, "linux": {"cgroup_parent": ""}}
        with open(path, "w") as f:
            if ext == "json":
                json.dump(cfg, f)
            else:  # a YAML rendering with flow maps, enough for these shapes
                f.write("metadata: %s\nhostname: %s\nlog_directory: %s\nlabels: %s\n"
                        % (json.dumps(cfg["metadata"]), name, cfg["log_directory"],
                           json.dumps(cfg["labels"])))
        return path

    def implemented(self):
        """True when the daemon runs pods; else skips with the reason printed."""
        p = self.ctl("runp", self.pod_file("probe"), rc=None)
        m = RPC_ERROR.search(p.stderr)
        if p.returncode != 0 and m and m.group(2) == "Unimplemented":
            print("SKIP %s: %s" % (self.id(), NOT_IMPLEMENTED), file=sys.stderr)
            self.skipTest(NOT_IMPLEMENTED)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.ctl("stopp", p.stdout.strip())
        self.ctl("rmp", p.stdout.strip())
        require_root(self)
        return True

    # -- always run ------------------------------------------------------------

    def test_rpc_error_format(self):
        """A pod the daemon does not know: crictl's error line, exit code 1."""
        p = self.ctl("inspectp", "f" * 64, rc=1)
        self.assertEqual(p.stdout, "")
        m = RPC_ERROR.search(p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertEqual((m.group(1), m.group(2)), ("PodSandboxStatus", "NotFound"))
        self.assertIn("f" * 64, m.group(3))

    def test_bad_pod_config(self):
        """Config errors are reported before any RPC, naming the file and the field."""
        path = os.path.join(self.crid.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{"metadat": {"name": "x"}}')
        p = self.ctl("runp", path, rc=1)
        self.assertEqual(p.stderr.strip(),
                         "cridctl: runp: pod config `%s`: unknown field `metadat`" % path)
        with open(path, "w") as f:
            f.write('{"metadata": {"name": "x"}}')
        p = self.ctl("runp", path, rc=1)
        self.assertIn("metadata.name and metadata.namespace must be set", p.stderr)
        p = self.ctl("runp", rc=1)
        self.assertIn("expected one pod config file", p.stderr)
        p = self.ctl("pods", "--state", "sleepy", rc=1)
        self.assertIn("--state should be ready or notready", p.stderr)
        p = self.ctl("pods", "--label", "a=b=c", rc=1)
        self.assertIn("incorrectly specified label: a=b=c", p.stderr)
        p = self.ctl("stopp", rc=1)
        self.assertIn("Usage: cridctl stopp", p.stderr)

    # -- need the sandbox RPCs, root and CNI ------------------------------------

    def test_lifecycle(self):
        self.implemented()
        pid = self.ctl("runp", self.pod_file("life", "json", labels={"app": "web"})).stdout
        pid = pid.strip()
        self.assertRegex(pid, r"^[0-9a-f]{64}$")
        try:
            # pods: header and row
            out = self.ctl("pods").stdout.splitlines()
            self.assertRegex(out[0], r"^POD ID {14,}CREATED {3,}STATE {3,}NAME {3,}NAMESPACE"
                                     r" {3,}ATTEMPT {3,}RUNTIME$")
            row = [line for line in out[1:] if line.startswith(pid[:13] + " ")]
            self.assertEqual(len(row), 1, out)
            self.assertRegex(row[0], r"ago +Ready +life +ctl-test +0 +\(default\)$")
            self.assertIn(pid, self.ctl("pods", "--no-trunc").stdout)
            self.assertIn(pid + "\n", self.ctl("pods", "-q").stdout)
            doc = json.loads(self.ctl("pods", "-o", "json", "--id", pid[:8]).stdout)
            self.assertEqual([i["id"] for i in doc["items"]], [pid])
            self.assertEqual(doc["items"][0]["state"], "SANDBOX_READY")
            self.assertEqual(doc["items"][0]["labels"], {"app": "web"})
            # inspectp by a prefix: status and info
            doc = json.loads(self.ctl("inspectp", pid[:10]).stdout)
            self.assertEqual(doc["status"]["id"], pid)
            self.assertEqual(doc["status"]["state"], "SANDBOX_READY")
            self.assertEqual(doc["status"]["metadata"]["name"], "life")
            self.assertRegex(doc["status"]["createdAt"], r"^\d{4}-\d\d-\d\dT")
            self.assertTrue(doc["status"]["network"]["ip"], doc)
            # rmp refuses a running pod
            p = self.ctl("rmp", pid, rc=1)
            self.assertIn("is running, please stop it first", p.stderr)
            # stopp -> NotReady
            self.assertEqual(self.ctl("stopp", pid[:12]).stdout, "Stopped sandbox %s\n" % pid[:12])
            doc = json.loads(self.ctl("inspectp", pid).stdout)
            self.assertEqual(doc["status"]["state"], "SANDBOX_NOTREADY")
            self.assertIn(pid, self.ctl("pods", "-q", "--state", "notready").stdout)
            self.assertNotIn(pid, self.ctl("pods", "-q", "--state", "ready").stdout)
        finally:
            self.ctl("rmp", "-f", pid, rc=None)
        self.assertNotIn(pid, self.ctl("pods", "-q").stdout)

    def test_filters_and_prefixes(self):
        self.implemented()
        ids = []
        try:
            for name, ns, labels in (("fa", "ns-one", {"tier": "a"}),
                                     ("fb", "ns-one", {"tier": "b"}),
                                     ("gc", "ns-two", {"tier": "a"})):
                ids.append(self.ctl("runp", self.pod_file(name, namespace=ns, labels=labels))
                           .stdout.strip())
            q = lambda *a: self.ctl("pods", "-q", *a).stdout.split()  # noqa: E731
            self.assertEqual(q("--name", "^f"), [ids[1], ids[0]])  # newest first
            self.assertEqual(q("--namespace", "two$"), [ids[2]])
            self.assertEqual(sorted(q("--label", "tier=a")), sorted([ids[0], ids[2]]))
            self.assertEqual(q("--label", "tier=a", "--name", "fa"), [ids[0]])
            self.assertEqual(q("--latest"), [ids[2]])
            self.assertEqual(q("--last", "2"), [ids[2], ids[1]])
            self.assertEqual(q("--id", ids[1][:6]), [ids[1]])
            # inspectp without IDs takes the filters
            doc = json.loads(self.ctl("inspectp", "--name", "^g").stdout)
            self.assertEqual(doc["status"]["id"], ids[2])
            doc = json.loads(self.ctl("inspectp", "-q", ids[0], ids[1]).stdout)
            self.assertEqual([d["status"]["id"] for d in doc], ids[:2])
            # a prefix shared by two pods is refused, not guessed: more pods until two ids
            # share their first hex digit (17 ids always do; ~5 on average)
            while len({i[0] for i in ids}) == len(ids):
                ids.append(self.ctl("runp", self.pod_file("amb%d" % len(ids))).stdout.strip())
            shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
            p = self.ctl("stopp", shared, rc=1)
            self.assertIn("is ambiguous", p.stderr)
            out = self.ctl("stopp", *[i[:16] for i in ids]).stdout
            self.assertEqual(out, "".join("Stopped sandbox %s\n" % i[:16] for i in ids))
            out = self.ctl("rmp", "-a").stdout
            for i in ids:
                self.assertIn("Removed sandbox %s\n" % i, out)
            self.assertEqual(self.ctl("pods", "-q").stdout, "")
        finally:
            for i in ids:
                self.ctl("rmp", "-f", i, rc=None)


if __name__ == "__main__":
    unittest.main()
