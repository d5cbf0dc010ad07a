"""Tests for `newsbeam tag` (pipelines/tag_command.py), called in-process and as a module."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pipelines import tag_command
from pipelines.jsonl_command import replaced_on_success
from tests.conftest import NEEDS_DEV_FULL, evidence_problems
from transforms.records import (
    Article,
    DuplicateLink,
    FeedEntry,
    Outlet,
    Story,
    TaggedStory,
    TagResult,
)
from transforms.sinks import to_json_line

ROOT = Path(__file__).resolve().parents[1]

STORY = {
    "id": "s1",
    "title": "FCC bans Huawei and ZTE equipment over national security risks",
    "text": "The FCC banned new Huawei and ZTE gear, citing national security threats.",
    "url": "https://example.test/a",
    "language": "en",
}
OTHER = {"id": "s2", "title": "Gardening in spring", "text": "Plant the tomatoes early."}


def pipeline_story_line(
    story_id: str, title: str, text: str, url: str, language: str | None = "en"
) -> str:
    """A line of ``DIR/stories-*.jsonl``, made as the pipeline makes it (``WriteStories``)."""
    entry = FeedEntry(feed_url="https://example.test/feed.xml", link=url, key=url)
    article = Article(
        entry=entry,
        url=url,
        final_url=url,
        canonical_url=url,
        title=title,
        text=text,
        authors=("Staff Reporter",),
        published_at="2026-02-10T09:00:00Z",
        language=language,
    )
    outlet = Outlet(domain="example.test", name="Example", country="US", language="en")
    story = Story(story_id, article, outlet, language, article.published_at)
    tagging = TagResult(relevant=True, score=0.5, platforms=("tiktok",))  # the pipeline's own
    return to_json_line(TaggedStory(story, tagging, cluster_id=story_id).to_json())


def pipeline_link_line(story_id: str, duplicate_of: str, url: str) -> str:
    """A ``--duplicates link`` record, as the pipeline writes it beside its stories."""
    link = DuplicateLink(story_id, duplicate_of, duplicate_of, url, "example.test")
    return to_json_line(link.to_json())


def run(tmp_path: Path, lines: list[str], *extra: str) -> tuple[int, list[dict]]:
    src = tmp_path / "in.jsonl"
    dst = tmp_path / "out.jsonl"
    src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    parser = argparse.ArgumentParser(prog="newsbeam")
    tag_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tag", "--input", str(src), "--output", str(dst), *extra])
    code = args.func(args)
    out = dst.read_text(encoding="utf-8").splitlines() if dst.exists() else []
    return code, [json.loads(line) for line in out]


def test_tags_each_line_in_order(tmp_path: Path) -> None:
    code, out = run(tmp_path, [json.dumps(STORY), "", json.dumps(OTHER)])
    assert code == 0
    assert [o["id"] for o in out] == ["s1", "s2"]
    first = out[0]
    assert set(first) >= {
        "id",
        "relevant",
        "score",
        "platforms",
        "state_actors",
        "controversies",
        "tags",
    }
    assert first["relevant"] is True
    assert {"huawei", "zte"} <= set(first["platforms"])
    assert "united_states" in first["state_actors"]
    assert out[1]["relevant"] is False
    assert evidence_problems(STORY["title"], STORY["text"], first["tags"]) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: bad JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        ('{"id": "x", "title": "t"}', "line 2: no 'text'"),
        ('{"id": "x", "title": "t", "text": 5}', "line 2: 'text' must be a string"),
        ('{"title": "t", "text": "x"}', "line 2: no 'id' (or 'story_id')"),
        ('{"story_id": 7, "title": "t", "text": "x"}', "line 2: 'story_id' must be a string"),
    ],
)
def test_bad_input_is_one_line_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    code, _ = run(tmp_path, [json.dumps(OTHER), line])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(input=str(tmp_path / "nope.jsonl"), output=None, taxonomy=None)
    assert tag_command.run(args) == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and "No such file" in err


def test_output_may_name_the_input_file(tmp_path: Path) -> None:
    path = tmp_path / "stories.jsonl"
    path.write_text(json.dumps(STORY) + "\n" + json.dumps(OTHER) + "\n", encoding="utf-8")
    args = argparse.Namespace(input=str(path), output=str(path), taxonomy=None)
    assert tag_command.run(args) == 0
    out = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(o["id"], o["relevant"]) for o in out] == [("s1", True), ("s2", False)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stories.jsonl"]  # nothing left over


def test_bad_line_leaves_the_output_file_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(STORY) + "\n{not json\n", encoding="utf-8")
    dst.write_text("yesterday's tags\n", encoding="utf-8")
    args = argparse.Namespace(input=str(src), output=str(dst), taxonomy=None)
    assert tag_command.run(args) == 2
    assert "line 2: bad JSON" in capsys.readouterr().err
    assert dst.read_text(encoding="utf-8") == "yesterday's tags\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_output_that_is_a_directory_is_named_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The message used to name the temporary file the output is written to, not the directory.
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(OTHER) + "\n", encoding="utf-8")
    args = argparse.Namespace(input=str(src), output=str(tmp_path), taxonomy=None)
    assert tag_command.run(args) == 2
    assert capsys.readouterr().err == f"newsbeam tag: {tmp_path}: Is a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no temporary left


def test_a_lone_surrogate_escape_is_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # JSON may escape half of a UTF-16 pair; such a string cannot be written as UTF-8, which
    # used to end the command with a traceback once the output was written.
    paired = json.dumps({**OTHER, "id": "s3", "title": "Emoji \ud83d\ude00"})
    lone = '{"id": "s4", "title": "half \\ud800 a pair", "text": "x"}'
    code, out = run(tmp_path, [paired, lone])
    err = capsys.readouterr().err
    assert (code, out) == (2, [])
    assert err.startswith(f"newsbeam tag: {tmp_path / 'in.jsonl'}: line 2: a string holds a lone")
    assert run(tmp_path, [paired])[0] == 0


def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # `newsbeam tag ... | head -1`: it printed "newsbeam tag: : Broken pipe" and exit code 2.
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after `head` exits
    try:
        proc = _tag_200_stories_to(write_end, tmp_path)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def _tag_200_stories_to(stdout: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``newsbeam tag`` of 200 stories, in a process of its own writing to ``stdout``."""
    src = tmp_path / "in.jsonl"
    src.write_text((json.dumps(STORY) + "\n") * 200, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "tag", "--input", str(src)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        cwd=ROOT,
    )


@NEEDS_DEV_FULL
def test_a_full_stdout_is_named(tmp_path: Path) -> None:
    # It said "newsbeam tag: : No space left on device" (an error with no file name).
    with open("/dev/full", "w") as full:
        proc = _tag_200_stories_to(full, tmp_path)
    assert (proc.returncode, proc.stderr) == (
        2,
        "newsbeam tag: standard output: No space left on device\n",
    )


def test_output_in_a_missing_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(OTHER) + "\n", encoding="utf-8")
    missing = tmp_path / "no" / "out.jsonl"
    args = argparse.Namespace(input=str(src), output=str(missing), taxonomy=None)
    assert tag_command.run(args) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "No such file" in err and "partial" not in err


def test_bad_taxonomy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tax.yaml"
    bad.write_text("rules:\n  - name: r\n    match: 'a OR'\n", encoding="utf-8")
    code, _ = run(tmp_path, [json.dumps(OTHER)], "--taxonomy", str(bad))
    err = capsys.readouterr().err
    assert code == 2
    assert "rule 'r'" in err and "position 4" in err


def test_module_reads_stdin_and_writes_stdout() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.tag_command"],
        input=json.dumps(STORY) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["id"] == "s1"


def test_a_missing_id_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {k: v for k, v in OTHER.items() if k != "id"}
    code, _ = run(tmp_path, [json.dumps(OTHER), json.dumps(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"newsbeam tag: {tmp_path / 'in.jsonl'}: line 2: no 'id' (or 'story_id')\n"


@pytest.mark.parametrize("language", [None, 5, "xx"])
def test_a_language_field_does_not_change_the_tags(tmp_path: Path, language: object) -> None:
    # aliases of every language apply to every story, so the tagger does not ask for one
    _, expected = run(tmp_path, [json.dumps({k: v for k, v in STORY.items() if k != "language"})])
    code, out = run(tmp_path, [json.dumps(STORY | {"language": language})])
    assert code == 0 and out == expected and out[0]["relevant"]


def test_output_is_utf8_not_ascii_escapes(tmp_path: Path) -> None:
    code, _ = run(tmp_path, [json.dumps(OTHER | {"id": "caf\u00e9-\u6f22"})])
    assert code == 0
    assert '"id": "caf\u00e9-\u6f22"' in (tmp_path / "out.jsonl").read_text(encoding="utf-8")


def test_input_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "latin1.jsonl"
    line = json.dumps(OTHER | {"title": "Caf\u00e9"}, ensure_ascii=False)
    src.write_bytes(line.encode("latin-1"))
    args = argparse.Namespace(input=str(src), output=str(tmp_path / "out.jsonl"), taxonomy=None)
    assert tag_command.run(args) == 2
    at = line.index("\u00e9") + 1  # the line and the byte
    assert capsys.readouterr().err == (
        f"newsbeam tag: {src}: line 1: not UTF-8 (byte 0xe9 at character {at})\n"
    )
    assert not (tmp_path / "out.jsonl").exists()


def test_missing_input_file_is_named_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    args = argparse.Namespace(input=str(missing), output=None, taxonomy=None)
    assert tag_command.run(args) == 2
    assert capsys.readouterr().err == f"newsbeam tag: {missing}: No such file or directory\n"


def test_dash_is_stdin_and_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "-" is the usual spelling of "no file": no file named "-" is read or written.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(OTHER) + "\n"))
    args = argparse.Namespace(input="-", output="-", taxonomy=None)
    assert tag_command.run(args) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == ["s2"]
    assert captured.err == "" and list(tmp_path.iterdir()) == []


def test_output_file_gets_the_usual_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written through a private temporary file (mode 0600), but it ends up readable as
    # open(path, "w") would have made it, under the umask.
    old = os.umask(0o022)
    try:
        code, _ = run(tmp_path, [json.dumps(OTHER)])
    finally:
        os.umask(old)
    assert code == 0
    assert stat.S_IMODE((tmp_path / "out.jsonl").stat().st_mode) == 0o644


def test_an_output_that_is_no_regular_file_is_written_in_place_not_replaced(
    tmp_path: Path,
) -> None:
    # A file renamed over it turned /dev/null (and a named pipe) into a regular file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(
        target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    try:
        code, _ = run(tmp_path, [json.dumps(OTHER)], "--output", str(fifo))
    finally:
        reader.join(timeout=30)  # only if the command never opened the pipe
    assert code == 0 and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [json.loads(line)["id"] for line in received[0].splitlines()] == ["s2"]


def test_an_output_that_is_a_link_replaces_the_file_it_names_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "kept" / "tags.jsonl"
    target.parent.mkdir()
    target.write_text("yesterday's tags\n", encoding="utf-8")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    code, _ = run(tmp_path, [json.dumps(OTHER)], "--output", str(link))
    assert code == 0 and link.is_symlink() and link.resolve() == target
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == ["s2"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["tags.jsonl"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    # Ctrl-C (KeyboardInterrupt, not an Exception) half way through the output.
    dst = tmp_path / "out.jsonl"
    dst.write_text("yesterday's tags\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), replaced_on_success(str(dst)) as stream:
        stream.write('{"id": "s1"}\n')
        raise KeyboardInterrupt
    assert dst.read_text(encoding="utf-8") == "yesterday's tags\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_main_takes_its_arguments(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(STORY) + "\n", encoding="utf-8")
    assert tag_command.main(["--input", str(src), "--output", str(dst)]) == 0
    assert json.loads(dst.read_text(encoding="utf-8"))["id"] == "s1"


def test_stdout_keeps_what_was_printed_before_and_stays_open_after() -> None:
    # On a real stdout (a pipe, block-buffered as usual: PYTHONUNBUFFERED would hide the
    # order), the tags come after what the process printed before and the process can print
    # after them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    code = (
        "import sys\n"
        "from pipelines import tag_command\n"
        "print('before')\n"
        "status = tag_command.main([])\n"
        "print('after')\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(STORY) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [lines[0], json.loads(lines[1])["id"], lines[2]] == ["before", "s1", "after"]
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "n": ' + "1" * 5000 + "}", "line 2: bad JSON: Exceeds the limit"),
        ("[" * 100_000, "line 2: bad JSON: maximum recursion depth exceeded"),
    ],
)
def test_json_that_python_cannot_read_is_a_bad_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    # Valid JSON syntax that json.loads still refuses (an integer over 4,300 digits, nesting
    # deeper than the recursion limit) was a traceback, not a one-line error.
    code, _ = run(tmp_path, [json.dumps(OTHER), line])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"newsbeam tag: {tmp_path / 'in.jsonl'}: {message}")
    assert len(err.strip().splitlines()) == 1


# --- the pipeline's own stories as input -------------------------------------------------


def test_tags_the_stories_the_pipeline_wrote(tmp_path: Path) -> None:
    # They name their id story_id: every line was "line 1: 'id' must be a string" (exit 2).
    # A --duplicates link record beside them has no title or text: it is skipped.
    url = STORY["url"]
    lines = [
        pipeline_story_line("a4014ce1826fac98", STORY["title"], STORY["text"], url),
        pipeline_link_line("0ba768d1347215a9", "a4014ce1826fac98", url + "?copy"),
        pipeline_story_line("e9b2c985976b12b8", OTHER["title"], OTHER["text"], url + "/2"),
    ]
    code, out = run(tmp_path, lines)
    assert code == 0
    assert [o["id"] for o in out] == ["a4014ce1826fac98", "e9b2c985976b12b8"]
    # tagged as the same story given as {id, title, text, language}
    _, expected = run(tmp_path, [json.dumps(STORY), json.dumps(OTHER)])
    assert [{**o, "id": None} for o in out] == [{**o, "id": None} for o in expected]


def test_an_id_beside_story_id_is_the_id(tmp_path: Path) -> None:
    line = json.loads(pipeline_story_line("f3808df7a1fa8f85", "T", "x", "https://e.test/a"))
    code, out = run(tmp_path, [json.dumps({**line, "id": "mine"})])
    assert (code, [o["id"] for o in out]) == (0, ["mine"])


def test_a_byte_order_mark_before_the_first_story_is_not_text(tmp_path: Path) -> None:
    # A file saved by a Windows editor: "line 1: bad JSON: Unexpected UTF-8 BOM" before.
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps(STORY) + "\n" + json.dumps(OTHER) + "\n", encoding="utf-8-sig")
    args = argparse.Namespace(input=str(src), output=str(dst), taxonomy=None)
    assert tag_command.run(args) == 0
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [o["id"] for o in out] == ["s1", "s2"]


def test_a_byte_order_mark_on_stdin_is_not_text_either() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.tag_command"],
        input=(json.dumps(STORY) + "\n").encode("utf-8-sig"),
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["id"] == "s1"
