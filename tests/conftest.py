"""Shared fixtures: the seed transcript, a deterministic fake encoder, real-model indexes, CLI runner."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "data" / "scio-2024-03-28-shanghai-five-centers-p7.txt"
SEED_QUESTION = (
    "As the leader in the integrated development of the Yangtze River Delta, how will Shanghai continue to "
    "play a pivotal role? What are the plans for integrating resources? Thank you."
)
PARAPHRASE = "How will Shanghai lead the integration of the Yangtze River Delta?"


class FakeEncoder:
    """Deterministic bag-of-words hashing encoder: fast, no model, counts what it encodes."""

    name = "fake-bow-64"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the shipped seed (with its sidecar) and the full-conference fixture."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in (SEED, SEED.with_name(SEED.name + ".meta.json"), DATA / "scio_full_conference.txt"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def real_encoder():
    from embeddings.encoder import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_encoder) -> Path:
    """An index built with the real model from the seed and the fixture transcripts (built once)."""
    from embeddings.ingest import ingest

    folder = tmp_path_factory.mktemp("real")
    sources = folder / "sources"
    sources.mkdir()
    for path in (SEED, SEED.with_name(SEED.name + ".meta.json"), DATA / "scio_full_conference.txt",
                 DATA / "no_blank_lines.txt"):
        shutil.copy(path, sources / path.name)
    report = ingest([sources], folder / "index", real_encoder)
    assert report.ok and report.passages > 0
    return folder / "index"


@pytest.fixture(scope="session")
def retriever(real_index: Path, real_encoder):
    from assistant.retrieval import Retriever
    from embeddings.index import Index

    return Retriever(Index.open(real_index), real_encoder)


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `pressroom` as a user would, in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, env=full_env,
        cwd=ROOT, input=stdin, timeout=timeout,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def tree_digest(folder: Path) -> str:
    """sha256 over every file of an index folder (names and bytes): equal means untouched."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
