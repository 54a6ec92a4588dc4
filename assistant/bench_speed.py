"""`pressroom bench speed`: ingest rate, question latency, recall of the approximate index, size, memory, cold start.

The corpus is real: the answers of the Foreign Ministry Q&A benchmark (read at run time from ../shared/bench, never
copied into the project) and the shipped transcripts, ingested end to end. Sizes above the real corpus are filled
with noisy copies of those real embeddings (each a real paragraph's vector plus part of another's plus Gaussian
noise, renormalised), so the cluster structure of text stays; uniform random vectors would make recall meaningless.
Each copy points at the answer it was copied from, so a question goes through the whole path: encode, search, fetch
text and metadata from SQLite, format. Queries are the benchmark's real questions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from embeddings.encoder import DEFAULT_MODEL, TORCH_MODEL, Encoder, load_encoder
from embeddings.errors import PressroomError
from embeddings.index import CURRENT, KEYWORDS, MANIFEST, STORE, VECTORS, Index, build_vectors, vectors_kind
from embeddings.ingest import ingest
from embeddings.keywords import KeywordIndex
from embeddings.onnx_encoder import OnnxEncoder
from embeddings.store import Store

from .bench_quality import MemoEncoder
from .retrieval import CANDIDATES_PER_ANSWER, Retriever
from .settings import PROJECT_DIR

BENCH_DIR = PROJECT_DIR.parent / "shared" / "bench"
QA_FILES = ("mfa_qa.jsonl", "mfa_qa_older.jsonl")
# Chat-style questions (4-15 words, as users type them): the benchmark's journalists' questions are long (49 tokens
# at the median), and the encoder's cost grows with length, so latency is also measured on these.
SHORT_QUESTIONS = PROJECT_DIR / "tests" / "data" / "rewordings.tsv"
TORCH_SAMPLE = 300  # passages ingested with the torch baseline (it is the slow one)
QUESTIONS, WARMUP, EXACT_QUERIES = 200, 20, 50
TARGETS = {"p50_ms_1e5": 5, "p99_ms_1e5": 15, "p50_ms_1e6": 10, "recall_at_10": 0.98, "ingest_per_s": 120,
           "ingest_vs_torch": 2.0, "cold_start_s_1e5": 5}


@dataclass
class SizeResult:
    """One row of the table."""

    size: int
    vectors: str  # FAISS index kind
    synthetic: bool  # vectors beyond the real corpus are noisy copies of real embeddings
    ingest_per_s: float | None  # measured end to end (real corpus only)
    ingest_per_s_est: float  # encoder rate measured + index build time measured, for this size
    build_s: float
    p50_ms: float  # question -> formatted answers, warm, in-process
    p99_ms: float
    cpu_p50_ms: float  # CPU time of the same, which waiting for a busy core does not inflate
    short_p50_ms: float | None  # the same for short chat-style questions (SHORT_QUESTIONS), when the file is there
    short_p99_ms: float | None
    # Everything past the encoder (search + BM25 + keys + fetch + format), the questions' vectors computed beforehand
    after_encoder_p50_ms: float
    after_encoder_p99_ms: float
    after_encoder_cpu_p50_ms: float
    search_p50_ms: float  # the FAISS search alone
    keywords_p50_ms: float  # the keyword candidates (pruned BM25 top n), alone
    exact_p50_ms: float  # baseline: exact flat search alone, one thread
    recall_at_10: float  # of the index's top 10 against exact search, real questions
    index_mb: float
    rss_mb: float  # peak RSS of a fresh `pressroom ask` process on this index
    cold_start_s: float  # process start -> first answer printed


def _rows() -> list[dict]:
    paths = [BENCH_DIR / name for name in QA_FILES]
    if not paths[0].is_file():
        raise PressroomError(f"The benchmark data is missing: expected {paths[0]} (the shared Q&A benchmark).")
    return [json.loads(line) for p in paths if p.is_file() for line in p.read_text("utf-8").splitlines() if line]


def _short_questions() -> list[str]:
    if not SHORT_QUESTIONS.is_file():
        return []
    lines = SHORT_QUESTIONS.read_text("utf-8").splitlines()
    return [line.split("\t", 1)[1] for line in lines if "\t" in line and not line.startswith("#")]


def _ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(seconds, q) * 1000)


def _timed_ingest(folder: Path, root: Path, encoder: Encoder) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all threads of this process) and passages of one end-to-end ingest."""
    start, cpu = time.perf_counter(), time.process_time()
    report = ingest([folder], root, encoder)
    return time.perf_counter() - start, time.process_time() - cpu, report.passages


def _corpus(work: Path, rows: list[dict], limit: int | None = None) -> Path:
    """A folder of sources: the Q&A rows as one JSONL file, plus the shipped transcripts."""
    folder = work / f"corpus-{limit or 'all'}"
    folder.mkdir()
    with open(folder / "qa.jsonl", "w", encoding="utf-8") as out:
        for row in rows[:limit]:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if limit is None:
        for path in (PROJECT_DIR / "data").glob("*.txt"):
            shutil.copy(path, folder)
            sidecar = path.with_name(path.name + ".meta.json")
            if sidecar.exists():
                shutil.copy(sidecar, folder)
    return folder


def noisy_copies(base: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors near real ones, base[i] + u·base[j] + noise (cosine to base[i] ≈ 0.85), and each i."""
    rng = np.random.default_rng(seed)
    origin = rng.integers(0, len(base), n)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # in chunks: bounded memory at 1e6
        i = origin[start : start + 100_000]
        v = base[i] + rng.uniform(0, 0.5, (len(i), 1)).astype(np.float32) * base[rng.integers(0, len(base), len(i))]
        v += 0.5 * rng.standard_normal(v.shape, dtype=np.float32) / np.sqrt(base.shape[1])
        out[start : start + len(i)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, origin


def _sized_index(base_root: Path, root: Path, size: int, base: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """An index of ``size`` keys: the real ones first, then noisy copies pointing at their originals' answers."""
    source = base_root / (base_root / CURRENT).read_text("utf-8").strip()
    gen = root / "gen-000001"
    gen.mkdir(parents=True)
    db = sqlite3.connect(gen / STORE)
    with db:
        sqlite3.connect(source / STORE).backup(db)
    keys = db.execute("SELECT turn_id, paragraph, hash, asked FROM keys ORDER BY pos").fetchall()
    store = Store(source / STORE)
    texts = [key.text for key in store.key_list()]
    store.close()
    if size <= len(base):
        matrix, origin = base[:size], np.arange(size)
    else:
        copies, copied = noisy_copies(base, size - len(base), seed)
        matrix, origin = np.vstack([base, copies]), np.concatenate([np.arange(len(base)), copied])
    db.execute("DELETE FROM keys")
    db.execute("DELETE FROM vectors")  # the copies have no text to cache a vector for
    db.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", ((p, *keys[o]) for p, o in enumerate(origin.tolist())))
    db.commit()
    db.execute("VACUUM")
    db.close()
    start = time.perf_counter()
    index = build_vectors(matrix, matrix.shape[1])
    build_s = time.perf_counter() - start
    faiss.write_index(index, str(gen / VECTORS))
    _repeated_keywords(texts, origin).save(gen / KEYWORDS)  # a copy has its original's words
    manifest = json.loads((source / MANIFEST).read_text("utf-8"))
    manifest.update(count=size, vectors=vectors_kind(size),
                    questions=sum(keys[o][3] is not None for o in origin.tolist()))
    (gen / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    (root / CURRENT).write_text(gen.name + "\n", "utf-8")
    return matrix, build_s


def _repeated_keywords(texts: list[str], origin: np.ndarray) -> KeywordIndex:
    """The keyword index of ``texts[origin[i]]`` for every i: the same as KeywordIndex.build on those texts, but
    each distinct text is tokenised once (tokenising 1e6 copies took minutes; the index itself is what is measured)."""
    import bm25s

    from embeddings.keywords import K1, STOPWORDS, B, _stemmer

    tokens = bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False)
    bm25 = bm25s.BM25(k1=K1, b=B)
    bm25.index(bm25s.tokenization.Tokenized(ids=[tokens.ids[o] for o in origin.tolist()], vocab=tokens.vocab),
               show_progress=False)
    return KeywordIndex(bm25, len(origin))


# A fresh `pressroom ask` that reports its own peak RSS. VmHWM, not getrusage: after fork+exec, ru_maxrss still
# carries the parent's high-water mark (the benchmark process, with torch loaded).
_ASK_AND_REPORT_RSS = """
import re, sys
from assistant.cli import main
try:
    main()
finally:
    status = open("/proc/self/status").read()
    print("VmHWM_kB", re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
"""


def _cold_start(root: Path, question: str) -> tuple[float, float]:
    """Seconds from process start to the first answer printed, and the process's peak RSS in MB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_") or k == "PRESSROOM_CACHE"}
    args = ["pressroom", "ask", question, "--index", str(root), "--json", "-k", "5"]
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = {args!r}\n" + _ASK_AND_REPORT_RSS],
                           capture_output=True, text=True, cwd=PROJECT_DIR, env=env)
    seconds = time.perf_counter() - start
    peak = re.search(r"VmHWM_kB (\d+)", child.stderr)
    if child.returncode != 0 or not peak or not json.loads(child.stdout)["answers"]:
        raise PressroomError(f"The cold-start run failed: {child.stderr.strip()[-300:]}")
    return seconds, int(peak.group(1)) / 1024


def _latency(retriever: Retriever, questions: list[str]) -> tuple[float, float, float]:
    """p50 and p99 wall milliseconds, and p50 CPU milliseconds, question -> formatted answers."""
    times, cpu = [], []
    for n, question in enumerate(questions[: WARMUP + QUESTIONS]):
        start, cpu_start = time.perf_counter(), time.process_time()
        json.dumps([hit.to_json() for hit in retriever.search(question, 5)], ensure_ascii=False)
        if n >= WARMUP:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
    return _ms(times, 50), _ms(times, 99), _ms(cpu, 50)


def _search_p50(index: faiss.Index, queries: np.ndarray) -> float:
    times = []
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for q in queries:
            start = time.perf_counter()
            index.search(q[None], 40)
            times.append(time.perf_counter() - start)
    finally:
        faiss.omp_set_num_threads(threads)
    return _ms(times[len(times) // 10 :], 50)


def _keywords_p50(index: Index, questions: list[str]) -> float:
    times = []
    for question in questions:
        start = time.perf_counter()
        index.keywords.query(question).top(5 * CANDIDATES_PER_ANSWER)
        times.append(time.perf_counter() - start)
    return _ms(times[len(times) // 10 :], 50)


def run(sizes: list[int], log: Callable[[str], None] = lambda _: None) -> dict:
    """Measure every size; returns {"sizes": {size: SizeResult fields}, "baseline": {...}, "notes": [...]}."""
    load_before = f"{os.getloadavg()[0]:.1f}"
    rows = _rows()
    questions = list(dict.fromkeys(r["question"] for r in rows if r.get("question")))
    short = _short_questions()
    onnx, torch = load_encoder(DEFAULT_MODEL), load_encoder(TORCH_MODEL)
    with tempfile.TemporaryDirectory(prefix="pressroom-bench-") as tmp:
        work = Path(tmp)
        log(f"Ingesting {TORCH_SAMPLE} Q&A pairs with torch and with {onnx.backend} (end to end)…")
        sample = _corpus(work, rows, TORCH_SAMPLE)
        torch_s, torch_cpu, torch_n = _timed_ingest(sample, work / "torch-index", torch)
        onnx_s, onnx_cpu, onnx_n = _timed_ingest(sample, work / "onnx-sample-index", onnx)
        log("Ingesting the whole real corpus with the product encoder…")
        real_s, real_cpu, real_n = _timed_ingest(_corpus(work, rows), work / "real", onnx)
        base_index = Index.open(work / "real")
        base = base_index.store.key_vectors(onnx.dim)
        real_texts = list(dict.fromkeys(key.text for key in base_index.store.key_list()))  # what it encoded
        base_index.close()
        # The same texts encoded alone (sessions already made): what is left of the ingest is everything else.
        start, cpu = time.perf_counter(), time.process_time()
        onnx.encode(real_texts)
        encode_s, encode_cpu = time.perf_counter() - start, time.process_time() - cpu
        query_vectors = onnx.encode(questions[: WARMUP + QUESTIONS])
        encode_rate = real_n / real_s
        baseline = {
            "torch_ingest_per_s": round(torch_n / torch_s, 1), "onnx_ingest_per_s": round(onnx_n / onnx_s, 1),
            "ingest_speedup": round(torch_s / torch_n / (onnx_s / onnx_n), 2),
            # passages per CPU-second: what each encoder costs, whatever else shares the machine
            "torch_ingest_per_cpu_s": round(torch_n / torch_cpu, 1),
            "onnx_ingest_per_cpu_s": round(onnx_n / onnx_cpu, 1),
            "cpu_speedup": round(torch_cpu / torch_n / (onnx_cpu / onnx_n), 2),
            # onnx_1_thread: the product encoder on one thread a question, what a worker of `serve --workers
            # <cores>` gets. Torch runs in a block of its own: its idle OpenMP threads spin for a while after each
            # call, and an ONNX question right after a torch one took 5 ms longer (busy machine, 2 threads).
            **_encode_ms({"onnx": onnx, "onnx_1_thread": _one_thread(onnx)}, questions),
            **_encode_ms({"torch": torch}, questions),
            "onnx_question_threads": getattr(onnx, "question_threads", 1),
            "real_passages": real_n, "real_ingest_per_s": round(encode_rate, 1),
            "real_ingest_per_cpu_s": round(real_n / real_cpu, 1),
            "real_ingest_s": round(real_s, 2), "real_ingest_cpu_s": round(real_cpu, 2), "real_texts": len(real_texts),
            "real_encode_s": round(encode_s, 2), "real_encode_cpu_s": round(encode_cpu, 2),
        }
        results: dict[str, dict] = {}
        for size in sizes:
            log(f"Size {size:,}: building the index…")
            root = work / f"size-{size}"
            matrix, build_s = _sized_index(work / "real", root, size, base)
            exact = faiss.IndexFlatIP(matrix.shape[1])
            exact.add(matrix)
            _, truth = exact.search(query_vectors, 10)
            index = Index.open(root, model=onnx.name)
            _, found = index.search(query_vectors, 10)
            recall = float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]))
            retriever = Retriever(index, onnx)
            p50, p99, cpu_p50 = _latency(retriever, questions)
            short_p50, short_p99, _ = _latency(retriever, short) if short else (None, None, None)
            remembered = Retriever(index, MemoEncoder(onnx))
            _latency(remembered, questions)  # encodes each question once
            after_p50, after_p99, after_cpu_p50 = _latency(remembered, questions)
            search_p50 = _search_p50(index.vectors, query_vectors[:QUESTIONS])
            keywords_p50 = _keywords_p50(index, questions[:QUESTIONS])
            exact_p50 = _search_p50(exact, query_vectors[:EXACT_QUERIES])
            retriever.close()
            del exact, matrix
            log(f"Size {size:,}: cold start…")
            cold_s, rss_mb = _cold_start(root, questions[0])
            gen = root / (root / CURRENT).read_text("utf-8").strip()
            synthetic = size > real_n
            results[str(size)] = asdict(SizeResult(
                size=size, vectors=vectors_kind(size), synthetic=synthetic,
                ingest_per_s=None if synthetic else round(encode_rate, 1),
                ingest_per_s_est=round(size / (size / encode_rate + build_s), 1), build_s=round(build_s, 2),
                p50_ms=round(p50, 2), p99_ms=round(p99, 2), cpu_p50_ms=round(cpu_p50, 2),
                short_p50_ms=None if short_p50 is None else round(short_p50, 2),
                short_p99_ms=None if short_p99 is None else round(short_p99, 2),
                after_encoder_p50_ms=round(after_p50, 2), after_encoder_p99_ms=round(after_p99, 2),
                after_encoder_cpu_p50_ms=round(after_cpu_p50, 2),
                search_p50_ms=round(search_p50, 3), keywords_p50_ms=round(keywords_p50, 3),
                exact_p50_ms=round(exact_p50, 3), recall_at_10=round(recall, 4),
                index_mb=round(sum(f.stat().st_size for f in gen.iterdir()) / 1e6, 1), rss_mb=round(rss_mb, 1),
                cold_start_s=round(cold_s, 2),
            ))
            shutil.rmtree(root)
    notes = [
        f"Real corpus: {real_n} passages (Q&A benchmark answers + shipped transcripts), ingested end to end.",
        "Larger sizes: noisy copies of those real embeddings (structure kept), each pointing at its original's "
        "answer; their ingest rate is an estimate from the measured encoder rate and index build time.",
        "Index size excludes the SQLite vector cache a real ingest keeps (about 1.5 KB a passage).",
        f"Latency: {QUESTIONS} real questions after {WARMUP} warm-up, in-process; cold start: a fresh "
        "`pressroom ask` process, page cache warm.",
    ]
    return {"sizes": results, "baseline": baseline, "targets": TARGETS, "notes": notes,
            "machine": f"{os.cpu_count()} CPU, faiss {faiss.__version__}, load average {load_before} before "
                       f"and {os.getloadavg()[0]:.1f} after (other jobs share the CPU)"}


def _one_thread(encoder: Encoder) -> Encoder:
    """``encoder`` running a question on one thread (itself if it already does, or is not an ONNX encoder)."""
    if not isinstance(encoder, OnnxEncoder) or encoder.question_threads == 1:
        return encoder
    return OnnxEncoder(encoder.name, encoder.folder, encoder.dim, encoder.n_threads, question_threads=1)


def _encode_ms(encoders: dict[str, Encoder], questions: list[str]) -> dict[str, float]:
    """p50 wall and CPU milliseconds to encode one question alone, per encoder, taking turns question by question
    so that all see the same load (CPU time counts every thread of this process: what the encoder costs whatever
    else shares the machine)."""
    wall: dict[str, list[float]] = {name: [] for name in encoders}
    cpu: dict[str, list[float]] = {name: [] for name in encoders}
    for n, question in enumerate(questions[: WARMUP + 100]):
        for name, encoder in encoders.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            encoder.encode([question], query=True)
            if n >= WARMUP:
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
    out = {}
    for name in encoders:
        out[f"{name}_question_encode_ms"] = round(_ms(wall[name], 50), 2)
        out[f"{name}_question_encode_cpu_ms"] = round(_ms(cpu[name], 50), 2)
    return out


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table, targets beside the figures."""
    b, t = result["baseline"], result["targets"]
    lines = [
        f"Ingest, end to end, {TORCH_SAMPLE} Q&A pairs: torch {b['torch_ingest_per_s']}/s, int8 ONNX "
        f"{b['onnx_ingest_per_s']}/s ({b['ingest_speedup']}x; target >= {t['ingest_per_s']}/s and "
        f">= {t['ingest_vs_torch']}x); per CPU-second torch {b['torch_ingest_per_cpu_s']}, int8 ONNX "
        f"{b['onnx_ingest_per_cpu_s']} ({b['cpu_speedup']}x).",
        f"Whole real corpus ({b['real_passages']} passages), int8 ONNX: {b['real_ingest_per_s']}/s, "
        f"{b['real_ingest_per_cpu_s']} per CPU-second ({b['real_ingest_s']} s wall, {b['real_ingest_cpu_s']} s "
        f"of CPU); encoding its {b['real_texts']} texts alone (answers and question keys): {b['real_encode_s']} s "
        f"wall, {b['real_encode_cpu_s']} s of CPU, so the rest of the ingest took "
        f"{b['real_ingest_s'] - b['real_encode_s']:.2f} s wall, "
        f"{b['real_ingest_cpu_s'] - b['real_encode_cpu_s']:.2f} s of CPU.",
        f"Question encoding p50: torch {b['torch_question_encode_ms']} ms ({b['torch_question_encode_cpu_ms']} ms "
        f"of CPU), int8 ONNX {b['onnx_question_encode_ms']} ms ({b['onnx_question_encode_cpu_ms']} ms of CPU, "
        f"{b['onnx_question_threads']} threads a question); on one thread {b['onnx_1_thread_question_encode_ms']} ms "
        f"({b['onnx_1_thread_question_encode_cpu_ms']} ms of CPU).",
        "",
        f"{'passages':>9} {'index':>17} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>7} {'short':>13} {'no enc':>13} "
        f"{'search':>7} "
        f"{'bm25':>6} "
        f"{'exact':>7} "
        f"{'recall@10':>9} "
        f"{'ingest/s':>9} {'MB disk':>8} {'RSS MB':>7} {'cold s':>6}",
    ]
    for row in result["sizes"].values():
        ingest_rate = f"{row['ingest_per_s']:.0f}" if row["ingest_per_s"] else f"~{row['ingest_per_s_est']:.0f}"
        lines.append(
            f"{row['size']:>9,} {row['vectors']:>17} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} "
            f"{row['cpu_p50_ms']:7.2f} {_pair(row['short_p50_ms'], row['short_p99_ms']):>13} "
            f"{_pair(row['after_encoder_p50_ms'], row['after_encoder_p99_ms']):>13} "
            f"{row['search_p50_ms']:7.3f} {row['keywords_p50_ms']:6.2f} {row['exact_p50_ms']:7.3f} "
            f"{row['recall_at_10']:9.4f} {ingest_rate:>9} "
            f"{row['index_mb']:8.1f} {row['rss_mb']:7.0f} {row['cold_start_s']:6.2f}" + ("  *" if row["synthetic"]
                                                                                           else "")
        )
    lines += ["", "Targets:", *(f"  {line}" for line in verdicts(result))]
    lines += [
        "",
        "p50/p99: question -> formatted answers (encode + search + fetch + format), wall clock; cpu ms: its CPU time "
        "(p50); short: p50/p99 ms of the same for short chat-style questions; no enc: p50/p99 ms of the same past "
        "the encoder (vectors computed beforehand); search: FAISS alone; bm25: keyword "
        "candidates alone (the top n by BM25, pruned from 200,000 keys); exact: the baseline flat search "
        "alone (1 thread), all three p50 ms; ~ingest/s: "
        "estimated (encoder rate + index build).",
        "* noisy copies of real embeddings of real paragraphs (see notes).",
        *(f"- {note}" for note in result["notes"]),
        f"Machine: {result['machine']}.",
    ]
    return "\n".join(lines)


def _pair(p50: float | None, p99: float | None) -> str:
    return "-" if p50 is None or p99 is None else f"{p50:.1f}/{p99:.1f}"


def verdicts(result: dict) -> list[str]:
    """One line per target: the figure measured in this run beside the target, and whether it holds."""
    b, t, sizes = result["baseline"], result["targets"], result["sizes"]

    def line(what: str, value: float | None, op: str, target: float, unit: str = "") -> str:
        if value is None:
            return f"{what}: not measured (target {op} {target}{unit})"
        held = value <= target if op == "<=" else value >= target
        return f"{what}: {value}{unit} (target {op} {target}{unit}) {'MET' if held else 'MISSED'}"

    out = [
        line("ingest, end to end, int8 ONNX", b["onnx_ingest_per_s"], ">=", t["ingest_per_s"], "/s"),
        line("ingest speed-up over torch, same run", b["ingest_speedup"], ">=", t["ingest_vs_torch"], "x"),
    ]
    if "100000" in sizes:
        row = sizes["100000"]
        out += [line("p50 at 100,000", row["p50_ms"], "<=", t["p50_ms_1e5"], " ms"),
                line("p99 at 100,000", row["p99_ms"], "<=", t["p99_ms_1e5"], " ms"),
                line("p50 at 100,000, short questions", row["short_p50_ms"], "<=", t["p50_ms_1e5"], " ms"),
                line("p99 at 100,000, short questions", row["short_p99_ms"], "<=", t["p99_ms_1e5"], " ms"),
                line("recall@10 at 100,000", row["recall_at_10"], ">=", t["recall_at_10"]),
                line("cold start at 100,000", row["cold_start_s"], "<=", t["cold_start_s_1e5"], " s")]
    if "1000000" in sizes:
        row = sizes["1000000"]
        out += [line("p50 at 1,000,000", row["p50_ms"], "<=", t["p50_ms_1e6"], " ms"),
                line("recall@10 at 1,000,000", row["recall_at_10"], ">=", t["recall_at_10"])]
    return out
