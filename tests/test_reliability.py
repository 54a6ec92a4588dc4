"""Crash safety: SIGKILL during ingest, a full disk, a read-only folder, a damaged index and `pressroom doctor`."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddings.index import CURRENT, MANIFEST, STORE, VECTORS, Index

from .conftest import DATA, PARAPHRASE, ROOT, copy_sources, run_cli, tree_digest

pytestmark = pytest.mark.slow
KILLS = 20


def ask_top(root: Path) -> dict:
    result = run_cli("ask", PARAPHRASE, "--index", str(root), "--json", "-k", "1")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["answers"][0]


def conference_count(root: Path) -> int:
    index = Index.open(root)
    try:
        return index.store.count("conferences")
    finally:
        index.close()


def _seed_only(folder: Path) -> Path:
    return copy_sources(folder / "seed")


def _many_conferences(folder: Path, copies: int) -> Path:
    """Distinct conferences with mostly distinct paragraphs, so that encoding takes a while."""
    corpus = folder / "many"
    corpus.mkdir()
    text = (DATA / "scio_full_conference.txt").read_text("utf-8")
    for i in range(copies):
        variant = text.replace(" will ", f" will in phase {i} ").replace("Last year", f"In the year {1900 + i}")
        (corpus / f"conf{i:03d}.txt").write_text(variant, "utf-8")
    return corpus


def test_sigkill_at_random_moments_never_leaves_a_half_index(tmp_path: Path) -> None:
    """Each run starts from the same index and is killed at a random moment of an ingest: the index then
    loads and answers exactly as before the ingest or as after it, never in between."""
    before_root = tmp_path / "before"
    assert run_cli("ingest", str(_seed_only(tmp_path)), "--index", str(before_root)).returncode == 0
    before = ask_top(before_root)
    corpus = _many_conferences(tmp_path, 40)
    command = [sys.executable, "-m", "assistant.cli", "ingest", str(corpus), "--index"]

    after_root = tmp_path / "after"
    shutil.copytree(before_root, after_root)
    started = time.monotonic()
    assert subprocess.run([*command, str(after_root)], cwd=ROOT, capture_output=True).returncode == 0
    duration = time.monotonic() - started  # kill moments are spread over a whole ingest
    after = ask_top(after_root)
    assert conference_count(after_root) == 41

    rng = random.Random(20241128)
    outcomes: Counter[str] = Counter()
    for run in range(KILLS):
        root = tmp_path / f"run{run}"
        shutil.copytree(before_root, root)
        proc = subprocess.Popen([*command, str(root)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        count = conference_count(root)
        assert count in (1, 41), f"run {run}: {count} conferences"
        state = "before" if count == 1 else "after"
        outcomes[state] += 1
        if run % 5 == 0 or state == "after":  # asking costs a model load: check every fifth run and all "after"s
            assert ask_top(root) == (before if state == "before" else after)
        # and the next ingest finishes the job from whatever the kill left behind
        if run % 10 == 0:
            assert subprocess.run([*command, str(root)], cwd=ROOT, capture_output=True).returncode == 0
            assert conference_count(root) == 41 and not list(root.glob(".stage-*"))
        shutil.rmtree(root)
    print(f"\n{KILLS} kills over a {duration:.1f} s ingest: {dict(outcomes)}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_keeps_the_previous_index(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "400k") as disk:
        root = disk / "index"
        assert run_cli("ingest", str(_seed_only(tmp_path)), "--index", str(root)).returncode == 0
        digest, before = tree_digest(root), ask_top(root)
        result = run_cli("ingest", str(_many_conferences(tmp_path, 40)), "--index", str(root))
        assert result.returncode == 1
        assert "No space left on device" in result.stderr and "previous index is intact" in result.stderr
        assert "Traceback" not in result.stderr
        assert tree_digest(root) == digest and ask_top(root) == before


def test_read_only_folder_answers_and_refuses_writes_clearly(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "20m") as disk:
        root = disk / "index"
        assert run_cli("ingest", str(_seed_only(tmp_path)), "--index", str(root)).returncode == 0
        before = ask_top(root)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = run_cli("ingest", str(DATA / "scio_full_conference.txt"), "--index", str(root))
        assert result.returncode == 1 and "Read-only file system" in result.stderr
        assert "Traceback" not in result.stderr
        assert ask_top(root) == before  # reading a read-only index works


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """An index of two conferences that `pressroom doctor` finds healthy, and its top answer; built once, each
    damage is done to a copy."""
    folder = tmp_path_factory.mktemp("healthy")
    root = folder / "index"
    assert run_cli("ingest", str(_seed_only(folder)), str(DATA / "scio_full_conference.txt"),
                   "--index", str(root)).returncode == 0
    assert "is healthy" in run_cli("doctor", "--index", str(root)).stdout
    return root, ask_top(root)


@pytest.mark.parametrize("damage", ["vectors", "store", "manifest", "current"])
def test_damaged_index_is_named_and_doctor_rebuilds_it(healthy: tuple[Path, dict], tmp_path: Path,
                                                       damage: str) -> None:
    root = tmp_path / "index"
    shutil.copytree(healthy[0], root)
    before = healthy[1]
    gen = root / (root / CURRENT).read_text().strip()
    target = {"vectors": gen / VECTORS, "store": gen / STORE, "manifest": gen / MANIFEST, "current": root / CURRENT}
    target[damage].write_bytes(b"\x00garbage" * 10)

    broken = run_cli("ask", PARAPHRASE, "--index", str(root))
    assert broken.returncode == 1 and "pressroom doctor" in broken.stderr and "Traceback" not in broken.stderr
    fixed = run_cli("doctor", "--index", str(root))
    assert fixed.returncode == 0, fixed.stderr
    assert "Found:" in fixed.stdout and "Rebuilt from 2 sources" in fixed.stdout
    assert ask_top(root) == before
    assert conference_count(root) == 2
