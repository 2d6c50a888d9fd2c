"""Version, Status, RuntimeConfig, UpdateRuntimeConfig and the UNIMPLEMENTED
surface, through Debian's python3-grpcio with stubs generated from proto/api.proto."""

import json
import os
import time
import unittest

import grpc

from crid_fixture import (IMAGE_SERVICE, RUNTIME_SERVICE, CridTestCase, api_pb2, is_root,
                          require_root, write_atomic, write_conflist)

# RuntimeService/ImageService methods the daemon implements today. Every other
# method of the two services must answer UNIMPLEMENTED naming the method.
# Extend this set as handlers land (the test then stops probing that method).
IMPLEMENTED = {
    (RUNTIME_SERVICE, "Version"),
    (RUNTIME_SERVICE, "Status"),
    (RUNTIME_SERVICE, "RuntimeConfig"),
    (RUNTIME_SERVICE, "UpdateRuntimeConfig"),
    (RUNTIME_SERVICE, "RunPodSandbox"),
    (RUNTIME_SERVICE, "StopPodSandbox"),
    (RUNTIME_SERVICE, "RemovePodSandbox"),
    (RUNTIME_SERVICE, "PodSandboxStatus"),
    (RUNTIME_SERVICE, "ListPodSandbox"),
    (RUNTIME_SERVICE, "CreateContainer"),
    (RUNTIME_SERVICE, "StartContainer"),
    (RUNTIME_SERVICE, "StopContainer"),
    (RUNTIME_SERVICE, "RemoveContainer"),
    (RUNTIME_SERVICE, "ContainerStatus"),
    (RUNTIME_SERVICE, "ListContainers"),
    (RUNTIME_SERVICE, "UpdateContainerResources"),
    (RUNTIME_SERVICE, "ReopenContainerLog"),
    (RUNTIME_SERVICE, "ExecSync"),
    (RUNTIME_SERVICE, "Exec"),
    (RUNTIME_SERVICE, "Attach"),
    (RUNTIME_SERVICE, "PortForward"),
    (RUNTIME_SERVICE, "GetContainerEvents"),
    (RUNTIME_SERVICE, "ContainerStats"),
    (RUNTIME_SERVICE, "ListContainerStats"),
    (RUNTIME_SERVICE, "PodSandboxStats"),
    (RUNTIME_SERVICE, "ListPodSandboxStats"),
    (RUNTIME_SERVICE, "ListMetricDescriptors"),
    (RUNTIME_SERVICE, "ListPodSandboxMetrics"),
    (RUNTIME_SERVICE, "StreamPodSandboxMetrics"),
    (RUNTIME_SERVICE, "StreamPodSandboxes"),  # the Stream* lists: test_list_stream
    (RUNTIME_SERVICE, "StreamContainers"),
    (RUNTIME_SERVICE, "StreamContainerStats"),
    (RUNTIME_SERVICE, "StreamPodSandboxStats"),
    (IMAGE_SERVICE, "StreamImages"),
    (RUNTIME_SERVICE, "UpdatePodSandboxResources"),
    (RUNTIME_SERVICE, "CheckpointContainer"),
    (IMAGE_SERVICE, "PullImage"),
    (IMAGE_SERVICE, "ListImages"),
    (IMAGE_SERVICE, "ImageStatus"),
    (IMAGE_SERVICE, "RemoveImage"),
    (IMAGE_SERVICE, "ImageFsInfo"),
}


def host_is_cgroup_hybrid():
    """cgroup v1 controllers with a unified (v2) hierarchy beside them."""
    return os.path.isdir("/sys/fs/cgroup/unified") and os.path.isdir("/sys/fs/cgroup/memory")


def crun_needs_namespace():
    """crun 1.x refuses this host as it is: hybrid, with a cgroup2 at /sys/fs/cgroup/unified
    that has controllers (runtime/oci/host.c, crun_refuses)."""
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            controllers = f.read().strip()
    except OSError:
        return False
    return host_is_cgroup_hybrid() and bool(controllers)


class RuntimeInfoTest(CridTestCase):

    def status(self, verbose=False):
        return self.rt.Status(api_pb2.StatusRequest(verbose=verbose), timeout=10)

    def condition(self, resp, ctype):
        found = [c for c in resp.status.conditions if c.type == ctype]
        self.assertEqual(len(found), 1, "exactly one %s condition expected in %s" % (ctype, resp))
        return found[0]

    def info_json(self, resp):
        out = {}
        for k, v in resp.info.items():
            try:
                out[k] = json.loads(v)
            except ValueError as e:
                self.fail("Status info[%r] is not JSON (%s): %r" % (k, e, v[:500]))
        return out

    # -- Version ----------------------------------------------------------

    def test_version(self):
        r = self.rt.Version(api_pb2.VersionRequest(version="0.1.0"), timeout=10)
        self.assertEqual(r.runtime_name, "crid")
        self.assertEqual(r.runtime_api_version, "v1")
        self.assertEqual(r.version, "0.1.0")
        self.assertTrue(r.runtime_version, "runtime_version must be non-empty")

    def test_version_empty_request(self):
        # kubelet always sends version "0.1.0", but an empty request is valid protobuf too
        r = self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        self.assertEqual(r.runtime_name, "crid")
        self.assertEqual(r.runtime_api_version, "v1")

    def test_version_unknown_fields_ignored(self):
        # proto3: unknown fields must be skipped, not rejected
        ch = self.crid.channel(separate=True)
        try:
            call = ch.unary_unary("/%s/Version" % RUNTIME_SERVICE,
                                  request_serializer=lambda b: b,
                                  response_deserializer=api_pb2.VersionResponse.FromString)
            body = (api_pb2.VersionRequest(version="0.1.0").SerializeToString()
                    + b"\xa0\x06\x2a"            # field 100, varint 42
                    + b"\xaa\x06\x03abc")        # field 101, bytes "abc"
            r = call(body, timeout=10)
            self.assertEqual(r.runtime_name, "crid")
        finally:
            ch.close()

    # -- Status -----------------------------------------------------------

    def test_status_runtime_ready(self):
        require_root(self)
        r = self.status()
        c = self.condition(r, "RuntimeReady")
        self.assertTrue(c.status, "RuntimeReady false on a host with a working runc: reason=%r "
                        "message=%r" % (c.reason, c.message))

    def test_status_nonverbose_has_no_info(self):
        r = self.status(verbose=False)
        self.assertEqual(len(r.info), 0, "verbose=false must not return info: %r" % dict(r.info))
        self.condition(r, "RuntimeReady")
        self.condition(r, "NetworkReady")

    def test_status_verbose_info(self):
        r = self.status(verbose=True)
        self.assertTrue(len(r.info) > 0, "verbose=true must return a non-empty info map")
        info = self.info_json(r)
        for key in ("runtime", "config", "cni"):
            self.assertIn(key, info, "Status info lacks %r (keys: %s)" % (key, sorted(info)))
        rt, host = json.dumps(info["runtime"]), info["runtime"]
        # no config: the handlers are crun and runc at /usr/bin, crun the configured default
        self.assertEqual(info["config"]["defaultRuntime"], "crun")
        self.assertEqual([(r["name"], r["path"]) for r in host["runtimes"]],
                         [("crun", "/usr/bin/crun"), ("runc", "/usr/bin/runc")], rt)
        usable = {r["name"]: r["usable"] for r in host["runtimes"]}
        self.assertEqual(usable["runc"], os.access("/usr/bin/runc", os.X_OK), rt)
        crun = os.access("/usr/bin/crun", os.X_OK)
        ns = host["crunMountNamespace"]
        self.assertEqual(ns["needed"], crun and crun_needs_namespace(), rt)
        if ns["needed"]:
            # crun 1.x refuses a unified hierarchy with controllers: crid hides it in a
            # mount namespace of its own, which needs root (a mount namespace, a bind pin)
            self.assertEqual(ns["active"], is_root(), rt)
            self.assertEqual(ns["hiddenMount"], "/sys/fs/cgroup/unified", rt)
        self.assertEqual(usable["crun"], crun and (not ns["needed"] or ns["active"]), rt)
        if usable["crun"]:
            self.assertEqual((host["defaultRuntime"], host["defaultRuntimeReason"]), ("crun", ""),
                             rt)
        elif usable["runc"]:
            # crun's stand-in is runc, with the reason
            self.assertEqual(host["defaultRuntime"], "runc", rt)
            self.assertRegex(host["defaultRuntimeReason"],
                             r"^configured default `crun` unusable: .*; using `runc`$", rt)
        else:
            self.assertIsNone(host["defaultRuntime"], rt)

    def test_status_network_ready_follows_cni_dir(self):
        cni = self.crid.cni_dir
        for f in os.listdir(cni):
            os.unlink(os.path.join(cni, f))

        # empty conf dir -> not ready, reason NetworkPluginNotReady, message names the dir
        c = self.condition(self.status(), "NetworkReady")
        self.assertFalse(c.status, "NetworkReady true with an empty CNI conf dir")
        self.assertEqual(c.reason, "NetworkPluginNotReady")
        self.assertIn(cni, c.message, "NetworkReady message should name the conf dir")

        # unparsable conflist -> still not ready
        bad = os.path.join(cni, "10-broken.conflist")
        write_atomic(bad, '{"cniVersion": "1.0.0", "name": "broken", "plugins": [')
        c = self.condition(self.status(), "NetworkReady")
        self.assertFalse(c.status, "NetworkReady true with only a malformed conflist")
        self.assertEqual(c.reason, "NetworkPluginNotReady")
        os.unlink(bad)

        # valid conflist -> ready on the next Status call
        good = write_conflist(cni)
        c = self.condition(self.status(), "NetworkReady")
        self.assertTrue(c.status, "NetworkReady false with a valid conflist: reason=%r message=%r"
                        % (c.reason, c.message))
        v = self.info_json(self.status(verbose=True))
        self.assertIn("crid-it", json.dumps(v["cni"]), "cni info should name the loaded network")

        # removing it -> not ready again
        os.unlink(good)
        c = self.condition(self.status(), "NetworkReady")
        self.assertFalse(c.status, "NetworkReady still true after the conflist was removed")
        self.assertEqual(c.reason, "NetworkPluginNotReady")

        # and the change of a file in place is noticed too (new mtime)
        good = write_conflist(cni)
        self.assertTrue(self.condition(self.status(), "NetworkReady").status)
        time.sleep(0.01)
        write_atomic(good, "not json at all")
        c = self.condition(self.status(), "NetworkReady")
        self.assertFalse(c.status, "NetworkReady still true after the conflist became invalid")
        os.unlink(good)

    # -- RuntimeConfig / UpdateRuntimeConfig --------------------------------

    def test_runtime_config_cgroupfs(self):
        r = self.rt.RuntimeConfig(api_pb2.RuntimeConfigRequest(), timeout=10)
        self.assertTrue(r.HasField("linux"), "RuntimeConfigResponse.linux unset: %r" % r)
        self.assertEqual(r.linux.cgroup_driver, api_pb2.CGROUPFS,
                         "cgroup_driver %s, want CGROUPFS(1)" % r.linux.cgroup_driver)
        # never changes while kubelet runs
        r2 = self.rt.RuntimeConfig(api_pb2.RuntimeConfigRequest(), timeout=10)
        self.assertEqual(r2.linux.cgroup_driver, api_pb2.CGROUPFS)

    def test_update_runtime_config_pod_cidr(self):
        req = api_pb2.UpdateRuntimeConfigRequest(
            runtime_config=api_pb2.RuntimeConfig(
                network_config=api_pb2.NetworkConfig(pod_cidr="10.88.0.0/16")))
        self.rt.UpdateRuntimeConfig(req, timeout=10)
        info = self.info_json(self.status(verbose=True))
        self.assertIn("10.88.0.0/16", json.dumps(info["config"]),
                      "Status info config does not show the pod cidr: %s" % info["config"])

    def test_update_runtime_config_empty(self):
        # kubelet may send an empty config; that is not an error, and it changes nothing
        before = self.info_json(self.status(verbose=True))["config"]
        r = self.rt.UpdateRuntimeConfig(api_pb2.UpdateRuntimeConfigRequest(), timeout=10)
        self.assertEqual(r, api_pb2.UpdateRuntimeConfigResponse())
        self.assertEqual(self.info_json(self.status(verbose=True))["config"], before)

    # -- UNIMPLEMENTED surface --------------------------------------------

    def _call_raw(self, ch, service, method, streaming):
        path = "/%s/%s" % (service, method)
        if streaming:
            call = ch.unary_stream(path, request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
            return list(call(b"", timeout=10))
        call = ch.unary_unary(path, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        return call(b"", timeout=10)

    def test_unimplemented_methods(self):
        fd = api_pb2.DESCRIPTOR
        probed, problems = 0, []
        for sname in ("RuntimeService", "ImageService"):
            svc = fd.services_by_name[sname]
            full = svc.full_name
            for m in svc.methods:
                if (full, m.name) in IMPLEMENTED:
                    continue
                probed += 1
                streaming = _server_streaming(m)
                try:
                    self._call_raw(self.channel, full, m.name, streaming)
                    problems.append("%s/%s: OK, want UNIMPLEMENTED" % (full, m.name))
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                        problems.append("%s/%s: %s %r, want UNIMPLEMENTED"
                                        % (full, m.name, e.code(), e.details()))
                    elif m.name not in (e.details() or ""):
                        problems.append("%s/%s: UNIMPLEMENTED but message %r does not name "
                                        "the method" % (full, m.name, e.details()))
        # every method of runtime.v1 is implemented now (probed == 0): the set must
        # still name only real methods, or a typo would hide an unprobed one
        known = {(svc.full_name, m.name) for svc in fd.services_by_name.values()
                 for m in svc.methods}
        self.assertEqual(sorted(IMPLEMENTED - known), [], "IMPLEMENTED names unknown methods")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_unknown_methods(self):
        for path in ("/%s/NoSuchMethod" % RUNTIME_SERVICE, "/foo.Bar/Baz",
                     "/%s/version" % RUNTIME_SERVICE, "/runtime.v1alpha2.RuntimeService/Version"):
            with self.subTest(path=path):
                call = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                                response_deserializer=lambda b: b)
                with self.assertRaises(grpc.RpcError) as cm:
                    call(b"", timeout=10)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED,
                                 "%s: %s" % (path, cm.exception.details()))
                self.assertIn(path, cm.exception.details() or "",
                              "UNIMPLEMENTED message does not contain the method path")

    def test_grpc_message_percent_encoding(self):
        # The status message names the method; characters outside printable
        # ASCII and '%' itself must be percent-encoded on the wire so that a
        # conforming client decodes the exact text back.
        for name in ("No%20Such", "No%Such%25", "Nö_Such"):
            path = "/%s/%s" % (RUNTIME_SERVICE, name)
            with self.subTest(path=path):
                call = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                                response_deserializer=lambda b: b)
                try:
                    call(b"", timeout=10)
                    self.fail("OK for unknown method %r" % path)
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.INTERNAL and "path" in (e.details() or "").lower():
                        # grpc core refused to send this path itself; nothing to check
                        continue
                    self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED, e.details())
                    self.assertIn(name, e.details() or "",
                                  "grpc-message was not percent-encoded/decoded faithfully")

    def test_daemon_alive_at_end(self):
        self.assertDaemonAlive("runtime info tests")


def _server_streaming(method_descriptor):
    """protobuf python descriptors do not expose streaming flags; read them from
    the serialized FileDescriptorProto."""
    from google.protobuf import descriptor_pb2
    fdp = descriptor_pb2.FileDescriptorProto()
    method_descriptor.containing_service.file.CopyToProto(fdp)
    for s in fdp.service:
        if s.name == method_descriptor.containing_service.name:
            for m in s.method:
                if m.name == method_descriptor.name:
                    return m.server_streaming
    return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
