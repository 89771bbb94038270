"""numba's cache keys a kernel on its own file only; twin.models.kernel_cache drops a kernel
module's cache when any kernel source changed (a stale chunk kernel ran superseded code)."""

from __future__ import annotations

from pathlib import Path

from twin.models import kernel_cache


def test_a_cache_written_before_the_sources_changed_is_dropped_once(tmp_path: Path) -> None:
    module = tmp_path / "some_kernel.py"
    module.write_text("")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    stale = [cache / "some_kernel.run-12.py311.nbi", cache / "some_kernel.run-12.py311.1.nbc"]
    other = cache / "other_kernel.run-3.py311.nbi"  # another module's cache is not touched
    old_stamp = cache / "some_kernel.kernels-0000000000000000"
    for f in (*stale, other, old_stamp):
        f.write_bytes(b"x")
    kernel_cache.drop_stale(str(module))
    assert not any(f.exists() for f in stale)
    assert not old_stamp.exists()
    assert other.exists()
    stamps = sorted(p.name for p in cache.glob("some_kernel.kernels-*"))
    assert stamps == [f"some_kernel.kernels-{kernel_cache._digest()}"]
    fresh = cache / "some_kernel.run-12.py311.nbi"  # what numba writes after compiling afresh
    fresh.write_bytes(b"y")
    kernel_cache.drop_stale(str(module))  # the sources did not change since: kept
    assert fresh.read_bytes() == b"y"


def test_the_digest_covers_every_kernel_source() -> None:
    twin = Path(kernel_cache.__file__).resolve().parents[1]
    kernels = {p.relative_to(twin).as_posix() for p in twin.rglob("*kernel*.py")} - {"models/kernel_cache.py"}
    assert kernels <= set(kernel_cache.KERNEL_SOURCES)
    assert all((twin / rel).is_file() for rel in kernel_cache.KERNEL_SOURCES)
