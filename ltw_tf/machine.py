"""The CPU a figure was measured on: model and the instruction-set flags that change kernel speed and rounding.

int8 inference runs at about fp32 speed on AVX2 without VNNI (no int8 dot-product instruction); AVX-512 and AMX
change both speed and summation order (tests/margins.py). Every bench script whose figure depends on the
instruction set prints ``cpu_summary()`` and writes ``cpu_info()`` into its JSON.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The flags of /proc/cpuinfo that decide which kernels oneDNN / XNNPack pick for float32, fp16 and int8 work.
FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def cpu_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict:
    """``{"model", "cores", "flags": {flag: bool}, "summary"}`` (flags empty where /proc/cpuinfo is missing)."""
    path = Path(cpuinfo)
    text = path.read_text(errors="replace") if path.is_file() else ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:  # the first processor's entry
            fields[key.strip()] = value.strip()
    present = set(fields.get("flags", "").split())
    info = {
        "model": fields.get("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "flags": {flag: flag in present for flag in FLAGS} if present else {},
    }
    info["summary"] = cpu_summary(info)
    return info


def cpu_summary(info: dict) -> str:
    """One line, e.g. ``AMD EPYC, 2 cores, AVX2, no AVX-512, no VNNI, no AMX``."""
    flags = info["flags"]
    if not flags:
        return f"{info['model']}, {info['cores']} cores, instruction set unknown"
    has = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f")) if flags[flag]]
    vnni = [name for name, flag in (("AVX512-VNNI", "avx512_vnni"), ("AVX-VNNI", "avx_vnni")) if flags[flag]]
    amx = [flag.upper().replace("_", "-") for flag in ("amx_tile", "amx_int8", "amx_bf16") if flags[flag]]
    parts = [info["model"], f"{info['cores']} cores", *has]
    parts.append("no AVX-512" if not flags["avx512f"] else None)
    parts += vnni or ["no VNNI"]
    parts += amx or ["no AMX"]
    return ", ".join(p for p in parts if p)
