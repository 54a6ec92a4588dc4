"""The on-disk index: generations of (FAISS vectors + SQLite store + manifest), swapped atomically.

Layout of an index folder::

    CURRENT            names the live generation ("gen-000007"); replaced atomically
    SOURCES            the sources of the live generation (JSON list), for `pressroom doctor`
    gen-000007/        manifest.json, store.sqlite, vectors.faiss, keywords/ — never modified once published
    .lock              held by the one writer at a time

A writer builds a new generation in a staging folder, fsyncs it, renames it into place and only then
replaces CURRENT. A crash at any point leaves CURRENT naming a complete generation.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from .encoder import Encoder
from .errors import IndexProblem
from .keywords import KeywordIndex
from .records import text_hash
from .store import Store

EXACT_AMONG = 50_000  # a filter admitting at most this many rows is searched exactly
FORMAT_VERSION = 3  # 2: a BM25 keyword index (keywords/) beside the vectors; 3: question keys (keys.asked)
MANIFEST, STORE, VECTORS, CURRENT, SOURCES = "manifest.json", "store.sqlite", "vectors.faiss", "CURRENT", "SOURCES"
KEYWORDS = "keywords"


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; checked on every load."""

    format: int
    model: str
    dim: int
    count: int  # vectors in the FAISS index == rows of the key table
    conferences: int
    created: str
    backend: str = "torch"  # what computed the vectors; indexes older than the field were all built by torch
    vectors: str = "flat"  # the FAISS index kind (see build_vectors); older indexes were all flat
    questions: int = 0  # of ``count``, the question keys (journalists' questions routing to their answers)

    @property
    def passages(self) -> int:
        """Paragraph keys: the passages users are told about."""
        return self.count - self.questions

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest at ``path``; one that is unreadable, malformed or of another format stops with what to run."""
        try:
            data = json.loads(path.read_text("utf-8"))
            optional = {"backend", "vectors", "questions"}
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data or k not in optional}
            manifest = cls(**fields)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexProblem(
                f"The index manifest {path} is missing or unreadable ({exc}); run `pressroom doctor` to rebuild "
                "the index from its sources."
            ) from exc
        if manifest.format != FORMAT_VERSION:
            raise IndexProblem(
                f"The index at {path.parent} has format {manifest.format}, this Press Room reads format "
                f"{FORMAT_VERSION}; run `pressroom ingest --rebuild` to rebuild it."
            )
        if not isinstance(manifest.count, int) or not isinstance(manifest.dim, int) or manifest.dim <= 0:
            raise IndexProblem(f"The index manifest {path} is malformed; run `pressroom doctor`.")
        return manifest


@dataclass(frozen=True)
class CommitStats:
    """What a commit did."""

    passages: int  # paragraph keys in the new index
    questions: int  # question keys in the new index (vectors = passages + questions)
    encoded: int  # texts that had to be encoded (the rest came from the cache)
    conferences: int


def _generation(root: Path) -> Path | None:
    try:
        name = (root / CURRENT).read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    if not name.startswith("gen-") or "/" in name:
        raise IndexProblem(f"{root / CURRENT} is corrupt; run `pressroom doctor` to rebuild the index.")
    return root / name


def exists(root: Path) -> bool:
    """Whether ``root`` holds a published index."""
    return (root / CURRENT).is_file()


class Index:
    """A read-only view of the live generation: manifest, metadata store, FAISS vectors and keyword index."""

    def __init__(self, directory: Path, manifest: Manifest, store: Store, vectors: faiss.Index,
                 keywords: KeywordIndex) -> None:
        self.directory = directory
        self.manifest = manifest
        self.store = store
        self.vectors = vectors
        self.keywords = keywords

    @classmethod
    def open(cls, root: Path, model: str | None = None) -> Index:
        """Open the index at ``root``; with ``model``, refuse an index built by another model."""
        directory = _generation(root)
        if directory is None:
            raise IndexProblem(f"No index at {root}; build one with `pressroom ingest PATH…`.")
        manifest = Manifest.read(directory / MANIFEST)
        if model is not None and manifest.model != model:
            raise IndexProblem(
                f"The index at {root} was built with the model {manifest.model!r} ({manifest.dim} dims), not "
                f"{model!r}; run `pressroom ingest --rebuild --model {model}` or choose --model "
                f"{manifest.model}."
            )
        try:
            # Mapped read-only: the vectors stay in the page cache, shared by every worker process that opens
            # this generation (a generation never changes once published); IVF's lists are mapped too.
            vectors = faiss.read_index(str(directory / VECTORS), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
            if isinstance(vectors, faiss.IndexIVF):
                vectors.nprobe = ivf_nprobe(vectors.ntotal)
        except RuntimeError as exc:
            raise IndexProblem(
                f"The vector file {directory / VECTORS} is corrupt or missing; run `pressroom doctor` to "
                "rebuild the index from its sources."
            ) from exc
        try:
            store = Store(directory / STORE)
            stored = store.count("keys")
        except sqlite3.DatabaseError as exc:
            raise IndexProblem(
                f"The store {directory / STORE} is corrupt or missing ({exc}); run `pressroom doctor`."
            ) from exc
        try:
            keywords = KeywordIndex.load(directory / KEYWORDS)
        except IndexProblem:
            store.close()
            raise
        if not (vectors.ntotal == manifest.count == stored == keywords.count) or vectors.d != manifest.dim:
            store.close()
            raise IndexProblem(
                f"The index at {directory} is inconsistent (manifest {manifest.count} vectors, FAISS "
                f"{vectors.ntotal}, store {stored}, keywords {keywords.count}); run `pressroom doctor`."
            )
        return cls(directory, manifest, store, vectors, keywords)

    def search(self, queries: np.ndarray, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` (scores, positions) per query vector; positions are -1 where fewer exist.

        ``among`` restricts the search to these positions (a filter), inside FAISS rather than after it,
        so a narrow filter still gets its ``n`` best.
        """
        total = self.manifest.count if among is None else len(among)
        n = max(1, min(n, total))
        if total == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if among is not None:
            return self._search_among(queries, n, among)
        if len(queries) > 1:
            return self.vectors.search(queries, n)
        # One question: threads only add overhead (exact search at 1e5: 14 ms on 1 thread, 99 ms on 2 busy
        # cores), and server workers run side by side. OpenMP's thread count is per calling thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.vectors.search(queries, n)
        finally:
            faiss.omp_set_num_threads(threads)

    def _search_among(self, queries: np.ndarray, n: int, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Search only the rows in ``among``: exactly when they are few, else inside FAISS with a selector.

        An IVF index with a selector finds only the allowed rows in the lists it scans, so a narrow filter
        scores its rows directly: exact and cheap (50,000 rows × 384 dims is ~10 ms).
        """
        among = np.ascontiguousarray(among, dtype=np.int64)
        if len(among) <= EXACT_AMONG:
            vectors = self.vectors.reconstruct_batch(among)
            scores = queries @ vectors.T
            top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
            return np.take_along_axis(scores, top, axis=1).astype(np.float32), among[top]
        selector = faiss.IDSelectorBatch(among)
        if isinstance(self.vectors, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self.vectors.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        return self.vectors.search(queries, n, params=params)

    def close(self) -> None:
        """Close the store (the mapped vectors go with the object)."""
        self.store.close()


# Exact search up to FLAT_MAX vectors, an inverted file (IVF) above. Measured on this 2-core machine (see `pressroom
# bench speed`): one-thread exact search costs ~0.1 µs a vector, so 2e4 vectors ≈ 2 ms, 1e5 ≈ 8–14 ms (over the 5 ms
# budget for a whole question). IVF replaced HNSW because its build is bounded: k-means on a sample, then one
# nearest-centroid search per vector (1e6 vectors: 54 s of CPU, 3.7 min wall on the busy machine), where HNSW32 had not
# finished building 1e6 after 12 minutes; at 1e5 (2026-11-29), HNSW32 at efSearch 128 took 0.30 ms of CPU a question
# for short questions' recall@10 0.989, after a 15 s build, where IVF's 2,048 lists scanned 48 at a time take 0.29 ms
# for 0.995. A question scans only the ivf_nprobe(count) lists nearest to it.
FLAT_MAX = 20_000
# Lists: 2·√n (rounded to a power of two) while 2,048 lists would hold fewer than 39 vectors each (faiss' minimum to
# train a centroid), 2,048 from 79,872 vectors. A list is scanned whole, so a question costs its nprobe lists' vectors
# (memory-bound: ~0.08 µs a vector) plus its distance to every centroid. Benchmark vectors (`pressroom bench speed`'s
# noisy copies; CPU ms a question on one thread; recall@10 of short questions and recall@40, the dense candidates
# fusion takes for k = 5, of long and short ones), 2026-11-29, at 1e5 keys: 512 lists at nprobe 32 (before) 0.45 ms,
# 0.989, 0.983; 2,048 lists at 16 / 24 / 32 / 48 0.13 / 0.17 / 0.20 / 0.29 ms, 0.989 / 0.991 / 0.992 / 0.995, 0.972 /
# 0.979 / 0.982 / 0.987; 1,024 lists at 32 0.28 ms, 0.984. 3e5 keys: 2,048 at 16 0.27 ms, 0.989 against 1,024 at 32
# 0.82 ms, 0.981. Below 79,872, denser lists lost recall: 3e4 keys, 512 lists 0.979 against 256 lists 0.986 (both at
# 32). The k-means build grows with the lists (CPU: 1e5 keys 18 s for 2,048 lists, 2.2 s for 512; 3e5 35 s against
# 11 s; 1e6 unchanged, 2,048 lists, 54 s).
IVF_MAX_LISTS = 2048
# Lists a question scans, by the index's size: recall@10 against exact search on the benchmark's 220 long questions
# and 236 short ones (2026-11-29, `pressroom bench speed`'s indexes) at nprobe 8 / 16 / 32 — 1e5 keys, 512 lists:
# long 0.9991 / 0.9995 / 1.0, short 0.938 / 0.970 / 0.987; 1e6 keys, 2,048 lists: long 1.0 / 1.0 / 1.0, short
# 0.970 / 0.995 / 0.9996. So 16 at 1e6 (FAISS CPU ms a question: 0.79 against 1.48), from 524,288 keys (where 2·√n
# lists reached 2,048), and 32 for fewer than 2,048 lists. Between, 2,048 lists are scanned 48 at a time: fusion takes
# the dense top k × 8, not 10, and at 1e5 the answer lists of 220 long and 236 short questions (k = 5 and 20) differed
# from those of exact search in 283 of 912 cases with 512 lists at 32, in 296 with 2,048 at 48, 269 at 64, 364 at 32
# and 466 at 16 (recall@40 0.983 for 512 lists at 32; 0.987, 0.982 and 0.972 for 2,048 at 48, 32 and 16). Set when
# an index is opened, so an index built with other values uses these.
IVF_NPROBE, IVF_NPROBE_DENSE, IVF_NPROBE_LARGE, IVF_LARGE = 32, 48, 16, 524_288
IVF_TRAIN_PER_LIST = 64  # k-means sample: 64 vectors a list is plenty for centroids, and 4x cheaper than faiss' 256
IVF_TRAIN_ITERATIONS = 10


def ivf_lists(count: int) -> int:
    """Inverted lists for ``count`` vectors (see IVF_MAX_LISTS): 256 at 3e4, 512 at 5e4, 2,048 from 79,872; never
    fewer than 39 vectors a list (only tiny test indexes reach that bound)."""
    if count >= 39 * IVF_MAX_LISTS:
        return IVF_MAX_LISTS
    return max(1, min(1 << round(np.log2(2 * np.sqrt(max(count, 1)))), count // 39))


def ivf_nprobe(count: int) -> int:
    """Lists a question scans in an IVF index of ``count`` vectors (see IVF_NPROBE)."""
    if count >= IVF_LARGE:
        return IVF_NPROBE_LARGE
    return IVF_NPROBE_DENSE if ivf_lists(count) == IVF_MAX_LISTS else IVF_NPROBE


def vectors_kind(count: int) -> str:
    """The FAISS index kind used for ``count`` vectors, as recorded in the manifest."""
    return "flat" if count <= FLAT_MAX else f"ivf{ivf_lists(count)},nprobe{ivf_nprobe(count)}"


def build_vectors(matrix: np.ndarray, dim: int) -> faiss.Index:
    """The FAISS index over the key vectors (row i = key i): exact inner product, or IVF for large indexes."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if vectors_kind(len(matrix)) == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        lists = ivf_lists(len(matrix))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True  # unit vectors: unit centroids, so inner product ranks lists like cosine
        index.cp.niter = IVF_TRAIN_ITERATIONS
        index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
        index.cp.seed = 1234  # the same vectors give the same index
        index.train(matrix)
        index.nprobe = ivf_nprobe(len(matrix))
    if len(matrix):
        index.add(matrix)
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()  # saved in the file: filters and fusion read vectors back by position
    return index


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """Turn a full disk, a read-only folder or a failing database into one sentence (the live index is intact)."""
    try:
        yield
    except sqlite3.Error as exc:
        reason = "No space left on device" if "full" in str(exc) else str(exc)
        raise IndexProblem(f"Writing the new index in {root} failed ({reason}); the previous index is intact.") from exc
    except OSError as exc:
        raise IndexProblem(
            f"Writing the new index in {root} failed ({exc.strerror or exc}); the previous index is intact."
        ) from exc


def _replace_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, "utf-8")
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_sources(root: Path) -> list[str]:
    """The sources of the live index, as recorded beside CURRENT (empty when unknown)."""
    try:
        sources = json.loads((root / SOURCES).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _seal(stage: Path, manifest: Manifest) -> None:
    """Write the manifest and flush the staged generation to disk: once CURRENT names it, a crash cannot leave it
    half written."""
    (stage / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n", "utf-8")
    for name in (STORE, VECTORS, MANIFEST):
        _fsync_file(stage / name)
    _fsync_dir(stage / KEYWORDS)
    _fsync_dir(stage)


ENCODE_CHUNK = 256  # texts per encoder call when a progress bar is shown


def encode_with_progress(encoder: Encoder, texts: list[str], progress: bool) -> np.ndarray:
    """Encode ``texts``; with ``progress``, in chunks under one tqdm bar that counts them (on stderr): the new
    passages and journalists' questions, as the summary's "texts newly encoded" does."""
    if not progress:
        return encoder.encode(texts)
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(texts), desc="Encoding", unit=" texts", file=sys.stderr, dynamic_ncols=True) as bar:
        for i in range(0, len(texts), ENCODE_CHUNK):
            chunk = texts[i : i + ENCODE_CHUNK]
            parts.append(encoder.encode(chunk))
            bar.update(len(chunk))
    return np.concatenate(parts)


def _save_keywords(texts: list[str], folder: Path) -> None:
    """Build the BM25 index of the keys' texts (row i = key i, as in the vectors) and save it into ``folder``."""
    KeywordIndex.build(texts).save(folder)


def _foreign_entry(root: Path) -> str | None:
    """The first entry of ``root`` that no index writer makes, when ``root`` holds no index yet."""
    if exists(root) or not root.is_dir():
        return None
    for entry in sorted(root.iterdir()):
        if not entry.name.startswith((".", "gen-")) and entry.name not in (CURRENT, SOURCES):
            return entry.name
    return None


class IndexWriter:
    """The one writer of an index folder: stage a copy, change it, commit it as the new generation.

    Use as a context manager; leaving without :meth:`commit` (or with an exception) discards the stage and
    leaves the live index untouched.
    """

    def __init__(self, root: Path, encoder: Encoder, *, rebuild: bool = False, question_keys: bool = True) -> None:
        self.root = root
        self.encoder = encoder
        self.rebuild = rebuild
        self.question_keys = question_keys  # False: answers alone, as the benchmark's answers-only protocol needs
        # Recorded in the manifest; encoders that do not say (test and benchmark wrappers) record "".
        self.backend: str = getattr(encoder, "backend", "")
        self._lock: int | None = None
        self.stage: Path | None = None
        self.store: Store

    def __enter__(self) -> IndexWriter:
        foreign = _foreign_entry(self.root)
        if foreign:  # e.g. --index data/: the transcripts' folder would become an index, and ingest skips those
            raise IndexProblem(f"{self.root} holds other files ({foreign}) and no index; give --index a new or "
                               f"empty folder, e.g. {self.root / 'index'}.")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexProblem(f"Cannot write to the index folder {self.root} ({exc.strerror}); make it writable or "
                               "choose another with --index.") from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock)
            self._lock = None
            raise IndexProblem(f"Another `pressroom ingest` is writing {self.root}; wait for it to finish.") from exc
        try:
            with writing(self.root):
                self._stage()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _stage(self) -> None:
        """Copy the live store into a fresh staging folder (or start empty on --rebuild)."""
        self._clean_stale()
        self.stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=self.root))
        current = None if self.rebuild else _generation(self.root)
        if current is not None:
            manifest = Manifest.read(current / MANIFEST)
            if manifest.model != self.encoder.name:
                raise IndexProblem(
                    f"The index at {self.root} was built with {manifest.model!r}; adding text encoded by "
                    f"{self.encoder.name!r} would mix models. Run `pressroom ingest --rebuild` instead."
                )
            if manifest.backend != self.backend:
                # Same vector space, so searching across backends is fine; one index is still built by one.
                torch = " or add `--model all-MiniLM-L6-v2-torch`" if manifest.backend == "torch" else ""
                raise IndexProblem(
                    f"The index at {self.root} was encoded by {manifest.backend!r}, this encoder is {self.backend!r}; "
                    f"adding to it would mix the two. Run `pressroom ingest --rebuild`{torch}."
                )
            src = sqlite3.connect(f"file:{current / STORE}?mode=ro", uri=True)
            dst = sqlite3.connect(self.stage / STORE)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
        self.store = Store(self.stage / STORE, writable=True)

    def _clean_stale(self) -> None:
        """Remove stages and old generations left by a writer that was killed."""
        try:
            live = _generation(self.root)
            keep_generations = False
        except IndexProblem:
            live, keep_generations = None, True  # CURRENT is damaged: keep them until a rebuild is published
        for entry in self.root.iterdir():
            stale_generation = entry.name.startswith("gen-") and entry != live and not keep_generations
            if entry.name.startswith(".stage-") or stale_generation:
                shutil.rmtree(entry, ignore_errors=True)

    def commit(self, progress: bool = False) -> CommitStats:
        """Encode what is new, build the vectors and publish the staged store as the live generation."""
        with writing(self.root):
            return self._commit(progress)

    def _commit(self, progress: bool) -> CommitStats:
        assert self.stage is not None
        store, stage = self.store, self.stage
        keys = store.key_texts(questions=self.question_keys)
        hashes = [text_hash(key.text) for key in keys]
        cached = store.cached_hashes(hashes)
        todo: dict[str, str] = {}
        for h, key in zip(hashes, keys, strict=True):
            if h not in cached:
                todo.setdefault(h, key.text)
        # The keyword index does not need the vectors: it is built and saved on a thread of its own while the
        # encoder runs (onnxruntime releases the GIL), not after it with one core idle.
        with ThreadPoolExecutor(1, thread_name_prefix="keywords") as pool:
            keywords = pool.submit(_save_keywords, [key.text for key in keys], stage / KEYWORDS)
            if todo:
                store.put_vectors(list(todo), encode_with_progress(self.encoder, list(todo.values()), progress))
            keywords.result()
        with store.transaction():
            store.set_keys([(key.turn_id, key.paragraph, h, key.asked) for h, key in zip(hashes, keys, strict=True)])
            store.prune_vectors()
        index = build_vectors(store.key_vectors(self.encoder.dim), self.encoder.dim)
        faiss.write_index(index, str(stage / VECTORS))
        questions = sum(key.is_question for key in keys)
        conferences = store.count("conferences")
        sources = store.sources()
        store.close()
        manifest = Manifest(
            format=FORMAT_VERSION, model=self.encoder.name, dim=self.encoder.dim, count=index.ntotal,
            conferences=conferences, created=datetime.now(UTC).isoformat(timespec="seconds"),
            backend=self.backend, vectors=vectors_kind(index.ntotal), questions=questions,
        )
        _seal(stage, manifest)
        self._publish(stage, sources)
        self.stage = None
        return CommitStats(passages=index.ntotal - questions, questions=questions, encoded=len(todo),
                           conferences=conferences)

    def _publish(self, stage: Path, sources: list[str]) -> None:
        """Rename the sealed stage to the next generation, point CURRENT at it, then drop the previous one."""
        try:
            previous = _generation(self.root)
        except IndexProblem:
            previous = None
        # The list of sources lives beside CURRENT too, so `pressroom doctor` can rebuild a damaged generation.
        _replace_atomically(self.root / SOURCES, json.dumps(sources, indent=1) + "\n")
        numbers = [int(p.name[4:]) for p in self.root.glob("gen-*") if p.name[4:].isdigit()]
        number = max(numbers, default=0) + 1
        target = self.root / f"gen-{number:06d}"
        os.rename(stage, target)
        _replace_atomically(self.root / CURRENT, target.name + "\n")  # the commit point
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.store.close()
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None


__all__ = ["CommitStats", "Index", "IndexWriter", "Manifest", "exists"]
