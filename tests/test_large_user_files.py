"""A newsroom's own files at scale: a taxonomy of thousands of entities, a feed list of
thousands of feeds. What they cost is asserted as counts, never times: which YAML scanner
reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from transforms.feedlist import read_feed_list
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
