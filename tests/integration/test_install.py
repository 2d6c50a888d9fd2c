"""`make install` / `make uninstall` (issue 15), the systemd unit and the man pages.

Installs into a DESTDIR and checks the tree; installs under a private PREFIX
and runs the installed daemon from there (its helpers found in
libexec/crid/, or in helper_dir when set; the CRI socket's group and mode
from the config); `systemd-analyze verify` on the unit where the tool exists;
every flag of `crid --help` in crid(8), every key of config.example.toml in
crid.toml(5), every cridctl command in cridctl(1), and `man -l` renders each
page without a warning."""
import grp
import os
import re
import shutil
import stat
import subprocess
import tempfile
import tomllib
import unittest

import api_pb2
import api_pb2_grpc
from crid_fixture import BUILD, CNI_PLUGIN_DIR, REPO, Crid, DaemonError, is_root, version_ok

PAGES = {"crid.8": "man8", "crid.toml.5": "man5", "cridctl.1": "man1"}


def make(*args):
    p = subprocess.run(["make", "-s", "-C", REPO, "BUILD=" + BUILD] + list(args),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("make %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def roff_text(path):
    """The page's source with roff's escaped hyphens and font changes made plain."""
    with open(path) as f:
        s = f.read()
    s = s.replace("\\-", "-")
    return re.sub(r"\\f[BIRP]", "", s)


class InstallTree(unittest.TestCase):
    """make install DESTDIR=... PREFIX=/usr/local: every file in its place."""

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="crid-it-install-")
        self.addCleanup(shutil.rmtree, self.dest, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip("/"))

    def install(self, *extra):
        return make("install", "DESTDIR=" + self.dest, "PREFIX=/usr/local", *extra)

    def test_tree(self):
        self.install()
        want = {
            "/usr/local/bin/crid": 0o755, "/usr/local/bin/cridctl": 0o755,
            "/usr/local/libexec/crid/crid-pinns": 0o755,
            "/usr/local/libexec/crid/crid-keeper": 0o755,
            "/usr/local/lib/systemd/system/crid.service": 0o644,
            "/usr/local/share/man/man8/crid.8": 0o644,
            "/usr/local/share/man/man5/crid.toml.5": 0o644,
            "/usr/local/share/man/man1/cridctl.1": 0o644,
            "/usr/local/share/bash-completion/completions/cridctl": 0o644,
            "/usr/local/share/doc/crid/examples/pod.yaml": 0o644,
            "/usr/local/share/doc/crid/examples/container.yaml": 0o644,
            "/etc/crid/crid.toml": 0o644,
            "/etc/cni/net.d/10-crid-bridge.conflist": 0o644,
        }
        for p, mode in want.items():
            st = os.stat(self.path(p))
            self.assertTrue(stat.S_ISREG(st.st_mode), p)
            self.assertEqual(stat.S_IMODE(st.st_mode), mode, p)
        found = set()
        for d, _, files in os.walk(self.dest):
            found |= {os.path.join(d, f)[len(self.dest):] for f in files}
        self.assertEqual(found, set(want), "nothing else is installed")
        with open(self.path("/etc/crid/crid.toml")) as f, \
                open(os.path.join(REPO, "config.example.toml")) as g:
            self.assertEqual(f.read(), g.read())
        with open(self.path("/usr/local/lib/systemd/system/crid.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/bin/crid --config /etc/crid/crid.toml\n", unit)
        self.assertNotIn("@", unit.replace("$MAINPID", ""))
        p = subprocess.run(["bash", "-n", self.path(
            "/usr/local/share/bash-completion/completions/cridctl")], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_keeps_operator_files(self):
        """A second install keeps an edited crid.toml; no conflist beside an existing one."""
        os.makedirs(self.path("/etc/cni/net.d"))
        with open(self.path("/etc/cni/net.d/10-flannel.conflist"), "w") as f:
            f.write("{}")
        self.install()
        self.assertEqual(os.listdir(self.path("/etc/cni/net.d")), ["10-flannel.conflist"])
        with open(self.path("/etc/crid/crid.toml"), "w") as f:
            f.write("# mine\n")
        out = self.install()
        self.assertIn("keeping", out)
        with open(self.path("/etc/crid/crid.toml")) as f:
            self.assertEqual(f.read(), "# mine\n")

    def test_uninstall(self):
        self.install()
        make("uninstall", "DESTDIR=" + self.dest, "PREFIX=/usr/local")
        left = set()
        for d, _, files in os.walk(self.dest):
            left |= {os.path.join(d, f)[len(self.dest):] for f in files}
        self.assertEqual(left, {"/etc/crid/crid.toml", "/etc/cni/net.d/10-crid-bridge.conflist"})


@unittest.skipUnless(is_root(), "needs root to run the installed daemon's pods")
class RunInstalled(unittest.TestCase):
    """The daemon run from an install under a private PREFIX: helpers from libexec/crid."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="crid-it-prefix-")
        make("install", "PREFIX=" + cls.tmp + "/usr", "SYSCONFDIR=" + cls.tmp + "/etc")
        cls.bin = os.path.join(cls.tmp, "usr", "bin", "crid")
        cls.libexec = os.path.join(cls.tmp, "usr", "libexec", "crid")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def daemon(self, name, config_text):
        conf = os.path.join(self.tmp, name + ".toml")
        with open(conf, "w") as f:
            f.write(config_text)
        c = Crid(tmpdir=tempfile.mkdtemp(prefix="crid-it-inst-run-"), config=conf)
        c.owns_tmp = True
        c.argv = lambda orig=c.argv: [self.bin] + orig()[1:]
        self.addCleanup(c.cleanup)
        return c

    def test_helpers_from_libexec_and_socket_group(self):
        c = self.daemon("run", '[crid]\nlisten_group = "nogroup"\nlisten_mode = 0o640\n')
        c.start()
        st = os.stat(c.sock)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(st.st_gid, grp.getgrnam("nogroup").gr_gid)
        version_ok(c)
        keepers = c.keeper_pids()
        self.assertEqual(len(keepers), 1, c.log())
        self.assertEqual(os.readlink("/proc/%d/exe" % keepers[0]),
                         os.path.join(self.libexec, "crid-keeper"))
        ch = c.channel()
        self.addCleanup(ch.close)
        rt = api_pb2_grpc.RuntimeServiceStub(ch)
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name="inst", uid="uid-inst", namespace="t"),
            hostname="inst")
        cfg.linux.security_context.namespace_options.network = api_pb2.NODE
        pid = rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=60).pod_sandbox_id
        st = rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid), timeout=10)
        self.assertEqual(st.status.state, api_pb2.SANDBOX_READY)
        rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pid), timeout=60)
        self.assertEqual(c.stop(), 0, c.log())

    def test_helper_dir(self):
        """helper_dir wins over libexec; a wrong one stops start-up naming the place."""
        other = os.path.join(self.tmp, "helpers")
        shutil.copytree(self.libexec, other)
        c = self.daemon("hdir", '[crid]\nhelper_dir = "%s"\n' % other)
        c.start()
        keepers = c.keeper_pids()
        self.assertEqual([os.readlink("/proc/%d/exe" % p) for p in keepers],
                         [os.path.join(other, "crid-keeper")])
        self.assertEqual(c.stop(), 0, c.log())
        c = self.daemon("nodir", '[crid]\nhelper_dir = "/nonexistent/crid"\n')
        with self.assertRaises(DaemonError):
            c.start()
        self.assertIn("/nonexistent/crid/crid-keeper", c.log_text())


class Unit(unittest.TestCase):
    def test_unit_file(self):
        """The directives CRI-O's and containerd's units have, and systemd-analyze verify."""
        tmp = tempfile.mkdtemp(prefix="crid-it-unit-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        make("install", "PREFIX=" + tmp + "/usr", "SYSCONFDIR=" + tmp + "/etc")
        unit = os.path.join(tmp, "usr/lib/systemd/system/crid.service")
        with open(unit) as f:
            text = f.read()
        for d in ("Type=notify", "Delegate=yes", "KillMode=process", "Restart=always",
                  "LimitNOFILE=", "FileDescriptorStoreMax=", "WantedBy=multi-user.target",
                  "ExecReload=/bin/kill -HUP $MAINPID"):
            self.assertIn(d, text)
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed: unit not verified")
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=dict(os.environ, MANPATH=os.path.join(tmp, "usr/share/man")))
        self.assertEqual((p.returncode, p.stderr.strip()), (0, ""), p.stdout)

    @unittest.skipUnless(os.path.isdir("/run/systemd/system"),
                         "systemd is not PID 1 here: crid.service not started for real")
    def test_under_systemd(self):
        """The installed unit, its paths made private, started and stopped by systemd:
        active once READY=1 came (the socket serves), stopped cleanly. Never run on the
        machine this was written on (no systemd as PID 1 there)."""
        tmp = tempfile.mkdtemp(prefix="crid-it-systemd-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        make("install", "PREFIX=" + tmp + "/usr", "SYSCONFDIR=" + tmp + "/etc")
        name = "crid-it-%d.service" % os.getpid()
        sock = os.path.join(tmp, "crid.sock")
        with open(os.path.join(tmp, "usr/lib/systemd/system/crid.service")) as f:
            unit = f.read().replace(
                "--config %s/etc/crid/crid.toml" % tmp,
                "--config %s/etc/crid/crid.toml --listen %s --root %s/root --runroot %s/run "
                "--cni-config-dir %s/cni" % (tmp, sock, tmp, tmp, tmp))
        path = "/run/systemd/system/" + name
        with open(path, "w") as f:
            f.write(unit)
        self.addCleanup(os.unlink, path)
        self.addCleanup(subprocess.run, ["systemctl", "daemon-reload"])
        self.addCleanup(subprocess.run, ["systemctl", "stop", name])
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "start", name], check=True, timeout=60)
        # Type=notify: start returns once READY=1 came, so the socket serves now
        version_ok("unix://" + sock)
        p = subprocess.run(["systemctl", "is-active", name], capture_output=True, text=True)
        self.assertEqual(p.stdout.strip(), "active")
        subprocess.run(["systemctl", "stop", name], check=True, timeout=60)
        p = subprocess.run(["systemctl", "show", "-p", "Result", name], capture_output=True,
                           text=True)
        self.assertEqual(p.stdout.strip(), "Result=success")


class ManPages(unittest.TestCase):
    def page(self, name):
        return os.path.join(REPO, "man", name)

    def test_render_without_warnings(self):
        if not shutil.which("man"):
            self.skipTest("man-db not installed")
        for name in PAGES:
            p = subprocess.run(["man", "--warnings=w", "-E", "UTF-8", "-l", self.page(name)],
                               capture_output=True, text=True,
                               env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "", "%s: %s" % (name, p.stderr))
            self.assertIn("NAME", p.stdout)

    def test_every_flag_in_crid_8(self):
        out = subprocess.run([os.path.join(BUILD, "crid"), "--help"], capture_output=True,
                             text=True, check=True).stdout
        flags = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", out))
        self.assertIn("--listen", flags)
        text = roff_text(self.page("crid.8"))
        missing = sorted(f for f in flags if not re.search(r"(?<![\w-])%s(?![\w-])" % f, text))
        self.assertEqual(missing, [], "flags of crid --help missing from crid(8)")

    def test_every_key_in_crid_toml_5(self):
        with open(os.path.join(REPO, "config.example.toml"), "rb") as f:
            doc = tomllib.load(f)
        text = roff_text(self.page("crid.toml.5"))
        missing = []

        def walk(t, path):
            for k, v in t.items():
                if isinstance(v, dict):
                    if path[-2:] == ["crid", "runtime"] and k == "runtimes":
                        self.assertIn("[crid.runtime.runtimes.NAME]", text)
                        walk(next(iter(v.values())), path + [k, "NAME"])
                    else:
                        if "[%s]" % ".".join(path + [k]) not in text:
                            missing.append("[%s]" % ".".join(path + [k]))
                        walk(v, path + [k])
                elif not re.search(r"^\.B %s$" % re.escape(k), text, re.M):
                    missing.append(".".join(path + [k]))
        walk(doc, [])
        self.assertEqual(missing, [], "keys of config.example.toml missing from crid.toml(5)")

    def test_every_command_in_cridctl_1(self):
        out = subprocess.run([os.path.join(BUILD, "cridctl"), "--help"], capture_output=True,
                             text=True).stdout
        cmds = re.findall(r"^  ([a-z][a-z-]+) {2,}", out.split("Commands:")[1].split("\n\n")[0],
                          re.M)
        self.assertIn("pull", cmds)
        text = roff_text(self.page("cridctl.1"))
        missing = [c for c in cmds if c != "help" and
                   not re.search(r"^\.BI?R? \"?%s\b" % re.escape(c), text, re.M) and
                   not re.search(r"^\.BR .*\b%s\b" % re.escape(c), text, re.M)]
        self.assertEqual(missing, [], "cridctl commands missing from cridctl(1)")
