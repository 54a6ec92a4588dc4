"""The `pressroom` command as a user runs it: JSON shape, help, settings, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from assistant.cli import cli
from assistant.settings import Settings

from .conftest import BENCH, DATA, PARAPHRASE, ROOT, SEED, copy_sources, run_cli, tree_digest, write_jsonl

pytestmark = pytest.mark.slow

SHIPPED_ID = "3c5b7a7cc2524734"  # the shipped conference's id, made from its source address


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = copy_sources(tmp_path_factory.mktemp("cli"), DATA / "scio_full_conference.txt")
    result = run_cli("ingest", str(folder), "--index", str(folder / "index"))
    assert result.returncode == 0, result.stderr
    assert "Conferences in the index: 2 (2 added, 0 updated, 0 unchanged)" in result.stdout
    return folder / "index"


@pytest.fixture
def shipped_index(tmp_path: Path) -> Path:
    """An index of the shipped transcript alone, this test's own: it may remove from it."""
    index = tmp_path / "index"
    result = run_cli("ingest", str(copy_sources(tmp_path / "in")), "--index", str(index))
    assert result.returncode == 0, result.stderr
    return index


@pytest.fixture(scope="module")
def paraphrase_answer(cli_index: Path) -> dict:
    """The index's answer to PARAPHRASE, asked once: each bad input must leave it so."""
    return ask_json(cli_index, PARAPHRASE)


def ask_json(index: Path, question: str, *extra: str) -> dict:
    result = run_cli("ask", question, "--index", str(index), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ask_json_shape(cli_index: Path) -> None:
    data = ask_json(cli_index, PARAPHRASE, "-k", "2")
    assert data["question"] == PARAPHRASE and len(data["answers"]) == 2
    top = data["answers"][0]
    assert {"text", "matched", "speaker", "conference", "date", "source", "asked_by", "asked", "score"} <= set(top)
    assert top["speaker"] == "Gu Jun" and top["asked_by"] == "Southern Metropolis Daily"
    assert (top["date"], top["held"], top["published"]) == ("2024-03-28", "2024-03-28", "2024-04-08")
    assert top["matched"] in top["text"]


def test_ask_text_output_and_stdin(cli_index: Path) -> None:
    result = run_cli("ask", "-", "--index", str(cli_index), "-k", "1", stdin=PARAPHRASE)
    assert result.returncode == 0, result.stderr
    assert "Gu Jun" in result.stdout and "in reply to Southern Metropolis Daily" in result.stdout


def test_ask_prints_less_related_answers_under_a_label(cli_index: Path) -> None:
    flags = [a["below_threshold"] for a in ask_json(cli_index, PARAPHRASE, "-k", "5")["answers"]]
    assert flags[0] is False and True in flags
    out = run_cli("ask", PARAPHRASE, "-k", "5", "--index", str(cli_index)).stdout
    first_below = flags.index(True) + 1
    assert out.count("Less closely related:") == 1
    assert out.index(f"[{first_below - 1}] ") < out.index("Less closely related:") < out.index(f"[{first_below}] ")


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    """One Q&A pair: one conference, one answer, one passage; `list` said "1 answers" and "1 passages"."""
    pair = {"date": "2025-03-03", "spokesperson": "Mao Ning", "question": "What is China's view on the summit?",
            "answer": "China hopes the summit will be a success."}
    index = str(tmp_path / "index")
    assert run_cli("ingest", str(write_jsonl(tmp_path / "qa.jsonl", [pair])), "--index", index).returncode == 0
    row, total = run_cli("list", "--index", index).stdout.splitlines()
    assert row.split()[2:6] == ["1", "answer", "1", "passage"] and total.startswith("1 conference, 1 passage, model ")
    # who answered: an archive's Q&A days all read "Regular press conference"
    assert row.endswith("  Regular press conference — Mao Ning")
    assert json.loads(run_cli("list", "--index", index, "--json").stdout)[0]["speakers"] == ["Mao Ning"]
    # with two conferences, remove leaves one passage
    second = write_jsonl(tmp_path / "more.jsonl", [{**pair, "date": "2025-03-04", "answer": "We will keep in touch."}])
    assert run_cli("ingest", str(second), "--index", index).returncode == 0
    first_id = json.loads(run_cli("list", "--index", index, "--json").stdout)[0]["id"]
    assert f"Index: 1 passage in {index}." in run_cli("remove", first_id, "--index", index).stdout


def test_no_answer_under_filters_names_them(cli_index: Path) -> None:
    """A typo in --conference must not read as "nothing was said on this": the reply names the filters."""
    result = run_cli("ask", PARAPHRASE, "--index", str(cli_index), "--conference", "five centres",
                     "--speaker", "Gu")
    assert result.returncode == 0, result.stderr
    assert "No official answer on this in the indexed transcripts among answers with speaker Gu, " \
           "conference five centres." in result.stdout


def test_a_period_in_the_question_narrows_the_answers_and_is_shown(cli_index: Path) -> None:
    """The fixtures were held on 2024-01-16 and 2024-03-28: "in March 2024" keeps the second alone, and says so."""
    question = "What are the plans for foreign trade in March 2024?"
    data = ask_json(cli_index, question, "-k", "5")
    assert data["searched"] == "What are the plans for foreign trade?"
    assert (data["filters"]["from"], data["filters"]["to"]) == ("2024-03-01", "2024-03-31")
    assert data["answers"] and {a["date"] for a in data["answers"]} == {"2024-03-28"}
    out = run_cli("ask", question, "--index", str(cli_index), "-k", "5").stdout
    assert "Searched: What are the plans for foreign trade?  (answers with from 2024-03-01, to 2024-03-31)" in out
    # with --to, both apply: none held in March 2024 before 2024-02-01
    out = run_cli("ask", question, "--index", str(cli_index), "--to", "2024-02-01").stdout
    assert "No official answer on this in the indexed transcripts among answers with from 2024-03-01, " \
           "to 2024-02-01." in out


def test_index_from_environment(cli_index: Path) -> None:
    result = run_cli("list", env={"PRESSROOM_INDEX": str(cli_index)})
    assert result.returncode == 0 and "2 conferences, " in result.stdout


def test_unknown_setting_is_an_error(cli_index: Path) -> None:
    result = run_cli("list", env={"PRESSROOM_INDX": str(cli_index)})
    assert result.returncode == 1 and "Unknown setting PRESSROOM_INDX" in result.stderr


@pytest.mark.parametrize("command", ["ingest", "ask", "list", "show", "remove", "serve", "doctor", "tune", "bench",
                                     "bench load", "bench speed", "bench quality"])
def test_help_has_an_example(command: str) -> None:
    result = run_cli(*command.split(), "--help")
    assert result.returncode == 0 and "Example:" in result.stdout and "pressroom " + command in result.stdout


@pytest.mark.parametrize("group", [(), ("bench",)])
def test_command_lists_fit_80_columns_uncut(group: tuple[str, ...]) -> None:
    """Click cuts a command's summary with "..." where it does not fit; each has one that fits."""
    result = run_cli(*group, "--help", env={"COLUMNS": "80"})
    listed = result.stdout.split("Commands:")[1].strip().splitlines()
    assert result.returncode == 0 and len(listed) >= 3 and not [row for row in listed if row.endswith("...")], listed
    assert all(len(row) <= 80 for row in listed), listed


@pytest.mark.parametrize(("command", "options"), [
    ("ask", ["-k N", "--from YYYY-MM-DD", "--to YYYY-MM-DD"]),
    ("serve", ["--port N", "-k N", "--concurrency N", "--queue N", "--workers N"]),
])
def test_help_names_numbers_and_dates_as_such(command: str, options: list[str]) -> None:
    """These options are read as text (the settings object converts them), so click would call them TEXT."""
    result = run_cli(command, "--help")
    assert result.returncode == 0 and all(option in result.stdout for option in options), result.stdout


@pytest.mark.parametrize("command", ["ask", "ingest"])
def test_index_pointed_at_a_folder_of_transcripts_is_refused(tmp_path: Path, command: str) -> None:
    """`--index data/` must not turn the transcripts' folder into an index (ingest then skips what is inside)."""
    folder = tmp_path / "transcripts"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    args = ("ask", PARAPHRASE) if command == "ask" else ("ingest", str(SEED))
    result = run_cli(*args, "--index", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Error: {folder} holds other files ({SEED.name}) and no index; give --index a new or empty folder, " \
           f"e.g. {folder / 'index'}." in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == [SEED.name]


def test_rebuild_says_what_it_drops(tmp_path: Path) -> None:
    """--rebuild keeps only the paths given: the conferences of other sources are gone, and the summary says so."""
    root = str(tmp_path / "ix")
    result = run_cli("ingest", str(SEED), str(DATA / "scio_full_conference.txt"), "--index", root)
    assert result.returncode == 0 and "Conferences in the index: 2 (2 added" in result.stdout, result.stderr
    result = run_cli("ingest", "--rebuild", str(DATA / "no_blank_lines.txt"), "--index", root)
    assert result.returncode == 0, result.stderr
    assert "Conferences in the index: 1 (1 added, 0 updated, 0 unchanged); 2 removed." in result.stdout
    assert len(json.loads(run_cli("list", "--index", root, "--json").stdout)) == 1
    assert "conferences from other sources are dropped" in " ".join(run_cli("ingest", "--help").stdout.split())


def _bad_file(tmp: Path, name: str, content: bytes) -> str:
    path = tmp / name
    path.write_bytes(content)
    return str(path)


BAD_ASKS = {
    "empty": ("", "The question is empty"),
    "whitespace": ("  \t ", "The question is empty"),
    "100kB": ("y" * 100_000, "characters long; the limit is 2,000"),
}


@pytest.mark.parametrize("case", list(BAD_ASKS))
def test_bad_questions_one_sentence(cli_index: Path, case: str) -> None:
    before = tree_digest(cli_index)
    question, message = BAD_ASKS[case]
    result = run_cli("ask", question, "--index", str(cli_index))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert tree_digest(cli_index) == before


BAD_INGESTS = {
    "non-utf8": (lambda t: _bad_file(t, "cp1252.txt", "Gu Jun:\nCaf\u00e9 prices.\n".encode("cp1252")),
                 "is not UTF-8 text"),
    "binary": (lambda t: _bad_file(t, "binary.txt", bytes(range(256)) * 4), "binary file"),
    "no-speakers": (lambda t: str(shutil.copy(DATA / "no_speakers.txt", t)), "has no speaker lines"),
    "empty-folder": (lambda t: str((t / "empty").mkdir() or t / "empty"), "No transcripts found under"),
    "missing-path": (lambda t: str(t / "nope.txt"),
                     "nope.txt does not exist; check the path (ingest takes files, folders, http(s) addresses and "
                     "'-' for stdin: `pressroom ingest --help`)."),
}


@pytest.mark.parametrize("case", list(BAD_INGESTS))
def test_bad_ingest_one_sentence_and_index_unchanged(cli_index: Path, paraphrase_answer: dict, tmp_path: Path,
                                                     case: str) -> None:
    before = tree_digest(cli_index)
    make, message = BAD_INGESTS[case]
    result = run_cli("ingest", make(tmp_path), "--index", str(cli_index))
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(cli_index) == before
    assert ask_json(cli_index, PARAPHRASE) == paraphrase_answer


@pytest.mark.parametrize(("args", "env", "named"), [
    ((), {"PRESSROOM_INDEX": ""}, "PRESSROOM_INDEX"),
    (("--index", ""), {}, "--index"),
    ((), {"PRESSROOM_DATA": " "}, "PRESSROOM_DATA"),
])
def test_an_empty_folder_setting_is_an_error_not_the_current_folder(args: tuple[str, ...], env: dict[str, str],
                                                                    named: str) -> None:
    """`export PRESSROOM_INDEX=$UNSET` must not build an index (or read transcripts) wherever the command runs."""
    result = run_cli("ask", PARAPHRASE, *args, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {named} is empty; give a folder (the default is "), \
        result.stderr


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command of ``group``, the nested ones too, each with its name as typed ("bench quality")."""
    found = []
    for name, command in group.commands.items():
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found += _commands(command, prefix + name + " ")
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_option_says_what_it_does_and_a_setting_its_default(name: str, command: click.Command) -> None:
    """--help is where a newcomer looks: `tune --epochs` said nothing, `--model` named no model and no default."""
    settings = {f.name for f in dataclasses.fields(Settings)}
    for option in (p for p in command.params if isinstance(p, click.Option) and p.name != "help"):
        assert option.help, f"pressroom {name} {option.opts[0]} has no help"
        if option.name in settings:
            assert "default" in option.help, f"pressroom {name} {option.opts[0]} does not say its default"


@pytest.mark.parametrize("command", [("list",), ("ask", PARAPHRASE), ("ingest", str(SEED)), ("doctor",),
                                     ("remove", SHIPPED_ID[:6]), ("show", "five centers"), ("serve",)])
def test_index_pointed_at_a_file_is_one_sentence(tmp_path: Path, command: tuple[str, ...]) -> None:
    """`--index data/x.txt` gave list, doctor, remove and show a NotADirectoryError traceback."""
    path = Path(shutil.copy(SEED, tmp_path / SEED.name))
    result = run_cli(*command, "--index", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == f"Error: The index {path} is a file; give --index (or PRESSROOM_INDEX) a folder: an " \
                            "index, or a new or empty folder.\n"
    assert path.read_bytes() == SEED.read_bytes()


def test_asking_an_index_emptied_by_remove_says_so(shipped_index: Path) -> None:
    """Every conference removed: "No official answer on this" would read as if the transcripts had nothing on it."""
    assert run_cli("remove", SHIPPED_ID, "--index", str(shipped_index)).returncode == 0
    result = run_cli("ask", PARAPHRASE, "--index", str(shipped_index))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"Error: The index at {shipped_index} holds no conferences; add transcripts with " \
                            "`pressroom ingest PATH…`.\n"


def test_an_unquoted_question_is_asked_whole(cli_index: Path) -> None:
    """`pressroom ask How will Shanghai …` without quotes: click said "Got unexpected extra arguments (will …)"."""
    result = run_cli("ask", *PARAPHRASE.split(), "--index", str(cli_index), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ask_json(cli_index, PARAPHRASE)


@pytest.mark.parametrize("command", ["show", "remove"])
def test_the_help_examples_work_on_the_shipped_transcript(shipped_index: Path, command: str) -> None:
    """Their ids are the shipped conference's (ids come from its source address), not made-up ones that fail."""
    examples = [shlex.split(line)[1:] for line in run_cli(command, "--help").stdout.splitlines()
                if line.strip().startswith(f"pressroom {command} ")]
    assert examples
    for args in examples:
        result = run_cli(*args, "--index", str(shipped_index))
        assert result.returncode == 0, (args, result.stderr)


def _pressroom_in(folder: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """`pressroom` run from ``folder``: what ingest reads from stdin must not depend on where it runs."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSROOM_")}
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True,
                          env=env, cwd=folder, input=stdin, timeout=300)


def test_ingest_reads_a_transcript_from_stdin(tmp_path: Path) -> None:
    """`pressroom ingest -`: a conference with no source address gets an id from its content, the same from any
    folder, and `show` says it came from stdin."""
    index = tmp_path / "index"
    text = (DATA / "user_transcript.txt").read_text("utf-8")
    first = _pressroom_in(tmp_path / "a", "ingest", "-", "--index", str(index), stdin=text)
    assert first.returncode == 0, first.stderr
    assert "1 read" in first.stdout and "(1 added, " in first.stdout
    again = _pressroom_in(tmp_path / "b", "ingest", "-", "--index", str(index), stdin=text)
    assert again.returncode == 0, again.stderr
    assert "1 unchanged" in again.stdout and "(0 added, " in again.stdout
    (conference,) = json.loads(run_cli("list", "--index", str(index), "--json").stdout)
    other = tmp_path / "other"
    assert _pressroom_in(tmp_path / "c", "ingest", "-", "--index", str(other), stdin=text).returncode == 0
    assert [c["id"] for c in json.loads(run_cli("list", "--index", str(other), "--json").stdout)] == [conference["id"]]
    shown = run_cli("show", conference["id"], "--index", str(index))
    assert shown.returncode == 0, shown.stderr
    assert "page 1: stdin:" in shown.stdout and "Liu Liehong" in shown.stdout
    assert "'-' reads one transcript from stdin" in run_cli("ingest", "--help").stdout


def test_ingest_tells_piped_pages_and_qa_apart_by_content(tmp_path: Path) -> None:
    """A saved page and Q&A lines piped in are read as such, as their suffixes would tell: the page gets the
    same conference (and id) as the file."""
    page = DATA / "html" / "desktop" / "content_117111081_7.htm"
    from_file, piped = tmp_path / "file", tmp_path / "piped"
    assert run_cli("ingest", str(page), "--index", str(from_file)).returncode == 0
    result = run_cli("ingest", "-", "--index", str(piped), stdin=page.read_text("utf-8"))
    assert result.returncode == 0, result.stderr
    listed = [json.loads(run_cli("list", "--index", str(folder), "--json").stdout) for folder in (from_file, piped)]
    assert [(c["id"], c["title"], c["passages"]) for c in listed[0]] == \
        [(c["id"], c["title"], c["passages"]) for c in listed[1]]
    qa = json.dumps({"question": "Any comment on the trade talks?", "title": "Piped briefing",
                     "answer": "The talks on trade were constructive and both sides agreed to continue them.",
                     "spokesperson": "Mao Ning", "date": "2024-01-02"}) + "\n"
    result = run_cli("ingest", "-", "--index", str(piped), stdin=qa)
    assert result.returncode == 0, result.stderr
    titles = {c["title"] for c in json.loads(run_cli("list", "--index", str(piped), "--json").stdout)}
    assert "Piped briefing" in titles and len(titles) == 2
    answer = ask_json(piped, "Were the trade talks constructive?", "-k", "1")["answers"][0]
    assert (answer["speaker"], answer["source"].startswith("stdin:")) == ("Mao Ning", True)


HELP_COMMANDS = ["", "ingest", "ask", "list", "show", "remove", "serve", "doctor", "tune", "bench", "bench load",
                 "bench speed", "bench quality"]
EXAMPLE_FILES = {".jsonl", ".txt", ".tsv", ".htm", ".html", ".md"}


def _help_examples(command: str) -> list[str]:
    """The example command lines of a --help, continuation lines joined."""
    text = run_cli(*command.split(), "--help").stdout
    lines = [line.strip() for line in text.split("Example:" if command else "Quick start:")[1].splitlines()]
    examples: list[str] = []
    for line in lines:
        if examples and examples[-1].endswith("\\"):
            examples[-1] = examples[-1][:-1] + line
        elif line.startswith(("pressroom ", "cat ")):
            examples.append(line)
    return examples


def test_the_files_help_examples_name_exist_in_a_clone() -> None:
    """An example must run as printed: no `my_qa.jsonl` that no one has; the shared benchmark beside the clone
    counts when it is there."""
    named = [(command, word) for command in HELP_COMMANDS for example in _help_examples(command)
             for word in shlex.split(example) if Path(word).suffix in EXAMPLE_FILES and "://" not in word]
    assert len(named) >= 8, named
    missing = [(command, word) for command, word in named
               if not (ROOT / word).is_file() and not (word.startswith("../shared/") and not BENCH.exists())]
    assert not missing, missing


def test_the_bench_quality_example_on_the_shipped_pairs_runs() -> None:
    (example,) = [e for e in _help_examples("bench quality") if "qa_sample.jsonl" in e]
    result = run_cli(*shlex.split(example)[1:])
    assert result.returncode == 0, result.stderr
    assert "11 questions (all split, 2024-01-16 to 2024-05-16), 11 distinct answers" in result.stdout
    assert "off-topic questions get no answer" in result.stdout
