"""The `pressroom` command line: each subcommand calls one function and formats its result."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from embeddings.errors import PressroomError, counted
from embeddings.records import Kind, Role, Turn
from embeddings.tune import BATCH_SIZE, EPOCHS, LEARNING_RATE, SCALE

from .settings import Settings

if TYPE_CHECKING:
    from .retrieval import Hit

index_option = click.option("--index", type=click.Path(), default=None,
                            help="Index folder [env PRESSROOM_INDEX; default data/index].")
model_option = click.option(
    "--model", default=None,
    help="Embedding model: all-MiniLM-L6-v2, all-MiniLM-L6-v2-torch, multilingual-e5-small or a folder from "
         "`pressroom tune` [env PRESSROOM_MODEL; default all-MiniLM-L6-v2].")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """User mistakes become one plain sentence on stderr and exit status 1, never a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PressroomError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="pressroom")
def cli() -> None:
    """Press Room: ask a question, get the official answer verbatim, with who said it, when and where.

    \b
    Quick start:
      pressroom ingest data/
      pressroom ask "How will Shanghai lead the Yangtze River Delta?"
      pressroom serve
    """


@cli.command(short_help="Add transcripts (files, folders, URLs) to the index.")
@click.argument("paths", nargs=-1, required=True)
@index_option
@model_option
@click.option("--rebuild", is_flag=True,
              help="Make the index afresh from PATHS alone, every text re-encoded; conferences from other sources "
                   "are dropped (and listed as removed).")
@friendly
def ingest(paths: tuple[str, ...], index: str | None, model: str | None, rebuild: bool) -> None:
    """Add transcripts (files, folders or http(s) addresses) to the index.

    Reads .txt/.md transcripts, saved press-room pages (.htm/.html) and Q&A files (.jsonl). The pages
    of one conference (content_<id>.htm, content_<id>_2.htm, ...) become one conference; an address
    brings the other pages of its conference along. Unchanged sources are skipped; a changed one
    replaces its old passages. A source that cannot be read is reported and the others still land;
    the exit status is then 1, as when a conference is stored with no answer long enough to search.

    PATH '-' reads one transcript from stdin: text (front matter allowed), a saved page or Q&A JSONL,
    told apart by content. Without a source address (front matter's "source:", a page's canonical link,
    a line's "link") its id comes from its content, and `pressroom show` names it "stdin:...".

    \b
    Example:
      pressroom ingest data/ tests/data/user_transcript.txt
      cat tests/data/user_transcript.txt | pressroom ingest -
      pressroom ingest http://english.scio.gov.cn/m/pressroom/2024-04/08/content_117111081.htm
    """
    from embeddings.encoder import load_encoder
    from embeddings.ingest import ingest as run_ingest

    settings = Settings.load(index=index, model=model)
    encoder = load_encoder(settings.model)
    report = run_ingest(paths, settings.index, encoder, rebuild=rebuild, progress=True)
    click.echo(f"{report.summary()} Index: {settings.index}.")
    for _, why in report.rejected:
        click.echo(f"Problem: {why}", err=True)
    if report.rejected:
        sys.exit(1)


@cli.command()
@click.argument("words", nargs=-1, required=True, metavar="QUESTION")
@click.option("-k", "k", default=None, metavar="N", help="How many answers (1-50) [env PRESSROOM_K; default 5].")
@click.option("--speaker", default=None, help="Only answers by this official (a whole word of the name is enough).")
@click.option("--conference", default=None, help="Only answers from conferences whose title contains this.")
@click.option("--from", "since", default=None, metavar="YYYY-MM-DD", help="Only conferences on or after this date.")
@click.option("--to", "until", default=None, metavar="YYYY-MM-DD", help="Only conferences on or before this date.")
@index_option
@model_option
@json_option
@friendly
def ask(words: tuple[str, ...], k: str | None, speaker: str | None, conference: str | None, since: str | None,
        until: str | None, index: str | None, model: str | None, as_json: bool) -> None:
    """Ask a question; print the best official answers verbatim. QUESTION '-' reads stdin.

    Quotes are optional: the words of an unquoted question are joined with spaces.

    "What did Gu Jun say about …" searches Gu Jun's answers only, like --speaker.

    \b
    Example:
      pressroom ask "How will Shanghai lead the integration of the Yangtze River Delta?" -k 3
      pressroom ask "foreign investment" --speaker "Gu Jun" --from 2024-01-01 --json
    """
    from .retrieval import LESS_RELATED, Retriever, make_filter

    question = sys.stdin.read() if words == ("-",) else " ".join(words)
    settings = Settings.load(index=index, model=model, k=k)
    where = make_filter(speaker, conference, since, until)
    retriever = Retriever.open(settings)
    if not retriever.index.manifest.conferences:  # after `remove` of each: "no answer on this" would mislead
        raise PressroomError(f"The index at {settings.index} holds no conferences; add transcripts with "
                             "`pressroom ingest PATH…`.")
    reply = retriever.ask(question, settings.k, where)
    if as_json:
        click.echo(json.dumps(reply.to_json(), ensure_ascii=False, indent=2))
        return
    # The filters applied, a speaker or period named in the question included: under them, an empty reply must
    # not read as "nothing said" (a mistyped --conference, "in 2023" under --from 2024-01-01).
    chosen = ", ".join(f"{name} {value}" for name, value in reply.where.to_json().items() if value)
    if reply.query.differs_from(reply.question):
        click.echo(f"Searched: {reply.query.text}" + (f"  (answers with {chosen})" if chosen else "") + "\n")
    if not reply.hits:
        click.echo("No official answer on this in the indexed transcripts"
                   + (f" among answers with {chosen}." if chosen else "."))
    for rank, hit in enumerate(reply.hits, 1):
        if rank - 1 == reply.first_less_related:
            click.echo(LESS_RELATED + "\n")
        click.echo(_format_hit(rank, hit))


def _format_hit(rank: int, hit: Hit) -> str:
    """One answer as `pressroom ask` prints it: the matched paragraph marked, then who, where, when and why."""
    a = hit.answer
    lines = [f"[{rank}] {a.speaker}{', ' + a.title if a.title else ''}  (score {hit.score:.2f})"]
    for i, paragraph in enumerate(a.paragraphs):
        marker = "> " if i == hit.matched else "  "
        lines.extend(textwrap.wrap(paragraph.text, 96, initial_indent=marker, subsequent_indent=marker) or [""])
    lines.append(f"    — {a.speaker}, {a.conference}, {hit.day}")
    if a.also:
        lines.append(f"    also said on {', '.join(d.isoformat() for d in a.also)}")
    if a.asked:
        lines.append(f"    in reply to {a.asked_by or 'a journalist'}: {textwrap.shorten(a.asked, 160)}")
    elif a.kind is Kind.STATEMENT:
        lines.append("    (opening statement)")
    lines.append(f"    {a.source}\n")
    return "\n".join(lines)


@cli.command(name="list")
@index_option
@json_option
@friendly
def list_(index: str | None, as_json: bool) -> None:
    """List the indexed conferences: dates, counts, who answered.

    \b
    Example:
      pressroom list --json
    """
    from embeddings.index import Index

    settings = Settings.load(index=index)
    idx = Index.open(settings.index)
    rows = idx.store.conferences()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    for r in rows:
        click.echo(f"{r.id}  {r.date or '----------'}  {counted(r.answers, 'answer', width=4):12}  "
                   f"{counted(r.passages, 'passage', width=5):14}  {r.title}"
                   + (f" — {', '.join(r.speakers)}" if r.speakers else ""))
    click.echo(f"{counted(len(rows), 'conference')}, {counted(idx.manifest.passages, 'passage')}, "
               f"model {idx.manifest.model}.")


@cli.command(short_help="Show a conference's turns as read: who asked, who answered.")
@click.argument("conference")
@index_option
@click.option("--full", is_flag=True, help="Whole paragraphs (default: the first ~200 characters of each).")
@json_option
@friendly
def show(conference: str, index: str | None, full: bool, as_json: bool) -> None:
    """Show how a transcript was read: every turn in order, numbered, with its role, speaker and text.

    CONFERENCE is an id from `pressroom list` (or a unique prefix of it, as `pressroom remove` takes) or part of
    a title (as --conference matches). Turns marked
    [ask] are officials' answers and statements, which `pressroom ask` can return; questions, hand-offs,
    the chair's remarks and interpreters' notes are never returned. --json always holds whole paragraphs.

    \b
    Example:
      pressroom show "five centers"
      pressroom show 3c5b7a --full --json
    """
    from embeddings.index import Index

    settings = Settings.load(index=index)
    idx = Index.open(settings.index)
    try:
        found = idx.store.find(conference)
    finally:
        idx.close()
    if as_json:
        click.echo(json.dumps(found.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo(found.title)
    click.echo(f"id {found.id}  held {found.held or 'unknown'}  published {found.published or 'unknown'}")
    for page in found.pages:
        click.echo(f"page {page.number}: {page.source}")
    returnable = sum(t.kind.searchable for t in found.turns)
    click.echo(f"{counted(len(found.turns), 'turn')}; [ask] marks the {returnable} that `pressroom ask` can return, "
               "[never] those it never returns.\n")
    for number, turn in enumerate(found.turns, 1):
        click.echo(_format_turn(number, turn, full))


SHOW_CHARS = 200  # of each paragraph, without --full: enough to see whose words they are
# What a turn does, as `pressroom show` names it: by kind and role, else by kind alone.
_TURN_KINDS: dict[tuple[Kind, Role | None], str] = {
    (Kind.QUESTION, None): "journalist's question",
    (Kind.ANSWER, None): "official's answer",
    (Kind.STATEMENT, None): "official's statement",
    (Kind.HANDOFF, None): "hand-off",
    (Kind.REMARKS, Role.MODERATOR): "chairperson's remarks",
    (Kind.REMARKS, Role.INTERPRETER): "interpreter's note",
    (Kind.REMARKS, None): "remarks",
}


def _format_turn(number: int, turn: Turn, full: bool) -> str:
    """One turn as `pressroom show` prints it: number, mark, what it does, who, then its paragraphs."""
    what = _TURN_KINDS.get((turn.kind, turn.role)) or _TURN_KINDS[(turn.kind, None)]
    if turn.replies_to is not None:
        what += f" in reply to #{turn.replies_to + 1}"
    # Role and outlet as parsed, even when the label already says them: that is what an audit checks.
    who = turn.speaker + (f", {turn.title}" if turn.title else "") + f" [{turn.role.value}"
    who += f", outlet: {turn.outlet}]" if turn.outlet else "]"
    lines = [f"#{number} {'[ask]  ' if turn.kind.searchable else '[never]'} {what} — {who}"]
    for paragraph in turn.paragraphs:
        text = paragraph.text
        if not full and len(text) > SHOW_CHARS:
            text = text[:SHOW_CHARS].rsplit(" ", 1)[0] + " …"
        lines.extend(textwrap.wrap(text, 92, initial_indent="    ", subsequent_indent="      ") or [""])
    return "\n".join(lines) + "\n"


@cli.command(short_help="Take conferences out of the index by id.")
@click.argument("conference_ids", nargs=-1, required=True)
@index_option
@friendly
def remove(conference_ids: tuple[str, ...], index: str | None) -> None:
    """Take conferences out of the index, by the id `pressroom list` shows (or a unique prefix of it).

    Nothing is re-encoded. Ingesting the source again brings the conference back.

    \b
    Example:
      pressroom list
      pressroom remove 3c5b7a
    """
    from embeddings.ingest import remove as run_remove

    settings = Settings.load(index=index)
    titles, passages = run_remove(settings.index, list(conference_ids))
    for title in titles:
        click.echo(f"Removed: {title}")
    click.echo(f"Index: {counted(passages, 'passage')} in {settings.index}.")


@cli.command(short_help="Start the web chat, the widget and the HTTP API.")
@index_option
@model_option
@click.option("--host", default=None, help="Interface to bind [env PRESSROOM_HOST; default 127.0.0.1].")
@click.option("--port", default=None, metavar="N", help="Port [env PRESSROOM_PORT; default 7860].")
@click.option("-k", "k", default=None, metavar="N", help="Answers per question (1-50) [env PRESSROOM_K; default 5].")
@click.option("--origins", default=None,
              help="Comma-separated origins allowed to embed or call the app [env PRESSROOM_ORIGINS; default none: "
                   "same origin only].")
@click.option("--concurrency", default=None, metavar="N",
              help="Questions the chat answers at once [env PRESSROOM_CONCURRENCY; default 4].")
@click.option("--queue", default=None, metavar="N",
              help="Questions waiting or running per entry point; beyond it, 503 [env PRESSROOM_QUEUE; default 64].")
@click.option("--workers", default=None, metavar="N",
              help="Answering processes behind the HTTP process, sharing one mapped copy of the index; 1 answers "
                   "in the server's own process [env PRESSROOM_WORKERS; default 1].")
@friendly
def serve(index: str | None, model: str | None, host: str | None, port: str | None, k: str | None,
          origins: str | None, concurrency: str | None, queue: str | None, workers: str | None) -> None:
    """Start the web chat, the embeddable widget (/embed/) and the HTTP API (/api/ask).

    It binds to 127.0.0.1 unless --host says otherwise (e.g. --host 0.0.0.0 for all interfaces).
    One process speaks HTTP; --workers processes answer the questions it hands them.

    \b
    Example:
      pressroom serve --port 7860 --origins https://newsroom.example.org --workers 2
    """
    from .server import run

    run(Settings.load(index=index, model=model, host=host, port=port, k=k, origins=origins,
                      concurrency=concurrency, queue=queue, workers=workers))


@cli.command(short_help="Check the index; rebuild it from its sources if damaged.")
@index_option
@model_option
@friendly
def doctor(index: str | None, model: str | None) -> None:
    """Check the index; if it is damaged, rebuild it from the sources it was built from.

    When the recorded sources are gone, the transcripts in the data folder are used.

    \b
    Example:
      pressroom doctor --index data/index
    """
    from embeddings.doctor import doctor as run_doctor
    from embeddings.encoder import load_encoder

    settings = Settings.load(index=index, model=model)
    diagnosis = run_doctor(settings.index, load_encoder(settings.model), [settings.data], progress=True)
    if diagnosis.problem is None:
        click.echo(f"The index at {settings.index} is healthy.")
        return
    click.echo(f"Found: {diagnosis.problem}")
    report = diagnosis.report
    assert report is not None
    click.echo(f"Rebuilt from {counted(len(diagnosis.sources), 'source')}: {counted(report.passages, 'passage')}, "
               f"{counted(len(report.added), 'conference')}.")
    for _, why in report.rejected:
        click.echo(f"Problem: {why}", err=True)
    if not report.committed:
        sys.exit(1)


@cli.command(short_help="Fine-tune the embedding model on your own Q&A pairs.")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder for the tuned model.")
@click.option("--split", type=click.Choice(["tune", "all"]), default="all", show_default=True,
              help="Train on every pair, or only on pairs older than the first file's test split (its latest 30 % "
                   "of dates), to benchmark fairly on that file.")
@click.option("--epochs", default=EPOCHS, show_default=True, type=click.IntRange(1, 20),
              help="Passes over the pairs.")
@click.option("--learning-rate", default=LEARNING_RATE, show_default=True, type=click.FloatRange(1e-7, 1e-2),
              help="AdamW learning rate (warm-up over the first 10 % of steps, then linear decay).")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, type=click.IntRange(2, 512),
              help="Pairs per step; the other answers in a batch are the negatives.")
@click.option("--seed", default=0, show_default=True, type=int, help="Shuffling and dropout seed, for repeatable runs.")
@click.option("--soup", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A model tuned the same way with another --seed (repeatable): save the average of its weights "
                   "and this run's, a model soup that is no slower to ask (a soup given here counts as its runs).")
@click.option("--scale", default=SCALE, show_default=True, type=click.FloatRange(1.0, 100.0),
              help="The loss's scale (1 / temperature): higher tells the right answer from the others more sharply.")
@model_option
@friendly
def tune(files: tuple[Path, ...], out: Path, split: str, epochs: int, learning_rate: float, batch_size: int,
         seed: int, soup: tuple[Path, ...], scale: float, model: str | None) -> None:
    """Fine-tune the embedding model on your own question→answer pairs (JSONL files), on the CPU.

    FILES are JSONL with question and answer on each line (and date, for --split tune); '-' reads one from stdin.

    Then ingest and ask with --model OUT (rebuild the index: vectors from another model do not mix).
    tests/data/qa_sample.jsonl holds the 11 question→answer pairs of the shipped transcripts; train on your own
    press office's pairs (thousands help, a handful do not).

    \b
    Example:
      pressroom tune tests/data/qa_sample.jsonl --out models/my-press-office
      pressroom ingest --rebuild --model models/my-press-office data/
      pressroom tune tests/data/qa_sample.jsonl --seed 1 --soup models/my-press-office --out models/my-soup
    """
    from embeddings.tune import fine_tune

    from .bench_quality import training_pairs
    from .questions import strip_framing

    settings = Settings.load(model=model)
    pairs = training_pairs(files, split)
    # Questions are trained as they are searched: without courtesies (see assistant.questions).
    tuned = fine_tune([(strip_framing(p.question), p.answer) for p in pairs], out, base=settings.model,
                      epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                      files=["stdin" if str(f) == "-" else str(f) for f in files], split=split, soup=soup, scale=scale)
    click.echo(f"Tuned {tuned.base} on {counted(tuned.pairs, 'pair')} ({counted(tuned.epochs, 'epoch')}, "
               f"{tuned.seconds:.0f} s): {out} "
               f"(model name {tuned.name}). Use it with --model {out}.")


@cli.group(short_help="Benchmarks: the product beside its baselines.")
def bench() -> None:
    """Benchmarks that print tables: the product beside its baselines, measured in the same run.

    \b
    Example:
      pressroom bench quality ../shared/bench/mfa_qa.jsonl --split test
      pressroom bench load http://127.0.0.1:7860 --clients 8 --requests 2000
    """


@bench.command(name="load", short_help="Load-test a running server with concurrent clients.")
@click.argument("url", default="http://127.0.0.1:7860")
@click.option("--clients", default="8,32", show_default=True, help="Concurrent clients, comma-separated runs.")
@click.option("--requests", "total", default=1000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Questions per run.")
@click.option("--endpoint", type=click.Choice(["api", "gradio", "both"]), default="both", show_default=True,
              help="/api/ask, the Gradio endpoint /ask, or both.")
@click.option("--questions", "questions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Questions to cycle through, one per line [default: a few about the shipped transcript].")
@json_option
@friendly
def bench_load(url: str, clients: str, total: int, endpoint: str, questions_file: Path | None,
               as_json: bool) -> None:
    """Ask a running server many questions from concurrent clients; print errors, p50/p99 and throughput.

    \b
    Example:
      pressroom serve &
      pressroom bench load http://127.0.0.1:7860 --clients 8,32 --requests 2000
    """
    from .bench_load import DEFAULT_QUESTIONS, check_server, run_load

    counts = _numbers(clients, "--clients", 1, 1024)
    questions = _lines(questions_file) if questions_file else list(DEFAULT_QUESTIONS)
    endpoints = ["api", "gradio"] if endpoint == "both" else [endpoint]
    check_server(url)
    reports = [run_load(url, questions, clients=c, total=total, endpoint=e) for e in endpoints for c in counts]
    if as_json:
        click.echo(json.dumps({"url": url, "runs": [r.to_json() for r in reports]}, indent=2))
        return
    click.echo(f"{'endpoint':9} {'clients':>7} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} "
               f"{'client CPU ms/req':>17}")
    for r in reports:
        row = r.to_json()
        click.echo(f"{r.endpoint:9} {r.clients:7d} {r.requests:8d} {r.failed:6d} {row['p50_ms']:8.1f} "
                   f"{row['p99_ms']:8.1f} {row['per_s']:7.1f} {row['client_cpu_ms_per_request']:17.2f}")
        for problem in r.errors[:3]:
            click.echo(f"  e.g. {problem}", err=True)


@bench.command(name="speed", short_help="Ingest rate, latency, recall, memory and cold start.")
@click.option("--sizes", default="1000,100000,1000000", show_default=True,
              help="Index sizes in passages, comma-separated (1e6 needs ~3 GB of RAM and several minutes).")
@json_option
@friendly
def bench_speed(sizes: str, as_json: bool) -> None:
    """Ingest rate, question latency, recall of the approximate index, size, memory and cold start per size.

    Uses the shared Q&A benchmark (../shared/bench) as the real corpus; larger sizes are noisy copies of its
    real embeddings. Baselines (torch encoder, exact search) are measured in the same run.

    \b
    Example:
      pressroom bench speed --sizes 1000,100000
    """
    from .bench_speed import format_table, run

    counts = _numbers(sizes, "--sizes", 10, 5_000_000)
    result = run(counts, log=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))


@bench.command(name="quality", short_help="Recall and MRR of bm25, dense and Press Room on Q&A.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--split", type=click.Choice(["test", "tune", "all"]), default="test", show_default=True,
              help="Questions asked: the latest 30 % of dates (test), the rest (tune), or all.")
@click.option("--steps", is_flag=True, help="Also show, on the tune split, what each step of the ranking adds.")
@click.option("--off-topic", "off_topic", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Questions with no answer in FILE, one a line: report how many get none.")
@click.option("--tuned", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A model folder from `pressroom tune FILE --split tune`: adds the method pressroom-tuned (and, "
                   "with --off-topic, its abstention at its own threshold).")
@click.option("--compare", default="", metavar="LIST",
              help="Add, comma-separated: bge-small, mpnet (dense-X and pressroom-X with that model), rerank "
                   "(pressroom+rerank and pressroom+blend: the cross-encoder over Press Room's top 20).")
@click.option("--rewordings", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Short rewordings of FILE's questions, '<pair id>\\t<rewording>' a line (e.g. "
                   "tests/data/rewordings.tsv): a second table, with the questions indexed as keys.")
@click.option("--chinese", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Questions of FILE in Chinese ('<id>TAB<question>' lines): adds the cross-lingual table.")
@click.option("--chinese-off-topic", "chinese_off_topic", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Chinese questions with no answer in FILE: how many the multilingual model refuses.")
@model_option
@json_option
@friendly
def bench_quality(file: Path, split: str, steps: bool, off_topic: Path | None, tuned: Path | None, compare: str,
                  rewordings: Path | None, chinese: Path | None, chinese_off_topic: Path | None, model: str | None,
                  as_json: bool) -> None:
    """Recall@1/5/10, MRR@10 and ms per question of bm25, dense and Press Room on a question→answer file.

    FILE is JSONL with question, answer and date on each line ('-' reads it from stdin). The corpus is its
    distinct answers; each question should find its own answer. With --rewordings, a second protocol: each
    answer is also keyed by the questions it replied to (as ingest indexes it), and each short rewording should
    find the answer of the pair it rewords (by the pair's "id").

    tests/data/qa_sample.jsonl is the shipped transcripts' 11 pairs (too few to tell methods apart: it shows the
    table); ../shared/bench/mfa_qa.jsonl is the Foreign Ministry benchmark beside a clone. --compare bge-small and
    rerank need `make install-test`, mpnet `make install-mpnet`.

    \b
    Example:
      pressroom bench quality tests/data/qa_sample.jsonl --split all --off-topic tests/data/off_topic_questions.txt
      pressroom bench quality ../shared/bench/mfa_qa.jsonl --rewordings tests/data/rewordings.tsv
      pressroom bench quality ../shared/bench/mfa_qa.jsonl --chinese tests/data/questions_zh.tsv \\
        --chinese-off-topic tests/data/off_topic_questions_zh.txt
      pressroom bench quality ../shared/bench/mfa_qa.jsonl --compare bge-small,rerank
    """
    from embeddings.encoder import load_encoder
    from embeddings.tune import read_manifest

    from .bench_quality import run_quality

    settings = Settings.load(model=model)
    report = run_quality(file, load_encoder(settings.model), split=split, steps=steps,
                         off_topic=_lines(off_topic) if off_topic else [],
                         tuned=load_encoder(str(tuned)) if tuned else None,
                         tuned_from=read_manifest(tuned) if tuned else None, rewordings=rewordings,
                         chinese=chinese, chinese_off_topic=_lines(chinese_off_topic) if chinese_off_topic else [],
                         compare=[key.strip() for key in compare.split(",") if key.strip()],
                         progress=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(f"{counted(report.n, 'question')} ({report.split} split, {report.dates[0]} to {report.dates[1]}), "
               f"{counted(report.answers, 'distinct answer')}, model {settings.model}")
    click.echo(_quality_table(report.methods))
    if report.tuned_from:
        click.echo(report.tuned_data())
    if report.steps:
        click.echo("\nEach step of the ranking, tune split:")
        click.echo(_quality_table(report.steps))
    if report.abstention:
        a = report.abstention
        click.echo(f"\nAbstention below {a.threshold}: {a.refused:.1%} of {counted(a.off_topic, 'off-topic question')} "
                   f"get no answer; Recall@1 lost on the {report.split} split: {a.lost_r1:.3f}")
    if report.tuned_abstention:
        a = report.tuned_abstention
        click.echo(f"Tuned model's abstention below {a.threshold}: {a.refused:.1%} of the off-topic questions get "
                   f"no answer; Recall@1 lost: {a.lost_r1:.3f}")
    if report.rewordings:
        r = report.rewordings
        click.echo(f"\n{counted(r.n, 'short rewording')} of {counted(r.pairs, 'question')}; answers also keyed by "
                   "their questions:")
        click.echo(_quality_table(r.methods))
        if r.refused is not None:
            click.echo(f"With question keys, {r.refused:.1%} of the off-topic questions get no answer.")
    if report.chinese:
        c = report.chinese
        click.echo(f"\nThe same {counted(c.n, 'question')} in English and in Chinese (answered: share not refused):")
        click.echo(_quality_table(c.methods, ("answered",)))
        click.echo(f"Chinese R@5 / English R@5 with {c.model}: {c.ratio_r5:.2f}")
        if c.off_topic_refused is not None:
            click.echo(f"Abstention of {c.model} below {c.threshold}: {c.off_topic_refused:.1%} of the Chinese "
                       "off-topic questions get no answer")


def _numbers(text: str, option: str, low: int, high: int) -> list[int]:
    """Comma-separated whole numbers (1e5 allowed) within [low, high], or a sentence saying what is wrong."""
    try:
        values = [int(float(part)) for part in text.split(",")]
    except ValueError:
        raise PressroomError(f"{option} must be numbers separated by commas (got {text!r}).") from None
    if any(not low <= v <= high for v in values):
        raise PressroomError(f"{option} must be between {low:,} and {high:,} (got {text!r}).")
    return values


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 file, stripped: questions one a line."""
    return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


def _quality_table(rows: dict[str, dict[str, float]], extra: tuple[str, ...] = ()) -> str:
    width = max(len(name) for name in rows)
    columns = ("R@1", "R@5", "R@10", "MRR@10", "p50_ms", "p99_ms", *extra)
    lines = [f"{'method':{width}} " + " ".join(f"{c:>7}" for c in columns)]
    for name, m in rows.items():
        lines.append(f"{name:{width}} " + " ".join(
            f"{m[c]:7.1f}" if c.endswith("_ms") else f"{m[c]:7.3f}" for c in columns))
    return "\n".join(lines)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except PressroomError as exc:  # raised while parsing settings, before a command runs
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
