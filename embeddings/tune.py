"""Domain adaptation: fine-tune the bi-encoder on a user's own question→answer pairs, on the CPU.

Each pair pulls its question's vector towards its answer's and away from the other answers in the batch
(sentence-transformers' MultipleNegativesRankingLoss). The result is a model folder with a manifest
(``pressroom-model.json``) that `--model FOLDER` loads for ingest, ask and bench.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .encoder import DEFAULT_MODEL, TORCH_MODEL, TUNED_MANIFEST, SentenceTransformerEncoder, load_encoder
from .errors import PressroomError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@dataclass(frozen=True)
class TunedModel:
    """What a tuned model folder was made from; ``name`` goes into the manifest of every index it builds."""

    name: str
    base: str
    pairs: int
    epochs: int
    batch_size: int
    seconds: float
    created: str
    abstain_below: float  # the model's abstention threshold (see TUNED_ABSTAIN_BELOW), read by load_encoder
    files: tuple[str, ...] = ()  # the Q&A files the pairs came from, so a benchmark can say what the model saw
    split: str = "all"  # 'tune': only pairs older than the first file's test split (see training_pairs)
    learning_rate: float | None = None  # None in manifests written before it was recorded
    seed: int | None = None  # None in manifests written before it was recorded
    scale: float = 20.0  # the loss's scale, 1 / temperature; models tuned before it was recorded all used 20
    soup: tuple[str, ...] = ()  # the other runs averaged into these weights (a soup's own ingredients too; fine_tune)


# Chosen on the benchmark's tune split alone (trained on its older 70 % of dates, measured on the rest, fused
# R@1 / MRR@10): 2 epochs at 2e-5 0.359 / 0.473; 4 at 5e-5 0.372 / 0.483; the same with BM25-mined hard
# negatives 0.378 / 0.482 (not kept: no clear gain for a third text per pair). Base model 0.327 / 0.437.
EPOCHS, LEARNING_RATE, BATCH_SIZE = 4, 5e-5, 32
SCALE = 20.0  # sentence-transformers' default; 30 and 40 measured below (tune4, tune5)
# Also tried on that slice (2026-11-29, one seed, fused R@1 / MRR@10; 1 question = 0.006): the fusion weight
# 0.05-0.3 for the tuned model, 0.346-0.372 / 0.457-0.486 with no trend across two runs, so FUSION_WEIGHT stays;
# WiSE-FT (weights 0.7 tuned + 0.3 base) 0.365 / 0.482 against 0.359 / 0.479 tuned alone, not kept; the symmetric
# loss (answer→question as well) 0.359 / 0.472 and GISTEmbedLoss guided by the base model 0.340 / 0.460, not kept.
# Tuning pulls every question towards the answers, off-topic ones too: on that slice, the best fused score of an
# off-topic question (tests/data/off_topic_questions.txt) rose from 0.315 to 0.371 at the 95th percentile, so the
# base model's ABSTAIN_BELOW (0.34) refused only 92.5 % of them. Refused / R@1 lost on the slice's questions:
# 0.36 94.7 % / 0; 0.38 96.1 % / 0; 0.40 97.8 % / 0; 0.42 98.7 % / 0; 0.44 99.1 % / 0.006. Manifests carry it.
TUNED_ABSTAIN_BELOW = 0.40
# Re-measured on that slice (2026-11-29 afternoon, 156 questions, corpus = the tune split's 490 answers; R@1 /
# MRR@10; base model: dense 0.321 / 0.447, fused 0.353 / 0.466 on torch, 0.378 / 0.480 as int8 ONNX):
# - where the tuning's gain goes. The default recipe above (334 pairs): dense 0.391 / 0.522 on torch, 0.397 / 0.520
#   as int8 ONNX (the export loses nothing); fused 0.417 / 0.531 and 0.410 / 0.523. Tuning adds +0.07 R@1 to the
#   vectors alone (the issue measured +0.09), fusion with BM25 keeps +0.03 to +0.06 of it: BM25 already finds part
#   of what tuning teaches. Questions cleaned up or not: the same (training strips courtesies as search does), and
#   these answers are one paragraph each, so paragraph max-pooling plays no part here.
# - more pairs and bigger batches: the slice's older pairs plus the 1,289 older ones of mfa_qa_older.jsonl (1,623),
#   batch 128 with no answer twice in a batch (see batches), 2 epochs at 1e-4: dense 0.410 / 0.540, fused 0.417 /
#   0.548. Paired against the default recipe: fused R@1 5 questions won, 5 lost; MRR@10 +0.017 (paired SE 0.012);
#   dense +0.021 (SE 0.016). Within noise, as the same older pairs were in an earlier run (+0.016 / +0.031), yet
#   never worse; the benchmark's tuned model is made so (docs/quality.md), while the defaults stay for smaller
#   files: batch 128 would leave a few hundred pairs a handful of steps. Plain MNRL, not the cached variant: memory
#   is plentiful at batch 128 and caching costs a second forward pass. Off-topic questions: 0.40 still refuses
#   96.9 % on the slice with no right answer lost, so TUNED_ABSTAIN_BELOW stays.
# A sounder protocol (2026-11-29, 16:35-17:08 UTC): trained on mfa_qa_older.jsonl alone (1,289 pairs, all older
# than the benchmark), validated on the benchmark's whole tune split (490 questions, corpus = its 489 distinct
# answers, the product's ranking; SE ~0.02 R@1, the slice's was ~0.04). Batch 128, 2 epochs, 1e-4 (R@1 / MRR@10;
# base model: dense 0.314 / 0.441, fused 0.376 / 0.489):
# - speed: 2.82-2.86 pairs/s (about 900 s a run at load average 2-6, other engineers' jobs beside it), little faster
#   than the 2.4 measured on a busier machine, so a grid of epochs (4, 8: 30-60 min a run) x learning rates did not
#   fit the session then (4 epochs: below).
# - seed 0: dense 0.396 / 0.522, fused 0.394 / 0.521; seed 1: dense 0.404 / 0.527, fused 0.408 / 0.536. The seed
#   alone moves fused R@1 by 0.014 (paired SE 0.009): one run per recipe cannot tell close recipes apart.
# - fusion weight (seed 0's model) 0 / 0.05 / 0.1 / 0.15 / 0.25 / 0.35: R@1 0.394 / 0.392 / 0.394 / 0.394 / 0.402 /
#   0.394, MRR@10 0.518-0.525 and 0.511 at 0.35. Flat, so FUSION_WEIGHT stays for tuned models too.
# - a model soup, the two seeds' weights averaged (fine_tune's soup): dense 0.400 / 0.523 (the seeds' mean), fused
#   0.416 / 0.535: over seed 0 +0.022 R@1 (12 questions won, 1 lost; paired SE 0.007) and +0.014 MRR@10 (SE 0.004),
#   over seed 1 +0.008 (9 won, 5 lost) and -0.001; +0.015 R@1 over the seeds' mean. It is no slower to ask (one
#   model, unlike a score-level ensemble), so the benchmark's tuned model is a soup of two seeds (docs/quality.md).
# - 4 epochs (seed 0, 17:41-18:11 UTC, 3.95 pairs/s): dense 0.408 / 0.531, fused 0.424 / 0.538; over 2 epochs with
#   the same seed +0.031 R@1 (19 won, 4 lost; paired SE 0.010), over the soup +0.008 (14 won, 10 lost; SE 0.010):
#   within noise, so the soup stays. The soup of the two 0.414 / 0.537. Made on tune split + older pairs (895 s quiet)
#   and run once on the test split: 0.391 / 0.523 R@1 / MRR@10, below the soup (0.423 / 0.537).
# tune4 (2026-11-29, 19:15-, the same protocol, each run on one core: 1.9-4.4 pairs/s as the machine's load varied;
# paired against the same seed's 2 epochs at 1e-4 unless said; fused R@1 / MRR@10, won/lost = questions whose R@1
# changed):
# - 2 epochs at 2e-4 (seed 0): 0.396 / 0.524, +0.002 R@1 (11 won, 10 lost; paired SE 0.009), +0.003 MRR@10 (SE
#   0.006); dense 0.382 / 0.511, -0.014 R@1. The few steps (20 a run) are not short of a higher rate: not kept.
# - that run as a third soup ingredient (the mean of seeds 0 and 1 at 1e-4 and it): 0.408 / 0.532, against the
#   two-seed soup -0.008 R@1 (3 won, 7 lost; SE 0.006): not kept.
# - the soup pushed further from the base (base + a x (soup - base), task-vector extrapolation, no training):
#   a = 1.5 0.412 / 0.535 (-0.004; 11 won, 13 lost), a = 2 0.406 / 0.530 (-0.010): not kept.
# - inverse-cloze pairs from the training answers (one sentence of 8+ words -> its whole answer, for a random
#   quarter of the answers: 315 more pairs beside the 1,289 real ones): 0.386 / 0.514, -0.008 R@1 (16 won, 20 lost;
#   SE 0.012), -0.006 MRR@10 (SE 0.008); dense 0.400 / 0.519 (+0.004): not kept. (A guess: a copied sentence
#   teaches word overlap, which BM25 already brings to the fused ranking.)
# - a third seed at 1e-4 (seed 2 alone 0.412 / 0.532, +0.018 R@1 over seed 0: the seeds spread 0.394-0.412) in the
#   soup, the plain mean of three runs: 0.410 / 0.533, against the two-seed soup -0.006 R@1 (4 won, 7 lost; SE
#   0.007), -0.002 MRR@10 (SE 0.004); +0.005 over the three seeds' mean (two seeds: +0.015). Not kept.
# - MultipleNegativesRankingLoss's scale 30 instead of 20 (temperature 0.033, not 0.05), seed 0: 0.414 / 0.536,
#   +0.020 R@1 (16 won, 6 lost; SE 0.010), +0.016 MRR@10 (SE 0.006) over the same seed at 20, yet dense 0.396 /
#   0.526 (+0.000) and the seeds at 20 spread as much (0.394-0.412); level with the two-seed soup (-0.002: 9 won,
#   10 lost). As a third ingredient of that soup 0.408 / 0.532 (-0.008: 4 won, 8 lost).
#   Seed 1 at 30: 0.414 / 0.534 (+0.006 over seed 1 at 20: 13 won, 10 lost; SE 0.010). The soup of the two at 30:
#   0.420 / 0.542, over the two-seed soup at 20 +0.004 R@1 (9 won, 7 lost; SE 0.008), +0.007 MRR@10 (SE 0.005):
#   within noise alone.
# - tune5 (2026-11-29, 21:44-22:10 UTC): scale 40, seed 0 0.416 / 0.538 (+0.022 over seed 0 at 20: 21 won, 10
#   lost; SE 0.011), seed 1 0.408 / 0.528 (+0.000: 13 won, 13 lost); their soup 0.418 / 0.537 (+0.002 over the
#   two-seed soup at 20: 14 won, 13 lost; SE 0.011); the four runs at 30 and 40 in one soup 0.416 / 0.538 (+0.000).
#   So a higher scale lifts a single run (+0.012 R@1 on average over the four seeds at 30 and 40) but every soup
#   lands at 0.416-0.420: the soup already gives what the scale gives. SCALE stays sentence-transformers' 20; --scale
#   lets a user who trains one run try 30. A score-level ensemble of the soup with the base model (concatenated
#   vectors, a x tuned cosine + (1 - a) x base cosine) lost: a = 0.8 0.410 / 0.532 (0 won, 3 lost), 0.6 0.406 / 0.527.


def fine_tune(pairs: Sequence[tuple[str, str]], out: Path, *, base: str = DEFAULT_MODEL, epochs: int = EPOCHS,
              batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE, seed: int = 0,
              files: Sequence[str] = (), split: str = "all", soup: Sequence[Path] = (),
              scale: float = SCALE, progress: bool = True) -> TunedModel:
    """Fine-tune ``base`` on (question, answer) ``pairs`` and save it in ``out``.

    Args:
        pairs: (question, answer) texts; at least two, and more than a batch to learn much.
        out: folder to write (must not exist or be empty).
        base: the model to start from.
        epochs: passes over the pairs.
        batch_size: pairs per step; the other answers of a batch are each question's negatives.
        learning_rate: AdamW learning rate (linear warm-up over the first 10 % of steps).
        seed: shuffling and initialisation seed, for repeatable runs.
        files: the Q&A files the pairs came from, recorded in the manifest.
        split: which of their pairs were used ('all', or 'tune': see training_pairs), recorded likewise.
        soup: folders of models tuned from the same base with the same recipe and another seed: the saved
            weights are the average of theirs and this run's (a model soup: measured above), each run once
            (a soup among them counts as the runs it averages).
        scale: the loss's scale, 1 / temperature: how sharply it tells the right answer from the batch's others.
        progress: show a progress bar.

    Returns:
        The manifest written beside the weights.
    """
    import time

    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm import tqdm

    if len(pairs) < 2:
        raise PressroomError(f"Fine-tuning needs at least 2 question/answer pairs (got {len(pairs)}).")
    if out.exists() and any(out.iterdir()):
        raise PressroomError(f"{out} exists and is not empty; choose a new folder for the tuned model.")
    ingredients = [read_manifest(folder) for folder in soup]  # checked before the hours of training
    for folder, other in zip(soup, ingredients, strict=True):
        if other.base != base:
            raise PressroomError(f"{folder} was tuned from {other.base}, not {base}: only models tuned from the same "
                                 "base can be averaged.")
    # The default model and tuned ones run as int8 ONNX for speed; training needs their torch weights.
    if (Path(base).expanduser() / TUNED_MANIFEST).is_file():
        path = str(Path(base).expanduser())
    else:
        encoder = load_encoder(TORCH_MODEL if base == DEFAULT_MODEL else base)
        if not isinstance(encoder, SentenceTransformerEncoder):
            raise PressroomError(f"The model {base!r} cannot be fine-tuned (not a sentence-transformers model).")
        path = encoder.path
    random.seed(seed)
    torch.manual_seed(seed)
    # A private copy: the shared encoder keeps serving the base model's vectors in this process.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    loss = MultipleNegativesRankingLoss(model, scale=scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    order = list(pairs)
    steps = epochs * len(batches(order, batch_size))
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / max(1, steps - warmup))
    )
    start = time.perf_counter()
    model.train()
    with tqdm(total=steps, desc="Fine-tuning", unit="step", disable=not progress) as bar:
        for _ in range(epochs):
            random.shuffle(order)
            for batch in batches(order, batch_size):
                if len(batch) < 2:  # a lone pair has no negatives to learn from
                    bar.update(1)
                    continue
                features = [model.preprocess([q for q, _ in batch]), model.preprocess([a for _, a in batch])]
                value = loss(features, torch.empty(0))  # labels are implicit: pair i of the batch
                value.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.set_postfix(loss=f"{value.item():.3f}")
                bar.update(1)
    model.eval()
    if soup:
        # A soup among the ingredients weighs as the runs it averages, so that every run counts the same.
        _average(model, [SentenceTransformer(str(folder), device="cpu") for folder in soup],
                 [1 + len(other.soup) for other in ingredients])  # soup: one name per other run
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.rglob("*.safetensors")))).hexdigest()[:12]
    manifest = TunedModel(
        name=f"{base}-tuned-{digest}", base=base, pairs=len(pairs), epochs=epochs, batch_size=batch_size,
        seconds=round(time.perf_counter() - start, 1), created=datetime.now(UTC).isoformat(timespec="seconds"),
        abstain_below=TUNED_ABSTAIN_BELOW, files=tuple(files), split=split, learning_rate=learning_rate,
        seed=seed, scale=scale, soup=tuple(name for other in ingredients for name in (other.name, *other.soup)),
    )
    (out / TUNED_MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n", "utf-8")
    return manifest


def _average(model: SentenceTransformer, others: Sequence[SentenceTransformer], weights: Sequence[int]) -> None:
    """Set ``model``'s weights to the weighted mean of its own (weight 1) and ``others``' (same architecture, base)."""
    import torch

    mine, theirs = model.state_dict(), [other.state_dict() for other in others]
    total = 1 + sum(weights)
    with torch.no_grad():
        for key, value in mine.items():
            if value.is_floating_point():
                value.copy_((value + sum(w * t[key] for w, t in zip(weights, theirs, strict=True))) / total)


def batches(pairs: Sequence[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    """``pairs`` in batches of ``size`` in which no answer text repeats, keeping their order otherwise.

    An answer given to several questions would otherwise be, within one batch, a negative of its own question.
    A pair whose answer is already in the batch waits for the next one.
    """
    out: list[list[tuple[str, str]]] = []
    pending = list(pairs)
    while pending:
        batch: list[tuple[str, str]] = []
        seen: set[str] = set()
        later: list[tuple[str, str]] = []
        for pair in pending:
            answer = " ".join(pair[1].split())
            if len(batch) < size and answer not in seen:
                batch.append(pair)
                seen.add(answer)
            else:
                later.append(pair)
        out.append(batch)
        pending = later
    return out


def read_manifest(folder: Path) -> TunedModel:
    """The manifest of a model folder written by :func:`fine_tune` (older manifests lack files and split)."""
    try:
        fields = json.loads((folder / TUNED_MANIFEST).read_text("utf-8"))
        fields["files"] = tuple(fields.get("files", ()))
        fields["soup"] = tuple(fields.get("soup", ()))
        return TunedModel(**fields)
    except (OSError, ValueError, TypeError) as exc:
        raise PressroomError(f"{folder / TUNED_MANIFEST} is unreadable ({exc}); tune the model again.") from exc
