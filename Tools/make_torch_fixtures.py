"""Small `torch.save` checkpoints (pytorch_model.bin) for TorchCheckpointTests.

Writes Tests/Fixtures/torch/:
  state-dict.bin / .safetensors   f32, f16, bf16, int64, bool tensors: a scalar, an empty
                                  tensor, an nn.Parameter, views sharing one storage (at
                                  offsets, and a transposed, non-contiguous one). The
                                  .safetensors holds the float tensors, made contiguous.
  eagle-head.bin / .safetensors   an EAGLE-1 head's state_dict() (OrderedDict with
                                  _metadata, so BUILD appears), tiny dims, float16
  eagle-head-p4.bin               the same saved with pickle protocol 4 (FRAME, MEMOIZE,
                                  SHORT_BINUNICODE, STACK_GLOBAL)
  eagle-head-zip64.bin            the same entries re-written with ZIP64 records throughout
  os-system.bin, builtins-eval.bin, subprocess-popen.bin, hooks-posix-system.bin
                                  hand-assembled malicious pickles (never unpickled here)
  truncated.bin                   eagle-head.bin cut in half
  deflated.bin                    eagle-head.bin's entries re-zipped with ZIP_DEFLATED
  short-storage.bin               a storage entry shorter than its tensor
  legacy.bin                      the pre-1.6 (non-zip) torch.save format

Run: OMP_WAIT_POLICY=PASSIVE python3 Tools/make_torch_fixtures.py
"""
import collections
import os
import pathlib
import struct
import zipfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "torch"


def state_dict_fixture():
    torch.manual_seed(0)
    base = torch.arange(12, dtype=torch.float32).reshape(4, 3) / 4 - 1  # shared by three views
    sd = collections.OrderedDict()
    sd["f32.matrix"] = torch.randn(3, 5)
    sd["f32.scalar"] = torch.tensor(2.5)
    sd["f32.empty"] = torch.zeros(0, 3)
    sd["f32.param"] = torch.nn.Parameter(torch.tensor([0.5, -0.25]))
    sd["f16.vector"] = torch.randn(7).half()
    sd["bf16.cube"] = torch.randn(2, 3, 2).bfloat16()
    sd["shared.base"] = base
    sd["shared.row1"] = base[1]          # storage offset 3
    sd["shared.tail"] = base[2:]         # storage offset 6, shape [2, 3]
    sd["shared.transposed"] = base.t()   # strides (1, 3)
    sd["i64.ids"] = torch.tensor([3, -1, 1 << 40])
    sd["bool.mask"] = torch.tensor([True, False, True])
    torch.save(sd, OUT / "state-dict.bin")
    floats = {k: v.detach().contiguous().clone() for k, v in sd.items() if v.is_floating_point()}
    save_file(floats, str(OUT / "state-dict.safetensors"))


class Head(torch.nn.Module):
    """The module layout of an official EAGLE-1 head (names only; no forward)."""

    def __init__(self, d=8, inter=16, vocab=12):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(vocab, d)
        self.fc = torch.nn.Linear(2 * d, d, bias=True)
        layer = torch.nn.Module()
        attn = torch.nn.Module()
        for p in "qkvo":
            setattr(attn, f"{p}_proj", torch.nn.Linear(d, d, bias=False))
        mlp = torch.nn.Module()
        mlp.gate_proj = torch.nn.Linear(d, inter, bias=False)
        mlp.up_proj = torch.nn.Linear(d, inter, bias=False)
        mlp.down_proj = torch.nn.Linear(inter, d, bias=False)
        layer.self_attn, layer.mlp = attn, mlp
        layer.post_attention_layernorm = torch.nn.Module()
        layer.post_attention_layernorm.weight = torch.nn.Parameter(1 + torch.randn(d) / 10)
        self.layers = torch.nn.ModuleList([layer])


def eagle_head_fixture():
    torch.manual_seed(1)
    sd = Head().half().state_dict()
    torch.save(sd, OUT / "eagle-head.bin")
    torch.save(sd, OUT / "eagle-head-p4.bin", pickle_protocol=4)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(OUT / "eagle-head.safetensors"))
    torch.save(sd, OUT / "legacy.bin", _use_new_zipfile_serialization=False)


def entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(path, items, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in items:
            z.writestr(name, data)


def write_zip64(path, items):
    """Every size and offset in a ZIP64 extra field, and the ZIP64 end records."""
    out, central = bytearray(), bytearray()
    for name, data in items:
        n, crc, offset = name.encode(), zipfile.crc32(data), len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra))
        out += n + extra + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
        central += n + extra
    cd_offset, count = len(out), len(items)
    out += central
    end64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, end64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(out)
    with zipfile.ZipFile(path) as z:  # Python's reader agrees
        assert [(i.filename, z.read(i.filename)) for i in z.infolist()] == list(items)


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def short_binunicode(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def malicious_fixtures():
    # Hand-assembled opcodes: written to disk only, never passed to pickle.loads.
    payloads = {
        # os.system("echo pwned") via GLOBAL + REDUCE
        "os-system.bin": b"\x80\x02cos\nsystem\n" + binunicode("echo pwned") + b"\x85R.",
        # builtins.eval("1+1") inside an otherwise ordinary dict
        "builtins-eval.bin": b"\x80\x02}(" + binunicode("w") + b"cbuiltins\neval\n"
                             + binunicode("1+1") + b"\x85Ru.",
        # subprocess.Popen(["true"]) via STACK_GLOBAL (protocol 4)
        "subprocess-popen.bin": b"\x80\x04" + short_binunicode("subprocess") + short_binunicode("Popen")
                                + b"\x93](" + short_binunicode("true") + b"e\x85R.",
    }
    # A real tensor whose backward_hooks is posix.system("id"): refused at the GLOBAL, mid-tensor.
    payloads["hooks-posix-system.bin"] = (
        b"\x80\x02}(" + binunicode("fc.bias") + b"ctorch._utils\n_rebuild_tensor_v2\n((" + binunicode("storage")
        + b"ctorch\nHalfStorage\n" + binunicode("0") + binunicode("cpu") + b"K\x08tQK\x00K\x08\x85K\x01\x85\x89"
        + b"cposix\nsystem\n" + binunicode("id") + b"\x85RtRu.")
    for name, pkl in payloads.items():
        write_zip(OUT / name, [("archive/data.pkl", pkl), ("archive/data/0", bytes(16)), ("archive/version", b"3\n")])


def broken_fixtures():
    head = (OUT / "eagle-head.bin").read_bytes()
    (OUT / "truncated.bin").write_bytes(head[: len(head) // 2])
    items = entries(OUT / "eagle-head.bin")
    write_zip(OUT / "deflated.bin", items, zipfile.ZIP_DEFLATED)
    write_zip64(OUT / "eagle-head-zip64.bin", items)
    sd = (OUT / "state-dict.bin")
    short = [(n, d[:8] if n.endswith("/data/0") else d) for n, d in entries(sd)]
    write_zip(OUT / "short-storage.bin", short)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    state_dict_fixture()
    eagle_head_fixture()
    malicious_fixtures()
    broken_fixtures()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
