"""User files by path (transforms/userfiles.py): --taxonomy and --outlets on Cloud Storage.

No Cloud Storage here: Beam's FileSystems is patched to serve bytes or to fail as the
store would, so these tests check what newsbeam does with a remote path, not the store.
"""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines.config import UsageError, config_from_options
from pipelines.options import NewsbeamOptions
from transforms import userfiles
from transforms.outlets import OutletCatalogue, OutletFileError
from transforms.tagger import Tagger, TaxonomyError
from transforms.userfiles import read_bytes

TAXONOMY = b"""
platforms:
  mastodon_like:
    name: Fediverse
    value: other
    aliases: [Fediverse]
"""
OUTLETS = b"domain,name,country\nnews.example,Example News,GB\n"


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """gs:// paths served from a dict, as Beam's FileSystems would serve them."""
    files: dict[str, bytes] = {}
    monkeypatch.setattr(FileSystems, "exists", lambda path: path in files)
    monkeypatch.setattr(FileSystems, "open", lambda path: io.BytesIO(files[path]))
    return files


def test_taxonomy_and_outlets_load_from_cloud_storage(bucket: dict[str, bytes]) -> None:
    bucket["gs://b/taxonomy.yaml"] = TAXONOMY
    bucket["gs://b/outlets.csv"] = OUTLETS
    tagger = Tagger.load("gs://b/taxonomy.yaml")
    assert "other" in tagger.tag("Fediverse grows", "The Fediverse " * 3).platforms
    outlet = OutletCatalogue.load("gs://b/outlets.csv").lookup("https://news.example/a")
    assert (outlet.name, outlet.country) == ("Example News", "GB")


def test_a_missing_remote_file_names_the_path_as_given(bucket: dict[str, bytes]) -> None:
    with pytest.raises(TaxonomyError, match="gs://b/none.yaml: cannot read taxonomy"):
        Tagger.load("gs://b/none.yaml")
    with pytest.raises(OutletFileError, match="gs://b/none.csv: cannot read outlet file"):
        OutletCatalogue.load("gs://b/none.csv")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Timeout of 120.0s exceeded\nlast exception: name resolution",
            "Timeout of 120.0s exceeded",
        ),
        ("\n  Timeout of 120.0s exceeded\n", "Timeout of 120.0s exceeded"),
        ("x" * 1000, "x" * (300 - len("RuntimeError: "))),
    ],
)
def test_the_stores_own_errors_become_one_line(
    monkeypatch: pytest.MonkeyPatch, message: str, expected: str
) -> None:
    def unreachable(*args: Any) -> Any:
        raise RuntimeError(message)

    monkeypatch.setattr(FileSystems, "exists", unreachable)
    with pytest.raises(OSError) as raised:
        read_bytes("gs://b/outlets.csv")
    assert str(raised.value) == f"RuntimeError: {expected}"


def test_any_remote_scheme_goes_to_beam_and_a_missing_file_stays_file_not_found(
    bucket: dict[str, bytes],
) -> None:
    bucket["s3://b/outlets.csv"] = OUTLETS
    assert read_bytes("s3://b/outlets.csv") == OUTLETS
    with pytest.raises(FileNotFoundError, match="gs://b/none.txt"):
        read_bytes("gs://b/none.txt")


def test_the_template_reads_its_files_from_cloud_storage(
    bucket: dict[str, bytes], tmp_path: Any
) -> None:
    # What a Flex Template launch passes: every file on Cloud Storage.
    bucket["gs://b/feeds.txt"] = b"https://news.example/rss\n"
    bucket["gs://b/taxonomy.yaml"] = TAXONOMY
    bucket["gs://b/outlets.csv"] = b"domain,country\nnews.example,USA\n"
    argv = ["--feeds", "gs://b/feeds.txt", "--output", str(tmp_path), "--no-state"]
    argv += ["--taxonomy", "gs://b/taxonomy.yaml"]
    config = config_from_options(NewsbeamOptions(argv))
    assert config.taxonomy_path == "gs://b/taxonomy.yaml"
    with pytest.raises(UsageError, match=r"^--outlets: gs://b/outlets.csv, line 2: country"):
        config_from_options(NewsbeamOptions([*argv, "--outlets", "gs://b/outlets.csv"]))


@pytest.mark.parametrize("remote", [False, True])
def test_a_file_past_the_size_limit_is_refused_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: dict[str, bytes], remote: bool
) -> None:
    # --feeds /dev/zero read until the machine's memory was gone.
    monkeypatch.setattr(userfiles, "MAX_USER_FILE_BYTES", 10)
    for data, path in ((b"x" * 10, "ten"), (b"x" * 11, "eleven")):
        if remote:
            bucket[f"gs://b/{path}"] = data
        else:
            (tmp_path / path).write_bytes(data)
    where = "gs://b/" if remote else f"{tmp_path}/"
    assert read_bytes(f"{where}ten") == b"x" * 10
    with pytest.raises(OSError, match="not a file newsbeam reads") as refused:
        read_bytes(f"{where}eleven")
    assert refused.value.errno == errno.EFBIG and refused.value.filename == f"{where}eleven"


def test_an_endless_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userfiles, "MAX_USER_FILE_BYTES", 1024)
    with pytest.raises(OSError, match="not a file newsbeam reads"):
        read_bytes("/dev/zero")


@pytest.mark.parametrize(
    ("unknown", "hint"),
    [
        (["nmae"], " (did you mean 'name'?)"),
        (["title"], " (known: name, url, country, language)"),  # none close enough to guess
        (["nmae", "urll"], " (known: name, url, country, language)"),  # several: no guess
    ],
)
def test_key_hint_guesses_the_key_meant_only_for_one_close_key(
    unknown: list[str], hint: str
) -> None:
    assert userfiles.key_hint(unknown, ["name", "url", "country", "language"]) == hint
