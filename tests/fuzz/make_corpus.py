#!/usr/bin/python3
"""Writes the generated seed corpora of tests/fuzz/corpus/.

Run from the repository root: tests/fuzz/make_corpus.py. It compiles
proto/api.proto with grpc_tools into a temporary dir, then writes small,
valid inputs for the targets whose inputs are CRI messages or JSON/TOML
documents (fuzz_handlers, fuzz_request_check, fuzz_ctr_spec, fuzz_cni_result,
fuzz_registries_conf, fuzz_log_json). Other targets' seeds are hand-written
files. Output is deterministic, so a rerun changes nothing unless this
script or the proto changed.
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tests", "fuzz", "corpus")
DIGEST = "sha256:" + "0123456789abcdef" * 4


def load_api():
    tmp = tempfile.mkdtemp(prefix="crid-corpus-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(REPO, "proto"),
                           "--python_out=" + tmp, os.path.join(REPO, "proto", "api.proto")])
    sys.path.insert(0, tmp)
    return importlib.import_module("api_pb2")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fill_map(m, entry, depth):
    key = entry.fields_by_name["key"]
    value = entry.fields_by_name["value"]
    k = "key" if key.type == key.TYPE_STRING else 1
    if value.type == value.TYPE_MESSAGE:
        if depth < 3:
            fill(m[k], depth + 1)
    elif value.type == value.TYPE_STRING:
        m[k] = "value"
    else:
        m[k] = 1


def fill(msg, depth=0):
    """Sets every field of |msg| once (strings, numbers, nested, one map entry) to depth 3."""
    for f in msg.DESCRIPTOR.fields:
        if f.message_type and f.message_type.GetOptions().map_entry:
            fill_map(getattr(msg, f.name), f.message_type, depth)
            continue
        if f.type == f.TYPE_MESSAGE:
            if depth >= 3:
                continue
            sub = getattr(msg, f.name).add() if f.label == f.LABEL_REPEATED else getattr(msg, f.name)
            fill(sub, depth + 1)
            if f.label != f.LABEL_REPEATED:
                sub.SetInParent()
            continue
        value = {f.TYPE_STRING: f.name.replace("_", "-"), f.TYPE_BOOL: True,
                 f.TYPE_BYTES: b"\x00\x01"}.get(f.type, 1)
        if f.type == f.TYPE_ENUM:
            value = f.enum_type.values[-1].number
        if f.label == f.LABEL_REPEATED:
            getattr(msg, f.name).append(value)
        else:
            setattr(msg, f.name, value)
    return msg


def pod_config(api):
    c = api.PodSandboxConfig()
    c.metadata.name, c.metadata.uid, c.metadata.namespace = "web", "uid-1", "default"
    c.hostname, c.log_directory = "web", "/var/log/pods/default_web_uid-1"
    c.labels["app"] = "web"
    c.annotations["kubernetes.io/ingress-bandwidth"] = "1M"
    c.dns_config.servers.append("10.96.0.10")
    c.port_mappings.add(protocol=0, container_port=80, host_port=8080)
    c.linux.cgroup_parent = "/kubepods/besteffort/poduid-1"
    c.linux.security_context.namespace_options.network = 2  # NODE (1 is CONTAINER: refused for a pod)
    c.linux.security_context.seccomp.profile_type = 0
    c.linux.sysctls["kernel.shm_rmid_forced"] = "1"  # net.* is refused with the node network
    return c


def ctr_config(api):
    c = api.ContainerConfig()
    c.metadata.name = "app"
    c.image.image = "docker.io/library/busybox:latest"
    c.command.extend(["/bin/sh", "-c"])
    c.args.append("echo hi")
    c.working_dir = "/"
    c.envs.add(key="PATH", value=b"/bin")
    c.mounts.add(container_path="/data", host_path="/tmp", readonly=True, propagation=1)
    c.log_path = "app/0.log"
    c.linux.resources.memory_limit_in_bytes = 64 << 20
    c.linux.resources.cpu_quota = 50000
    c.linux.security_context.capabilities.add_capabilities.append("NET_ADMIN")
    c.linux.security_context.run_as_user.value = 1000
    return c


def typical(api):
    """Requests as kubelet sends them, by method name."""
    img = api.ImageSpec(image="busybox:1.36")
    ids = {"pod_sandbox_id": "0123456789ab", "container_id": "0123456789ab"}
    out = {
        "Version": api.VersionRequest(version="v1"),
        "Status": api.StatusRequest(verbose=True),
        "RunPodSandbox": api.RunPodSandboxRequest(config=pod_config(api), runtime_handler="runc"),
        "StopPodSandbox": api.StopPodSandboxRequest(pod_sandbox_id=ids["pod_sandbox_id"]),
        "PodSandboxStatus": api.PodSandboxStatusRequest(pod_sandbox_id="0123", verbose=True),
        "ListPodSandbox": api.ListPodSandboxRequest(
            filter=api.PodSandboxFilter(state=api.PodSandboxStateValue(state=0),
                                        label_selector={"app": "web"})),
        "CreateContainer": api.CreateContainerRequest(pod_sandbox_id="0123456789ab",
                                                      config=ctr_config(api),
                                                      sandbox_config=pod_config(api)),
        "ExecSync": api.ExecSyncRequest(container_id="0123", cmd=["ls", "/"], timeout=5),
        "Exec": api.ExecRequest(container_id="0123", cmd=["sh"], tty=True, stdin=True, stdout=True),
        "Attach": api.AttachRequest(container_id="0123", stdin=True, stdout=True, stderr=True),
        "PortForward": api.PortForwardRequest(pod_sandbox_id="0123", port=[80]),
        "UpdateRuntimeConfig": api.UpdateRuntimeConfigRequest(
            runtime_config=api.RuntimeConfig(network_config=api.NetworkConfig(pod_cidr="10.88.0.0/16"))),
        "PullImage": api.PullImageRequest(image=img, auth=api.AuthConfig(username="u", password="p")),
        "ImageStatus": api.ImageStatusRequest(image=img, verbose=True),
        "RemoveImage": api.RemoveImageRequest(image=api.ImageSpec(image=DIGEST)),
        "ListImages": api.ListImagesRequest(filter=api.ImageFilter(image=img)),
    }
    return out


def methods(api):
    for svc in ("RuntimeService", "ImageService"):
        for m in api.DESCRIPTOR.services_by_name[svc].methods:
            yield m


def cri_requests(api):
    """(method index, method, [(seed name, bytes)]) for every method of both services."""
    known = typical(api)
    classes = {m.input_type.full_name: getattr(api, m.input_type.name) for m in methods(api)}
    for i, m in enumerate(methods(api)):
        cls = classes[m.input_type.full_name]
        seeds = [("empty", b""), ("filled", fill(cls()).SerializeToString())]
        if m.name in known:
            seeds.append(("typical", known[m.name].SerializeToString()))
        yield i, m, seeds


def cri_seeds(api):
    for i, m, seeds in cri_requests(api):
        for name, data in seeds:
            seed = bytes([i]) + data
            write("fuzz_handlers", "%s_%s" % (m.name, name), seed)
            if name != "empty":
                write("fuzz_request_check", "%s_%s" % (m.name, name), seed)
    bad = fill(api.RunPodSandboxRequest()).SerializeToString().replace(b"name", b"n\xffme")
    i = [m.name for m in methods(api)].index("RunPodSandbox")
    write("fuzz_handlers", "RunPodSandbox_bad_utf8", bytes([i]) + bad)


def rich_ctr_config(api):
    """Most of what a pod spec can ask of a container, as kubelet sends it."""
    c = ctr_config(api)
    c.metadata.attempt = 2
    c.tty = c.stdin = c.stdin_once = True
    c.stop_signal = 3
    c.devices.add(container_path="/dev/fuse", host_path="/dev/fuse", permissions="rwm")
    c.mounts.add(container_path="/etc/hosts", host_path="/etc/hosts", selinux_relabel=True)
    c.mounts.add(container_path="/ro", host_path="/tmp", readonly=True, recursive_read_only=True,
                 propagation=2)
    r = c.linux.resources
    r.cpu_period, r.cpu_shares, r.oom_score_adj = 100000, 512, -997
    r.cpuset_cpus, r.cpuset_mems = "0-1", "0"
    r.hugepage_limits.add(page_size="2MB", limit=1 << 21)
    r.unified["memory.high"] = "max"
    r.memory_swap_limit_in_bytes = 128 << 20
    sc = c.linux.security_context
    sc.privileged = False
    sc.namespace_options.pid = 1
    sc.run_as_user.Clear()
    sc.run_as_username = "web"
    sc.run_as_group.value = 29
    sc.supplemental_groups.extend([44, 50])
    sc.supplemental_groups_policy = 1
    sc.readonly_rootfs = True
    sc.no_new_privs = True
    sc.seccomp.profile_type = 0
    sc.apparmor.profile_type = 0
    sc.capabilities.drop_capabilities.append("ALL")
    sc.masked_paths.append("/proc/kcore")
    sc.readonly_paths.append("/proc/sys")
    return c


def ctr_spec_seeds(api):
    """fuzz_ctr_spec: host-namespace flags, the config's length (2 bytes, LE), config, image config."""
    image = json.dumps({"config": {"Env": ["PATH=/usr/bin", "LANG=C"], "Entrypoint": ["/bin/sh"],
                                   "Cmd": ["-c", "true"], "User": "app:audio", "WorkingDir": "/srv",
                                   "StopSignal": "SIGQUIT", "Labels": {"a": "b"}}})

    def seed(name, flags, cfg, img):
        data = cfg.SerializeToString()
        write("fuzz_ctr_spec", name, bytes([flags, len(data) & 0xff, len(data) >> 8]) + data
              + img.encode())

    seed("typical", 0, ctr_config(api), image)
    seed("rich_host_namespaces", 15, rich_ctr_config(api), image)
    priv = rich_ctr_config(api)
    priv.linux.security_context.privileged = True
    priv.linux.security_context.seccomp.profile_type = 2
    priv.linux.security_context.seccomp.localhost_ref = "/nonexistent/profile.json"
    seed("privileged_localhost_seccomp", 7, priv, "{}")
    seed("filled", 0, fill(api.ContainerConfig()), "not json")


def cni_result_seeds():
    v4 = {"cniVersion": "1.0.0",
          "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:ff"},
                         {"name": "vethX", "mac": "aa:bb:cc:dd:ee:01"},
                         {"name": "eth0", "mac": "aa:bb:cc:dd:ee:02", "sandbox": "/var/run/netns/x"}],
          "ips": [{"interface": 2, "address": "10.88.0.5/16", "gateway": "10.88.0.1"},
                  {"interface": 0, "address": "10.88.0.1/16"}],
          "routes": [{"dst": "0.0.0.0/0"}],
          "dns": {"nameservers": ["10.96.0.10"]}}
    write("fuzz_cni_result", "bridge_v4.json", json.dumps(v4, indent=1))
    dual = dict(v4, ips=v4["ips"] + [{"interface": 2, "address": "fd00::5/64"},
                                     {"interface": 2, "address": "::1/128"},
                                     {"address": "127.0.0.1/8"}])
    write("fuzz_cni_result", "dual_stack.json", json.dumps(dual))
    old = {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.1.2.3/24"}]}
    write("fuzz_cni_result", "v031.json", json.dumps(old))
    write("fuzz_cni_result", "not_object.json", "[1,2,3]")


def registries_seeds():
    full = """unqualified-search-registries = ["docker.io", "quay.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.example.com:5000/dockerhub"
insecure = true
[[registry.mirror]]
location = "digest.example.com"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "docker.io/library/busybox"
location = "internal.example.com/mirrored/busybox"

[[registry]]
prefix = "*.corp.example"
insecure = true

[[registry]]
location = "quay.io"
blocked = true
"""
    write("fuzz_registries_conf", "full.conf", full)
    write("fuzz_registries_conf", "mirror_only.conf",
          '[[registry]]\nlocation = "localhost:5000"\ninsecure = true\n'
          'mirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "127.0.0.1:5001"\n'
          '\x00localhost:5000/x/y@' + DIGEST)
    write("fuzz_registries_conf", "aliases.conf",
          '[aliases]\n"busybox" = "docker.io/library/busybox"\n'
          'credential-helpers = ["secretservice"]\n\x00busybox')
    write("fuzz_registries_conf", "v1.conf", '[registries.search]\nregistries = ["docker.io"]\n')


def log_json_seeds():
    write("fuzz_log_json", "plain", "\x10rpc=Version status=OK dur=12us")
    write("fuzz_log_json", "escapes", '\x00msg="a \\"quoted\\" \x01 word"\ttab\n\xc3\xa9\xff')


def main():
    api = load_api()
    cri_seeds(api)
    ctr_spec_seeds(api)
    cni_result_seeds()
    registries_seeds()
    log_json_seeds()


if __name__ == "__main__":
    main()
