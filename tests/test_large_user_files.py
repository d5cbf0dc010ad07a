"""A newsroom's own files at scale: a taxonomy of thousands of entities, a feed list of
thousands of feeds. What they cost is asserted as counts, never times: which YAML scanner
reads them, how many first characters the tagger's automaton passes over at each character
of a story."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_tagger import TIKTOK_TEXT, TIKTOK_TITLE, assert_evidence_exact
from transforms.feedlist import read_feed_list
from transforms.tagger import Tagger
from transforms.tagger.matcher import Matcher, Pattern
from transforms.tagger.taxonomy import load_taxonomy

ENTITIES = 5000


def many_entities(path: Path, count: int = ENTITIES) -> Path:
    """A user taxonomy of ``count`` state actors, each with a Latin, a Cyrillic and a Chinese
    name, the Chinese ones each starting with a character of their own (as a newsroom's list
    of companies or officials written in Chinese does, near enough), and a rule per 20."""
    lines = ["state_actors:"]
    for i in range(count):
        chinese = chr(0x5000 + i) + chr(0x7000 + i % 200) + "集团"
        aliases = [f"Zorvex{i} Holdings", f"Зорвекс{i}", chinese]
        lines += [f"  zorvex_{i}:", f"    aliases: {json.dumps(aliases, ensure_ascii=False)}"]
    lines.append("rules:")
    for i in range(0, count, 20):
        lines += [
            f"  - name: zorvex_rule_{i}",
            f"    match: '{{state_actor:zorvex_{i}}} NEAR/10 (fined OR sanction*)'",
            "    weight: 0.3",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_thousands_of_first_characters_leave_the_automaton_few_to_pass_over(
    tmp_path: Path,
) -> None:
    # pyahocorasick finds a node's child by a pass over its children: with a child of the root
    # for each first character of 5,000 Chinese names, every character of every story passed
    # over thousands (tagging took 3.4 times as long as with the bundled taxonomy). Written in
    # two units each, the characters beyond ASCII give the root a few hundred at most.
    big = Tagger.load(many_entities(tmp_path / "mine.yaml"))
    firsts = {key[0] for key in big.matcher._automaton}
    assert len(firsts) <= 400
    # and the stories tag as they did: 5,000 names no story has change nothing
    bundled = Tagger.load()
    assert big.tag(TIKTOK_TITLE, TIKTOK_TEXT) == bundled.tag(TIKTOK_TITLE, TIKTOK_TEXT)
    title = "Zorvex4000 Holdings fined"
    text = (
        "Зорвекс4000 was fined by the regulator; " + chr(0x5000 + 4000) + chr(0x7000) + "集团 said."
    )
    result = big.tag(title, text)
    assert result.state_actors == ("zorvex_4000",)
    assert "zorvex_rule_4000" in result.rules
    assert_evidence_exact(result, title, text)


def test_hits_beyond_ascii_keep_the_texts_offsets_with_thousands_of_first_characters() -> None:
    chinese = [Pattern(chr(0x5000 + i) + "集团", "entity", f"s:{i}") for i in range(3000)]
    patterns = chinese + [
        Pattern("抖音", "entity", "p:douyin"),
        Pattern("дуров", "entity", "p:durov"),
        Pattern("TikTok", "entity", "p:tiktok"),
        Pattern("café", "term", "cafe", prefix=True),
        Pattern("ÉLYSÉE", "entity", "s:elysee", case_sensitive=True),
        Pattern("ß", "term", "eszett"),
    ]
    matcher = Matcher(tuple(patterns))
    assert len({key[0] for key in matcher._automaton}) <= 400
    # characters of one, two and four UTF-8 bytes (an astral emoji) before and between hits
    text = (
        "😀 Ça va: 抖音 et Дуров, ÉLYSÉE, élysée, cafés 😀 TikTok ß " + chr(0x5000 + 2999) + "集团"
    )
    hits = matcher.find("body", text)
    assert [(text[h.start : h.end], h.pattern.key) for h in hits] == [
        ("抖音", "p:douyin"),
        ("Дуров", "p:durov"),
        ("ÉLYSÉE", "s:elysee"),
        ("cafés", "cafe"),
        ("TikTok", "p:tiktok"),
        ("ß", "eszett"),
        (chr(0x5000 + 2999) + "集团", "s:2999"),
    ]


def test_user_yaml_files_are_read_by_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyYAML's own scanner read 150-200 KB a second: a taxonomy of 5,000 entities took 5.4 s
    # at each load, a feed list of 10,000 feeds 4.9 s; libyaml, which PyYAML's wheels have,
    # reads either in under half a second.
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml")
    scanned = []
    original = yaml.scanner.Scanner.fetch_more_tokens

    def counting(self: yaml.scanner.Scanner) -> None:
        scanned.append(1)
        original(self)

    monkeypatch.setattr(yaml.scanner.Scanner, "fetch_more_tokens", counting)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{url: https://f{i}.example/rss, name: Feed {i}, country: GB}}\n"
            for i in range(2000)
        ),
        encoding="utf-8",
    )
    assert len(read_feed_list(feeds)) == 2000
    taxonomy = load_taxonomy(many_entities(tmp_path / "mine.yaml", 300))
    assert len(taxonomy.entities) > 300
    assert scanned == []


def test_each_step_instance_shares_its_process_load_of_a_users_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beam sets up a DoFn instance per bundle run at a time (each thread of a Dataflow SDK
    # process, each local worker): each loaded the user's taxonomy and catalogue again, and
    # held a copy (34 MB for 5,000 entities, 31 MB for 50,000 outlets).
    from transforms.enrich import _EnrichArticlesFn
    from transforms.outlets import OutletCatalogue
    from transforms.tag import _TagStoriesFn

    loads: list[str] = []
    load_tagger, load_outlets = Tagger.load.__func__, OutletCatalogue.load.__func__  # type: ignore[attr-defined]

    def counted_tagger(cls: type[Tagger], path: str | Path | None = None) -> Tagger:
        loads.append("tagger")
        return load_tagger(cls, path)

    def counted_outlets(cls: type[OutletCatalogue], path: str | Path | None = None) -> Any:
        loads.append("outlets")
        return load_outlets(cls, path)

    monkeypatch.setattr(Tagger, "load", classmethod(counted_tagger))
    monkeypatch.setattr(OutletCatalogue, "load", classmethod(counted_outlets))
    taxonomy = many_entities(tmp_path / "mine.yaml", 50)
    catalogue = tmp_path / "outlets.csv"
    catalogue.write_text("domain,name\nzorvex.example,Zorvex Daily\n", encoding="utf-8")
    taggers = [_TagStoriesFn(str(taxonomy), False) for _ in range(3)]
    enrichers = [_EnrichArticlesFn(str(catalogue)) for _ in range(3)]
    for fn in (*taggers, *enrichers):
        fn.setup()
    assert sorted(loads) == ["outlets", "tagger"]
    assert all(fn._tagger is taggers[0]._tagger for fn in taggers)
    assert all(fn._outlets is enrichers[0]._outlets for fn in enrichers)
    # a file whose bytes changed is loaded again (one process running several pipelines)
    many_entities(taxonomy, 60)
    catalogue.write_text("domain,name\nzorvex.example,Zorvex Weekly\n", encoding="utf-8")
    again, enricher = _TagStoriesFn(str(taxonomy), False), _EnrichArticlesFn(str(catalogue))
    again.setup()
    enricher.setup()
    assert sorted(loads) == ["outlets", "outlets", "tagger", "tagger"]
    assert again._tagger is not None
    assert again._tagger.tag("Zorvex55 Holdings fined", "").state_actors == ("zorvex_55",)
    assert enricher._outlets is not None
    assert enricher._outlets.lookup("zorvex.example").name == "Zorvex Weekly"


def test_step_instances_set_up_at_once_on_several_threads_share_one_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dataflow's SDK threads set up their instances at once as a job starts: each thread
    # found nothing kept yet (functools.lru_cache does not hold the others back while one
    # loads), so each loaded the file and held its own copy (six threads: six loads).
    import threading

    from transforms import loaded
    from transforms.tag import _TagStoriesFn

    threads = 6
    arrived = threading.Semaphore(0)  # released by each thread as it asks for the tagger
    loads: list[str | Path | None] = []
    load_tagger, digest = Tagger.load.__func__, loaded._digest  # type: ignore[attr-defined]

    def arriving(path: str | Path | None) -> str | None:
        arrived.release()
        return digest(path)

    def slow_load(cls: type[Tagger], path: str | Path | None = None) -> Tagger:
        loads.append(path)
        if len(loads) == 1:  # the first load lasts until every thread has asked
            for _ in range(threads):
                assert arrived.acquire(timeout=60)
        return load_tagger(cls, path)

    monkeypatch.setattr(loaded, "_digest", arriving)
    monkeypatch.setattr(Tagger, "load", classmethod(slow_load))
    taxonomy = many_entities(tmp_path / "mine.yaml", 50)
    fns = [_TagStoriesFn(str(taxonomy), False) for _ in range(threads)]
    workers = [threading.Thread(target=fn.setup) for fn in fns]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(loads) == 1
    assert all(fn._tagger is fns[0]._tagger for fn in fns)
