"""Tests for `newsbeam cluster` (pipelines/cluster_command.py) on the pipeline's own stories.

(The command's other tests are in tests/test_cli.py and tests/test_minhash.py.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pipelines import cluster_command
from tests.test_tag_command import pipeline_link_line, pipeline_story_line

TEXT = (
    "The city council approved the new budget on Tuesday after a long debate about "
    "schools, roads and the harbour, and the mayor said the vote settled a year of "
    "arguments over taxes. Opposition members said they would keep pressing for a "
    "review of the harbour contract before the next election in the spring."
)


def cluster_file(tmp_path: Path, data: bytes) -> tuple[int, list[dict]]:
    """``newsbeam cluster --input FILE --output FILE`` on these bytes: exit code, output."""
    src, dst = tmp_path / "stories.jsonl", tmp_path / "clusters.jsonl"
    src.write_bytes(data)
    code = cluster_command.run(argparse.Namespace(input=str(src), output=str(dst)))
    out = dst.read_text(encoding="utf-8").splitlines() if dst.exists() else []
    return code, [json.loads(line) for line in out]


def test_clusters_the_stories_the_pipeline_wrote(tmp_path: Path) -> None:
    # They name their id story_id: "line 1: 'id' must be a string" (exit 2) before. The
    # --duplicates link record beside them, no title or text, is skipped.
    lines = [
        pipeline_story_line("a4014ce1826fac98", "Budget passes", TEXT, "https://a.test/budget"),
        pipeline_link_line("0ba768d1347215a9", "a4014ce1826fac98", "https://c.test/budget"),
        pipeline_story_line("e9b2c985976b12b8", "Budget passes", TEXT, "https://b.test/budget"),
        pipeline_story_line("61370dbfca4e7f11", "Rain", "Rain all week. " * 20, "https://b.test/r"),
    ]
    code, out = cluster_file(tmp_path, "".join(line + "\n" for line in lines).encode())
    assert code == 0
    assert out == [
        {"id": "a4014ce1826fac98", "cluster_id": "a4014ce1826fac98", "duplicate_of": None},
        {
            "id": "e9b2c985976b12b8",
            "cluster_id": "a4014ce1826fac98",
            "duplicate_of": "a4014ce1826fac98",
        },
        {"id": "61370dbfca4e7f11", "cluster_id": "61370dbfca4e7f11", "duplicate_of": None},
    ]


def test_the_url_of_a_pipeline_story_is_read(tmp_path: Path) -> None:
    # One canonical URL is one story, whatever the text: the pipeline's url field counts.
    lines = [
        pipeline_story_line("a4014ce1826fac98", "Budget passes", TEXT, "https://a.test/budget"),
        pipeline_story_line(
            "e9b2c985976b12b8", "Rain", "Rain all week. " * 20, "https://a.test/budget"
        ),
    ]
    code, out = cluster_file(tmp_path, "".join(line + "\n" for line in lines).encode())
    assert code == 0
    assert [o["duplicate_of"] for o in out] == [None, "a4014ce1826fac98"]


@pytest.mark.parametrize(
    ("story", "message"),
    [
        ({"title": "T", "text": TEXT}, "line 1: no 'id' (or 'story_id')\n"),
        ({"story_id": "a", "text": TEXT}, "line 1: no 'title'\n"),
        ({"id": "a", "title": None, "text": TEXT}, "line 1: 'title' must be a string\n"),
    ],
)
def test_a_missing_field_is_called_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], story: dict, message: str
) -> None:
    code, out = cluster_file(tmp_path, (json.dumps(story) + "\n").encode())
    assert (code, out) == (2, [])
    assert capsys.readouterr().err == f"newsbeam cluster: {tmp_path / 'stories.jsonl'}: {message}"


def test_a_byte_order_mark_before_the_first_story_is_not_text(tmp_path: Path) -> None:
    # "line 1: bad JSON: Unexpected UTF-8 BOM" (exit 2) before.
    story = {"id": "a", "title": "Budget passes", "text": TEXT}
    code, out = cluster_file(tmp_path, (json.dumps(story) + "\n").encode("utf-8-sig"))
    assert (code, [o["id"] for o in out]) == (0, ["a"])


def test_a_byte_that_is_not_utf8_is_named_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Text is decoded in blocks of several kilobytes, ahead of the lines read: the error was
    # "input is not UTF-8", naming no line. 400 good lines (~170 KB), then a Latin-1 one.
    good = [json.dumps({"id": f"s{i}", "title": "Budget", "text": TEXT}) for i in range(400)]
    bad = json.dumps({"id": "x", "title": "Caf\u00e9", "text": TEXT}, ensure_ascii=False)
    data = "".join(line + "\n" for line in good).encode() + bad.encode("latin-1") + b"\n"
    code, out = cluster_file(tmp_path, data)
    assert (code, out) == (2, [])
    at = bad.index("\u00e9") + 1
    assert capsys.readouterr().err == (
        f"newsbeam cluster: {tmp_path / 'stories.jsonl'}: line 401: not UTF-8 "
        f"(byte 0xe9 at character {at})\n"
    )
