"""The CPU vendor that Intel's MKL sees: what made a study's floats differ between an Intel Xeon and an AMD EPYC,
and how a rerun on one vendor takes the other vendor's code path.

torch's CPU BLAS is MKL (linked into libtorch_cpu), and MKL chooses its matrix kernels by CPU vendor before ISA:
on an Intel CPU with AVX-512 its AVX-512 kernels, on any other vendor a generic branch whatever the ISA (its
``MKL_CBWR=AVX512`` is ignored off Intel: MKL falls back to ``AUTO``). The kernels sum in different orders, so a
head's forward and backward passes round differently in their last float32 bits, and training carries that on:
thresholds move in their last digits and a run can stop an epoch apart. oneDNN, ATen's own vectorised kernels
(``ATEN_CPU_CAPABILITY``), numpy's OpenBLAS (``OPENBLAS_CORETYPE``) and dlib's descriptor did not move any figure.

MKL asks two of its own exported functions, ``mkl_serv_intel_cpu_true`` and ``mkl_serv_intel_cpu``, whether the
CPU is Intel. A two-function library preloaded ahead of libtorch that answers as the study's vendor makes MKL
take that vendor's code path on this CPU. Measured on an AMD EPYC with AVX-512 (docs/measurements/reproduce.json):
answering "Intel" reproduces the Xeon-made CK+48 head study to the last digit; answering "not Intel" is the EPYC's
own path. The other direction (an Intel CPU answering "not Intel") is the same mechanism, not measured.

A committed study records the machine that made it in ``docs/studies/<name>/machine.yaml`` (written by
``python -m emoverify.findings export``; :func:`this_machine`).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import yaml

INTEL = "GenuineIntel"
RECORD = "machine.yaml"
ANSWER = (
    "int mkl_serv_intel_cpu_true(void) {{ return {answer}; }}\nint mkl_serv_intel_cpu(void) {{ return {answer}; }}\n"
)


class VendorError(RuntimeError):
    """MKL cannot be given the study's vendor here (no C compiler, or it failed); the message says what to do."""


def this_machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """This machine's CPU vendor (``vendor_id``: GenuineIntel, AuthenticAMD, ...) and model name; empty values
    where /proc/cpuinfo does not say (another operating system)."""
    fields = {"vendor_id": "", "model name": ""}
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in fields and not fields[key.strip()]:
                fields[key.strip()] = value.strip()
    return {"cpu_vendor": fields["vendor_id"], "cpu_model": fields["model name"]}


def read_record(study: Path) -> dict | None:
    """The machine a committed study was made on (its ``machine.yaml``), or None where it has none."""
    path = study / RECORD
    if not path.is_file():
        return None
    record = yaml.safe_load(path.read_text()) or {}
    if not record.get("cpu_vendor"):
        raise VendorError(f"{path}: no cpu_vendor (the vendor_id of /proc/cpuinfo on the machine that made it)")
    return record


def write_record(study: Path, machine: dict) -> None:
    header = "# the machine that made these tables: make reproduce gives MKL its vendor (emoverify/mkl_vendor.py)\n"
    (study / RECORD).write_text(header + yaml.safe_dump(machine, sort_keys=True))


def vendor_library(intel: bool, folder: Path, compiler: str = "cc") -> Path:
    """The preloadable library that tells MKL the CPU is (or is not) Intel, compiled into ``folder`` once."""
    source = ANSWER.format(answer=int(intel))
    library = folder / f"mkl_{'intel' if intel else 'other'}_{hashlib.sha1(source.encode()).hexdigest()[:8]}.so"
    if library.is_file():
        return library
    if shutil.which(compiler) is None:
        raise VendorError(
            f"no C compiler ({compiler}) to build the library that gives MKL the study's CPU vendor; install one "
            "(apt-get install gcc) or compare within a tolerance (--tolerance, docs/findings.md)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / library.with_suffix(".c").name).write_text(source)
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(library), str(library.with_suffix(".c"))],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise VendorError(f"{compiler} could not build {library.name}: {built.stderr.strip()}")
    return library


def study_environment(study_vendor: str | None, here: dict, folder: Path) -> tuple[dict, str]:
    """The environment a rerun adds so that MKL takes the code path of the study's vendor, and a sentence that
    says which path it takes."""
    if not study_vendor:
        return {}, f"MKL on this CPU's own code path ({here['cpu_vendor'] or 'vendor unknown'}; the study names none)"
    if study_vendor == here["cpu_vendor"]:
        return {}, f"MKL on its {study_vendor} code path, as the study was made"
    intel = study_vendor == INTEL
    library = vendor_library(intel, folder)
    path = f"{'Intel' if intel else 'non-Intel'} code path"
    return {"LD_PRELOAD": str(library)}, f"MKL told the CPU is {study_vendor} ({path}, as the study was made)"
