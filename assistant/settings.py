"""One settings object: defaults here, each overridable by a PRESSROOM_* variable and a same-named flag."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from embeddings.encoder import DEFAULT_MODEL
from embeddings.errors import PressroomError
from embeddings.onnx_encoder import default_cache_dir, threads

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_DIR / "data"
CACHE_DIR = default_cache_dir()
ENV_PREFIX = "PRESSROOM_"
MAX_K = 50
MAX_WORKERS = 32
# Settings read as a folder, and as a whole number: the rest are text, and origins a list.
_FOLDERS = ("index", "data", "cache")
_WHOLE_NUMBERS = ("k", "port", "concurrency", "queue", "workers", "threads")
# A browser's Origin header leaves out its scheme's default port, so an allow-list must too.
_DEFAULT_PORTS = {"http://": ":80", "https://": ":443"}


@dataclass(frozen=True)
class Settings:
    """Every setting of Press Room. ``PRESSROOM_<NAME>`` and ``--<name>`` override the defaults."""

    index: Path = DATA_DIR / "index"  # index folder (git-ignored)
    data: Path = DATA_DIR  # transcripts indexed when no index exists yet
    model: str = DEFAULT_MODEL
    # where the int8 ONNX export of the model is kept (the encoder reads PRESSROOM_CACHE itself)
    cache: Path = CACHE_DIR
    k: int = 5  # answers per question
    host: str = "127.0.0.1"
    port: int = 7860
    origins: tuple[str, ...] = ()  # origins allowed to embed the chat or call the API
    concurrency: int = 4  # questions answered at once by the chat (Gradio's own default is 1)
    queue: int = 64  # questions waiting or running, per entry point; beyond it: 503, never a hang
    workers: int = 1  # answering processes, each with its own encoder, sharing one mapped copy of the index
    # threads of the int8 ONNX encoder for one question (the encoder reads PRESSROOM_THREADS itself); None: the
    # cores this process may use, divided among the answering processes (see worker_threads)
    threads: int | None = None

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Defaults, then ``PRESSROOM_*`` variables, then flags (``None`` means: flag not given)."""
        env = os.environ if env is None else env
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX):].lower()
            if name not in names:
                known = ", ".join(ENV_PREFIX + n.upper() for n in sorted(names))
                raise PressroomError(f"Unknown setting {key}; known settings: {known}.")
            values[name] = _convert(name, raw, key)
        for name, value in flags.items():
            if name not in names:
                raise PressroomError(f"Unknown setting {name!r}.")
            if value is not None and value != ():
                values[name] = _convert(name, value, f"--{name}")
        return replace(cls(), **values).validated()

    def validated(self) -> Settings:
        check_k(self.k)
        if self.index.is_file():  # `--index data/x.txt`: every command would fail on reading <file>/CURRENT
            raise PressroomError(f"The index {self.index} is a file; give --index (or PRESSROOM_INDEX) a folder: an "
                                 "index, or a new or empty folder.")
        if not 1 <= self.port <= 65535:
            raise PressroomError(f"port must be between 1 and 65535 (got {self.port}).")
        if not 1 <= self.concurrency <= 64:
            raise PressroomError(f"concurrency must be between 1 and 64 (got {self.concurrency}).")
        if not 1 <= self.queue <= 10_000:
            raise PressroomError(f"queue must be between 1 and 10000 (got {self.queue}).")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise PressroomError(
                f"workers must be between 1 and {MAX_WORKERS} (got {self.workers}); more than one per CPU core "
                f"does not help (this machine has {os.cpu_count()})."
            )
        if self.threads is not None and not 1 <= self.threads <= 64:
            raise PressroomError(f"threads must be between 1 and 64 (got {self.threads}).")
        for origin in self.origins:
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise PressroomError(
                    f"origins must be like https://news.example.org (scheme and host, no path); got {origin!r}."
                )
        return self


def worker_threads(settings: Settings) -> int:
    """Threads each answering process gives one question: the setting, else the cores divided among workers."""
    return settings.threads or max(1, threads() // settings.workers)


def check_k(k: object) -> int:
    """``k`` as an int in 1..MAX_K, or a sentence saying what is wrong."""
    if isinstance(k, bool) or not isinstance(k, int):
        try:
            k = int(str(k).strip())
        except ValueError:
            raise PressroomError(f"k must be a whole number between 1 and {MAX_K} (got {k!r}).") from None
    if not 1 <= k <= MAX_K:
        raise PressroomError(f"k must be between 1 and {MAX_K} (got {k}).")
    return k


def _convert(name: str, value: Any, where: str) -> Any:
    if name in _FOLDERS:
        # An empty value (`export PRESSROOM_INDEX=$UNSET`) would be Path("") = the current folder: an index, or
        # the ONNX export, would be written wherever the command happens to run.
        if not str(value).strip():
            raise PressroomError(f"{where} is empty; give a folder (the default is {getattr(Settings(), name)}).")
        return Path(value).expanduser()
    if name in _WHOLE_NUMBERS:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise PressroomError(f"{where} must be a whole number (got {value!r}).") from None
    if name == "origins":
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(_origin(o) for o in items if o.strip())
    return str(value)


def _origin(text: str) -> str:
    """``text`` as a browser writes the page's origin in its Origin header, which CORS and frame-ancestors
    compare exactly: lower case, no trailing slash, no default port (https://News.example.org:443 never matched)."""
    origin = text.strip().rstrip("/").lower()
    for scheme, port in _DEFAULT_PORTS.items():
        if origin.startswith(scheme) and origin.endswith(port):
            origin = origin.removesuffix(port)
    return origin
