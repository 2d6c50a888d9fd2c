"""The integration runner's own checks, so they can fail: the CRID-SUMMARY counts
of crid_fixture's runner when a whole class skips in setUpClass, the sanitizer
report scan behind Crid.finish, and leftovers.py (what run.sh blames modules for
leaving: attribution through the CRID_RUN_ID/CRID_MODULE environment, reports
and exit status). No daemon: these drive the runner's pieces directly."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from crid_fixture import HERE, sanitizer_report

PY = sys.executable
SKIPPING_MODULE = '''
import unittest
class WholeClassSkips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("the host lacks it")
    def test_1(self): pass
    def test_2(self): pass
    def test_3(self): pass
class Mixed(unittest.TestCase):
    def test_ok(self): pass
    def test_skips(self): self.skipTest("not here")
    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                pass
    def test_fails(self): self.fail("on purpose")
'''


class RunnerChecksTest(unittest.TestCase):

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="crid-selftest-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_summary_counts_tests_of_a_skipped_class(self):
        d = self.tmpdir()
        with open(os.path.join(d, "selftest_skips.py"), "w") as f:
            f.write(SKIPPING_MODULE)
        env = dict(os.environ, PYTHONPATH=d + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run([PY, os.path.join(HERE, "crid_fixture.py"), "selftest_skips"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)  # test_fails failed
        m = re.search(r"^CRID-SUMMARY .*$", p.stdout, re.M)
        self.assertTrue(m, p.stdout)
        self.assertEqual(m.group(0), "CRID-SUMMARY tests=7 passed=2 failed=1 "
                         "fixture_errors=0 skipped=4")

    def test_sanitizer_report_found(self):
        self.assertIsNone(sanitizer_report("crid: info: pull done\nruntime error: none\n"))
        asan = ("x\n=================================================================\n"
                "==123==ERROR: LeakSanitizer: detected memory leaks\n\nDirect leak of 7 byte(s)")
        self.assertTrue(sanitizer_report(asan).startswith("==123==ERROR: LeakSanitizer"))
        ubsan = "runtime/image/tar_reader.c:401:9: runtime error: signed integer overflow"
        self.assertTrue(sanitizer_report("a\n" + ubsan + "\n").startswith(ubsan))
        self.assertTrue(sanitizer_report("SUMMARY: UndefinedBehaviorSanitizer: undefined"))

    # -- leftovers.py -------------------------------------------------------

    def leftovers(self, *args):
        return subprocess.run([PY, os.path.join(HERE, "leftovers.py")] + list(args),
                              capture_output=True, text=True, timeout=60)

    def fake_run(self, last, owners, bridges=None):
        """A run's log dir: an empty first snapshot, |last| as the one after test_a."""
        logdir = self.tmpdir()
        first = {"label": "the run began", "dirs": [], "mounts": [], "bridges": []}
        last = dict({"label": "test_a (running beside it: test_b)", "dirs": [], "mounts": [],
                     "bridges": []}, **last)
        for i, s in enumerate((first, last), 1):
            with open(os.path.join(logdir, "snap.%d" % i), "w") as f:
                json.dump(s, f)
        with open(os.path.join(logdir, "owners.json"), "w") as f:
            json.dump({"owners": owners, "bridges": bridges or {}}, f)
        return logdir

    def test_leftover_used_by_a_module_fails_the_run(self):
        d = "/tmp/crid-it-gone-selftest"  # never created: the report reads snapshots
        logdir = self.fake_run({"dirs": [d], "mounts": [d + "/run/crun-ns", d + "/run/x"],
                                "bridges": ["crcselftest"]},
                               {d: [["ours", "test_b"], ["other", None]]},
                               {"crcselftest": d})
        p = self.leftovers("report", logdir)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("test_b (used by it):", p.stdout)
        self.assertIn("dir %s" % d, p.stdout)
        self.assertIn("bridge crcselftest", p.stdout)
        self.assertIn("2 mount(s) below %s" % d, p.stdout)

    def test_leftover_of_others_is_not_blamed(self):
        d = "/tmp/crid-bench-gone-selftest"
        logdir = self.fake_run({"dirs": [d]}, {d: [["foreign", "test_x"]]})
        p = self.leftovers("report", logdir)
        self.assertEqual((p.returncode, p.stdout), (0, ""))

    def test_unattributed_leftover(self):
        d = "/tmp/crid-outside-gone-selftest"
        # nobody else used /tmp/crid-* meanwhile: blamed on the module(s) that ended
        p = self.leftovers("report", self.fake_run({"dirs": [d]}, {}))
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("test_a (running beside it: test_b) (seen first when it ended):", p.stdout)
        # another run's processes used such dirs: printed, not failed on
        p = self.leftovers("report", self.fake_run(
            {"dirs": [d]}, {"/tmp/crid-other-selftest": [["foreign", "test_y"]]}))
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("dir " + d, p.stdout)
        self.assertIn("not failing on them", p.stdout)

    def test_watch_attributes_dirs_by_environment(self):
        """A process of module `test_fake` of this run (its environment says so) naming a
        /tmp/crid-* dir in its argv, and one of another run: each owner recorded."""
        logdir = self.tmpdir()
        mine, theirs = self.tmpdir(), self.tmpdir()
        with open(os.path.join(mine, "10-x.conflist"), "w") as f:
            json.dump({"plugins": [{"type": "bridge", "bridge": "crselftest0"}]}, f)
        procs = []
        for d, run, mod in ((mine, logdir, "test_fake"), (theirs, "/tmp/elsewhere", "test_z")):
            env = dict(os.environ, CRID_RUN_ID=run, CRID_MODULE=mod)
            procs.append(subprocess.Popen(["sh", "-c", "sleep 30", d], env=env))
        for p in procs:
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
        w = subprocess.Popen([PY, os.path.join(HERE, "leftovers.py"), "watch", logdir,
                              str(os.getpid())])
        self.addCleanup(w.kill)
        path = os.path.join(logdir, "owners.json")
        deadline = time.monotonic() + 30
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        open(os.path.join(logdir, "watch.stop"), "w").close()
        self.assertEqual(w.wait(30), 0)
        with open(path) as f:
            doc = json.load(f)
        self.assertIn(["ours", "test_fake"], doc["owners"].get(mine, []), doc)
        self.assertIn(["foreign", "test_z"], doc["owners"].get(theirs, []), doc)
        self.assertEqual(doc["bridges"].get("crselftest0"), mine, doc)


if __name__ == "__main__":
    unittest.main(verbosity=2)
