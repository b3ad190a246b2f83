"""The CPU vendor MKL sees: this machine's from /proc/cpuinfo, a committed study's from its machine.yaml, and the
preloaded library that gives MKL the study's vendor (MKL's verbose banner names the code path it took)."""

import os
import shutil
import subprocess
import sys

import pytest

from emoverify import mkl_vendor

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
"""
# one small matrix product through torch's MKL, with MKL's verbose banner (which names its code path) printed
BANNER = (
    "import torch; torch.set_num_threads(1); a = torch.ones(64, 64); a @ a",
    {"MKL_VERBOSE": "1"},
)


def test_this_machine_reads_the_vendor_and_model_from_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert mkl_vendor.this_machine(tmp_path / "cpuinfo") == {
        "cpu_vendor": "GenuineIntel",
        "cpu_model": "Intel(R) Xeon(R) Processor",
    }
    assert mkl_vendor.this_machine(tmp_path / "absent") == {"cpu_vendor": "", "cpu_model": ""}


def test_a_record_is_written_read_back_and_refused_without_a_vendor(tmp_path):
    assert mkl_vendor.read_record(tmp_path) is None
    mkl_vendor.write_record(tmp_path, {"cpu_vendor": "AuthenticAMD", "cpu_model": "AMD EPYC", "source": "here"})
    assert mkl_vendor.read_record(tmp_path)["cpu_vendor"] == "AuthenticAMD"
    (tmp_path / "machine.yaml").write_text("cpu_model: AMD EPYC\n")
    with pytest.raises(mkl_vendor.VendorError, match="machine.yaml: no cpu_vendor"):
        mkl_vendor.read_record(tmp_path)


def test_the_environment_preloads_a_library_only_where_the_vendors_differ(tmp_path):
    amd = {"cpu_vendor": "AuthenticAMD", "cpu_model": "AMD EPYC"}
    assert mkl_vendor.study_environment("AuthenticAMD", amd, tmp_path)[0] == {}
    assert mkl_vendor.study_environment(None, amd, tmp_path) == (
        {},
        "MKL on this CPU's own code path (AuthenticAMD; the study names none)",
    )
    if shutil.which("cc") is None:
        with pytest.raises(mkl_vendor.VendorError, match="no C compiler"):
            mkl_vendor.study_environment("GenuineIntel", amd, tmp_path)
        return
    environment, said = mkl_vendor.study_environment("GenuineIntel", amd, tmp_path)
    assert said == "MKL told the CPU is GenuineIntel (Intel code path, as the study was made)"
    library = environment["LD_PRELOAD"]
    assert os.path.isfile(library) and mkl_vendor.vendor_library(True, tmp_path) == tmp_path / os.path.basename(library)
    symbols = subprocess.run(["nm", "-D", library], capture_output=True, text=True).stdout
    assert "mkl_serv_intel_cpu_true" in symbols and "mkl_serv_intel_cpu\n" in symbols


def test_a_missing_compiler_is_named_with_what_to_do(tmp_path):
    with pytest.raises(mkl_vendor.VendorError, match="no C compiler .*apt-get install gcc.*--tolerance"):
        mkl_vendor.vendor_library(True, tmp_path, compiler="no-such-cc")


def mkl_banner(environment: dict) -> str:
    code, extra = BANNER
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **extra, **environment}, capture_output=True, text=True
    )
    return next(line for line in result.stdout.splitlines() if "oneMKL" in line or "Intel(R) MKL" in line)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build the library")
def test_the_library_moves_mkl_to_the_other_vendors_code_path(tmp_path):
    """MKL names its code path in its verbose banner: answering as the other vendor changes it, answering as
    this machine's vendor does not."""
    here = mkl_vendor.this_machine()["cpu_vendor"]
    if not here:
        pytest.skip("no vendor_id in /proc/cpuinfo")
    intel_here = here == mkl_vendor.INTEL
    native = mkl_banner({})
    if "oneMKL" not in native and "Intel(R) MKL" not in native:
        pytest.skip("torch's BLAS is not MKL here")
    other = mkl_banner({"LD_PRELOAD": str(mkl_vendor.vendor_library(not intel_here, tmp_path))})
    same = mkl_banner({"LD_PRELOAD": str(mkl_vendor.vendor_library(intel_here, tmp_path))})
    path = native.split(" for Intel(R) 64 architecture ")[-1]
    assert other.split(" for Intel(R) 64 architecture ")[-1] != path
    assert same.split(" for Intel(R) 64 architecture ")[-1] == path
