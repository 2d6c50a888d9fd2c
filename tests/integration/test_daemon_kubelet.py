"""The daemon as an operator sees it, through python3-grpcio against the real
daemon, runc, CNI plugins and registry:

- one daemon per state directory: a second crid on the same --root (or the
  same --runroot) with its own socket is refused at once, naming the pid of
  the daemon holding it; the lock survives the SIGHUP re-exec; kill -9 of the
  holder frees it (the kernel drops the flock) even with containers running;
- `crictl inspect`/`inspectp` output shaped as containerd's (info.sandboxID,
  info.pid, info.config with the CRI field names, info.runtimeSpec read back
  from the config.json crid wrote, info.cniResult as go-cni's Result object), so jq
  scripts written for containerd work."""
import json
import os
import signal
import tempfile
import time
import shutil

import api_pb2
from crid_fixture import Crid, socket_accepts, version_ok
from ctr_fixture import CtrBase, setup_registry, teardown_registry


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    # -- helpers -----------------------------------------------------------------

    def run_pod_ns(self, pid_mode):
        """A pod with an explicit PID namespace mode (CONTAINER: no holder, POD: a holder)."""
        name = self.uniq("kpod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="kubelet-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        cfg.labels["app"] = name
        cfg.linux.security_context.namespace_options.pid = pid_mode
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pid] = cfg
        return pid

    def ctr_info(self, cid):
        r = self.status(cid, verbose=True)
        self.assertEqual(list(r.info.keys()), ["info"])
        return json.loads(r.info["info"])

    def pod_info(self, pod):
        r = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(
            pod_sandbox_id=pod, verbose=True), timeout=10)
        self.assertEqual(list(r.info.keys()), ["info"])
        return r.status, json.loads(r.info["info"])

    def second_daemon(self, same):
        """A second crid on its own temp dir and socket, sharing |same| ("root"/"runroot")."""
        tmp = tempfile.mkdtemp(prefix="crid-it-second-")
        self.addCleanup(shutil.rmtree, tmp, True)
        d = Crid(tmpdir=tmp, name="second")
        setattr(d, same, getattr(self.crid, same))
        self.addCleanup(self.end_second, d, same)
        return d

    def end_second(self, d, same):
        d.kill()
        if same != "runroot":  # a shared runroot's keeper is the first daemon's
            for pid in d.keeper_pids():
                os.kill(pid, signal.SIGKILL)
        d.unmount_leftovers()

    def assertRefused(self, same):
        d = self.second_daemon(same)
        d.spawn()
        rc = d.wait(20)
        if rc is None:
            d.kill()
            self.fail("a second crid on the same --%s is still running after 20s:\n%s"
                      % (same, d.log()))
        self.assertNotEqual(rc, 0, "a second crid on the same --%s exited 0:\n%s"
                            % (same, d.log()))
        log = d.log_text()
        self.assertIn("pid %d" % self.crid.pid, log,
                      "the refusal does not name the holder's pid:\n%s" % log)
        self.assertIn(getattr(self.crid, same), log, "the refusal does not name the directory")
        self.assertFalse(socket_accepts(d.sock), "the refused daemon serves its socket")
        version_ok(self.crid)

    # -- one daemon per state directory --------------------------------------------

    def test_lock_same_root_refused(self):
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cid = self.run_ctr(pod, "held", image="sleep")
        self.assertRefused("root")
        # the refused daemon touched nothing of the first one's containers
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)
        self.stop(cid)
        self.remove(cid)

    def test_lock_same_runroot_refused(self):
        self.assertRefused("runroot")

    def test_lock_kept_across_sighup_reexec(self):
        pid = self.crid.pid
        self.channel.close()
        self.crid.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        # the same pid serves again once the re-executed image listens
        while not (self.crid.wait_for_log("re-executing", 0.1) and socket_accepts(self.crid.sock)):
            self.assertTrue(self.crid.alive(), "crid exited on SIGHUP:\n%s" % self.crid.log())
            self.assertLess(time.monotonic(), deadline, "crid did not come back after SIGHUP")
            time.sleep(0.05)
        self.connect()
        version_ok(self.crid, timeout=10)
        self.assertEqual(self.crid.pid, pid)
        # the new image adopted the fds the old one held: no moment without the lock
        for d in (self.crid.root, self.crid.runroot):
            self.assertTrue(self.crid.wait_for_log(
                "state lock `%s` kept across the re-exec" % os.path.join(d, "crid.lock"), 5),
                "the re-executed crid did not adopt the lock of %s" % d)
        self.assertRefused("root")
        self.assertRefused("runroot")
        # the fds the old image passed on are close-on-exec again: runc does not get them
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cid = self.run_ctr(pod, "after-hup", image="sleep")
        for d in (self.crid.root, self.crid.runroot):
            self.assertEqual(self.openers(os.path.join(d, "crid.lock")), [pid])
        self.stop(cid)
        self.remove(cid)

    def test_lock_released_by_kill9_with_containers_running(self):
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cid = self.run_ctr(pod, "survivor", image="sleep")
        ctr_pid = self.ctr_info(cid)["pid"]
        self.restart(kill=True)  # kill -9; a new crid on the same dirs must start
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)
        # neither the container nor any child of crid holds the lock file open
        for d in (self.crid.root, self.crid.runroot):
            lock = os.path.join(d, "crid.lock")
            with open(lock) as f:
                self.assertEqual(f.read().strip(), str(self.crid.pid))
            self.assertEqual(self.openers(lock), [self.crid.pid],
                             "%s is open in other processes" % lock)
        self.assertTrue(os.path.exists("/proc/%d" % ctr_pid))
        self.stop(cid)
        self.remove(cid)

    @staticmethod
    def openers(path):
        st = os.stat(path)
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                for fd in os.listdir("/proc/%s/fd" % p):
                    try:
                        s = os.stat("/proc/%s/fd/%s" % (p, fd))
                    except OSError:
                        continue
                    if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                        out.append(int(p))
                        break
            except OSError:
                continue
        return out

    # -- inspect output as containerd shapes it ------------------------------------

    def test_container_info_shape(self):
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cfg = self.ctr_config("inspected", image="sleep", command=["/bin/sleep"],
                              args=["3600"], envs=[("GREETING", b"hello")])
        cfg.labels["tier"] = "web"
        cfg.annotations["note"] = "x"
        cid = self.create(pod, cfg)
        info = self.ctr_info(cid)
        self.assertEqual(info["sandboxID"], pod)
        self.assertIs(info["removing"], False)
        self.assertIsInstance(info["pid"], int)
        self.start(cid)
        info = self.ctr_info(cid)
        pid = info["pid"]
        self.assertIsInstance(pid, int)
        self.assertGreater(pid, 0)
        # runc answers start before its init has exec'd the command: give it a moment
        deadline = time.monotonic() + 10
        while True:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")[:2]
            if argv == [b"/bin/sleep", b"3600"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(argv, [b"/bin/sleep", b"3600"])
        spec = info["runtimeSpec"]
        self.assertIsInstance(spec, dict)
        self.assertEqual(spec["process"]["args"], ["/bin/sleep", "3600"])
        self.assertIn("GREETING=hello", spec["process"]["env"])
        self.assertIn("ociVersion", spec)
        c = info["config"]
        self.assertIsInstance(c, dict)
        self.assertEqual(c["metadata"], {"name": "inspected"})
        self.assertEqual(c["image"]["image"], cfg.image.image)
        self.assertEqual(c["command"], ["/bin/sleep"])
        self.assertEqual(c["args"], ["3600"])
        self.assertEqual(c["envs"], [{"key": "GREETING", "value": "hello"}])
        self.assertEqual(c["labels"], {"tier": "web"})
        self.assertEqual(c["annotations"], {"note": "x"})
        self.assertEqual(c["log_path"], "inspected.log")  # containerd: Go's json tags
        self.assertNotIn("tty", c)  # omitempty, as containerd
        self.assertEqual(info["runtimeHandler"], self.runtime)
        self.assertIsInstance(info["runtimeType"], str)
        self.assertNotIn("snapshotter", info)  # no snapshotter in crid: omitted, not faked
        self.stop(cid)
        info = self.ctr_info(cid)
        self.assertEqual(info["runtimeSpec"]["process"]["args"], ["/bin/sleep", "3600"])
        self.remove(cid)

    def test_container_info_config_text_not_utf8(self):
        """Env values are bytes in crid's proto; the info stays valid UTF-8 (U+FFFD, as Go)."""
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cid = self.create(pod, self.ctr_config("rawenv", image="sleep",
                                               envs=[("RAW", b"a\xffb")]))
        info = self.ctr_info(cid)  # grpc itself fails on a reply that is not UTF-8
        self.assertEqual(info["config"]["envs"], [{"key": "RAW", "value": "a\ufffdb"}])
        self.remove(cid)

    def test_container_info_after_restart(self):
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        cid = self.run_ctr(pod, "restarted", image="sleep", command=["/bin/sleep", "3000"])
        before = self.ctr_info(cid)
        self.restart(kill=True)
        after = self.ctr_info(cid)
        for k in ("pid", "sandboxID", "config", "runtimeSpec"):
            self.assertEqual(after[k], before[k], k)
        self.stop(cid)
        self.remove(cid)

    def test_pod_info_shape(self):
        pod = self.run_pod_ns(api_pb2.CONTAINER)
        st, info = self.pod_info(pod)
        cni = info["cniResult"]
        self.assertIsInstance(cni, dict, "cniResult must be a JSON object")
        # go-cni's Result as containerd shows it: jq '.info.cniResult.Interfaces.eth0.IPConfigs'
        self.assertEqual(list(cni), ["Interfaces", "DNS", "Routes"])
        eth0 = cni["Interfaces"]["eth0"]
        self.assertEqual([c["IP"] for c in eth0["IPConfigs"]], [st.network.ip])
        self.assertTrue(eth0["IPConfigs"][0]["Gateway"], eth0)
        self.assertRegex(eth0["Mac"], r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
        self.assertTrue(eth0["Sandbox"], "eth0 is in the pod's netns")
        for name, iface in cni["Interfaces"].items():
            if name != "eth0":  # the bridge and the host end of the veth carry no pod IP
                self.assertIsNone(iface["IPConfigs"], name)
        self.assertIsInstance(cni["DNS"], list)
        self.assertEqual(info["pid"], 0)  # no process holds this pod's namespaces
        self.assertIs(info["netNamespaceClosed"], False)
        self.assertEqual(info["runtimeHandler"], self.runtime)
        c = info["config"]
        cfg = self.pod_cfgs[pod]
        self.assertEqual(c["metadata"]["name"], cfg.metadata.name)
        self.assertEqual(c["metadata"]["uid"], cfg.metadata.uid)
        self.assertEqual(c["hostname"], cfg.hostname)
        self.assertEqual(c["log_directory"], cfg.log_directory)
        self.assertEqual(c["labels"], {"app": cfg.metadata.name})
        self.assertEqual(c["linux"]["security_context"]["namespace_options"]["pid"],
                         api_pb2.CONTAINER)  # enums as numbers, as containerd's encoding/json
        self.assertNotIn("runtimeSpec", info)  # no pause container, so no spec to show
        # crid's own keys stay
        self.assertIn("net", info["namespaces"])
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        _, info = self.pod_info(pod)
        self.assertIs(info["netNamespaceClosed"], True)

    def test_pod_info_pid_is_the_pid_namespace_holder(self):
        pod = self.run_pod_ns(api_pb2.POD)
        _, info = self.pod_info(pod)
        self.assertGreater(info["pid"], 0)
        self.assertEqual(info["pid"], info["namespaces"]["pidHolder"])
        self.assertTrue(os.path.exists("/proc/%d" % info["pid"]))


class KubeletRunc(_Tests, CtrBase):
    runtime = "runc"


if __name__ == "__main__":
    import unittest
    unittest.main()
