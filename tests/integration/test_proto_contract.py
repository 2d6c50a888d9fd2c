"""proto/api.proto must be wire-identical to upstream cri-api's api.proto.

The reference is $CRID_REFERENCE_PROTO, default ../shared/reference/cri-api/api.proto
relative to the repo root. Both files are compiled to descriptor sets with
protoc (the reference after stripping `[debug_redact = true]`, which Debian's
protoc 3.21 rejects) and compared: every message (nested too), field (name,
number, type, label, type_name, oneof, proto3_optional, packed), enum value
(name, number) and service method (name, input, output, streaming flags).
Needs no daemon."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from google.protobuf import descriptor_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OURS = os.path.join(REPO, "proto", "api.proto")


def reference_path():
    p = os.environ.get("CRID_REFERENCE_PROTO", "../shared/reference/cri-api/api.proto")
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(REPO, p))


def protoc_cmd():
    exe = shutil.which("protoc")
    if exe:
        return [exe]
    return [sys.executable, "-m", "grpc_tools.protoc"]


def compile_set(proto_path, workdir, tag):
    out = os.path.join(workdir, tag + ".pb")
    r = subprocess.run(protoc_cmd() + ["-I" + os.path.dirname(proto_path),
                                       "--descriptor_set_out=" + out, "--include_imports",
                                       os.path.basename(proto_path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("protoc failed on %s:\n%s" % (proto_path, r.stderr))
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return fds


def main_file(fds, basename):
    for f in fds.file:
        if os.path.basename(f.name) == basename:
            return f
    raise AssertionError("no %s in descriptor set" % basename)


def label_name(v):
    return descriptor_pb2.FieldDescriptorProto.Label.Name(v)


def type_name(v):
    return descriptor_pb2.FieldDescriptorProto.Type.Name(v)


def flatten(fdp):
    """Maps of fully qualified name -> comparable description."""
    pkg = "." + fdp.package if fdp.package else ""
    messages, fields, enums, values, methods = {}, {}, {}, {}, {}

    def enum(e, scope):
        fq = scope + "." + e.name
        enums[fq] = True
        for v in e.value:
            values[fq + "." + v.name] = v.number

    def message(m, scope):
        fq = scope + "." + m.name
        messages[fq] = {"oneofs": [o.name for o in m.oneof_decl],
                        "map_entry": m.options.map_entry,
                        "reserved_ranges": sorted((r.start, r.end) for r in m.reserved_range),
                        "reserved_names": sorted(m.reserved_name)}
        for f in m.field:
            fields[fq + "." + f.name] = {
                "number": f.number,
                "type": type_name(f.type),
                "label": label_name(f.label),
                "type_name": f.type_name,
                "oneof": (m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None),
                "proto3_optional": f.proto3_optional,
                "packed": f.options.packed if f.options.HasField("packed") else None,
                "json_name": f.json_name,
            }
        for n in m.nested_type:
            message(n, fq)
        for e in m.enum_type:
            enum(e, fq)

    for m in fdp.message_type:
        message(m, pkg)
    for e in fdp.enum_type:
        enum(e, pkg)
    for s in fdp.service:
        for m in s.method:
            methods[pkg + "." + s.name + "/" + m.name] = {
                "input": m.input_type, "output": m.output_type,
                "client_streaming": m.client_streaming, "server_streaming": m.server_streaming}
    return {"package": fdp.package, "syntax": fdp.syntax, "messages": messages,
            "fields": fields, "enums": enums, "enum values": values, "methods": methods,
            "services": sorted(s.name for s in fdp.service)}


def diff(ref, ours):
    out = []
    for k in ("package", "syntax", "services"):
        if ref[k] != ours[k]:
            out.append("%s: reference %r, ours %r" % (k, ref[k], ours[k]))
    for section in ("messages", "fields", "enums", "enum values", "methods"):
        a, b = ref[section], ours[section]
        for name in sorted(set(a) | set(b)):
            if name not in b:
                out.append("%s: %s missing in proto/api.proto (reference: %s)"
                           % (section, name, a[name]))
            elif name not in a:
                out.append("%s: %s only in proto/api.proto (%s), not in the reference"
                           % (section, name, b[name]))
            elif a[name] != b[name]:
                if isinstance(a[name], dict):
                    for k in sorted(set(a[name]) | set(b[name])):
                        if a[name].get(k) != b[name].get(k):
                            out.append("%s: %s.%s: reference %r, ours %r"
                                       % (section, name, k, a[name].get(k), b[name].get(k)))
                else:
                    out.append("%s: %s: reference %r, ours %r" % (section, name, a[name], b[name]))
    return out


class ProtoContractTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ref = reference_path()
        cls.work = tempfile.mkdtemp(prefix="crid-proto-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def load(self):
        if not os.path.exists(self.ref):
            reason = "reference proto %s absent (set CRID_REFERENCE_PROTO)" % self.ref
            print("SKIP %s: %s" % (self.id(), reason), file=sys.stderr)
            self.skipTest(reason)
        refdir = os.path.join(self.work, "ref")
        os.makedirs(refdir, exist_ok=True)
        with open(self.ref, encoding="utf-8") as f:
            text = f.read()
        # protoc 3.21 rejects debug_redact; it does not affect the wire
        text = re.sub(r"\s*\[\s*debug_redact\s*=\s*true\s*\]", "", text)
        ref_copy = os.path.join(refdir, "api.proto")
        with open(ref_copy, "w", encoding="utf-8") as f:
            f.write(text)
        ref = main_file(compile_set(ref_copy, refdir, "ref"), "api.proto")
        ours = main_file(compile_set(OURS, self.work, "ours"), "api.proto")
        return ref, ours

    def test_wire_contract_identical(self):
        ref, ours = self.load()
        a, b = flatten(ref), flatten(ours)
        d = diff(a, b)
        if d:
            self.fail("proto/api.proto differs from %s in %d places:\n  %s"
                      % (self.ref, len(d), "\n  ".join(d)))
        # sanity: the comparison really saw the API
        self.assertGreater(len(a["messages"]), 100)
        self.assertGreater(len(a["methods"]), 35)

    def test_imports_identical(self):
        ref, ours = self.load()
        self.assertEqual(sorted(ours.dependency), sorted(d for d in ref.dependency),
                         "imports differ")

    def test_go_package_kept(self):
        ref, ours = self.load()
        self.assertEqual(ours.options.go_package, ref.options.go_package)


if __name__ == "__main__":
    unittest.main(verbosity=2)
