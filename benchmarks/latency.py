"""Latency: from a story appearing in a feed to its message arriving at a subscription.

A loopback news site reveals one new story every ``--every`` seconds in its RSS feed (real
articles from ../shared/corpus/streams/articlemd, wrapped in pages). ``newsbeam run
--streaming --poll-interval 2s`` runs as a subprocess, publishing to a topic on the real
Pub/Sub emulator; this script pulls from a subscription and records when each story arrives.
Latency = arrival time - the time the story appeared in the feed (both on this machine's
clock). It prints p50, p95 and the maximum over at least 50 stories, and the target: p95 under
the poll interval + 5 s. Exit code 1 when the verdict is FAIL (as the other benchmarks with a
verdict), 0 on PASS or when skipped (no corpus or no emulator: it prints ``skipped: ...``).

Usage: .venv/bin/python -m benchmarks.latency [--corpus ../shared/corpus] [--stories 60]
    [--every 0.4] [--poll-interval 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import CORPUS
from pipelines.loopback import LoopbackSite, Request, Response  # noqa: E402
from pipelines.loopback_feeds import FeedItem, rss_feed  # noqa: E402
from tests.conftest import article_html  # noqa: E402
from tests.emulator import PubSubEmulator, find_emulator, pull_all  # noqa: E402

PROJECT = "newsbeam-latency"
STARTUP_S = 8.0  # the first story appears this long after the pipeline starts


def load_articles(stream: Path, count: int) -> list[tuple[str, str]]:
    """(title, body) of ``count`` real articles from the articlemd stream's folder."""
    articles = []
    for path in sorted(stream.rglob("*.md")):
        raw = path.read_text(encoding="utf-8", errors="replace")
        title = raw.splitlines()[0].lstrip("# ").strip()
        body = raw.split("## Article:", 1)[-1].strip()
        if title and len(body) > 1500:
            articles.append((title, body))
        if len(articles) == count:
            break
    return articles


def main(argv: list[str] | None = None) -> int:
    """Measure and print the latency table.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on PASS or when skipped, 1 on FAIL.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus folder; reads the articles of streams/articlemd in it"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--stories",
        type=int,
        default=60,
        help="stories the site reveals; a PASS needs at least 50 to arrive (default: %(default)s)",
    )
    parser.add_argument(
        "--every",
        type=float,
        default=0.4,
        help="seconds between two new stories appearing in the feed (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        help="seconds between newsbeam's polls of the feed (its --poll-interval); the target is"
        " p95 under this + 5 s (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    stream = args.corpus / "streams" / "articlemd"
    if not stream.is_dir():
        print(f"skipped: corpus not found: no {stream}")
        return 0
    script = find_emulator()
    if script is None:
        print("skipped: the Pub/Sub emulator is not installed")
        return 0
    articles = load_articles(stream, args.stories)
    emulator = PubSubEmulator(script)
    emulator.start()
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        return measure(articles, args.every, args.poll_interval)
    finally:
        emulator.close()


def measure(articles: list[tuple[str, str]], every: float, poll_interval: float) -> int:
    """Run newsbeam against the revealing site and time each story to the subscription.

    Args:
        articles: (title, body) of the stories to reveal, in order.
        every: Seconds between two stories appearing in the feed.
        poll_interval: newsbeam's ``--poll-interval`` in seconds.

    Returns:
        0 when the verdict is PASS, 1 when it is FAIL.
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, "stories")
    subscription = subscriber.subscription_path(PROJECT, "latency")
    publisher.create_topic(request={"name": topic})
    subscriber.create_subscription(request={"name": subscription, "topic": topic})

    with LoopbackSite() as site, tempfile.TemporaryDirectory() as tmp:
        base = site.add_host("news")
        urls = [f"{base}/story/{n}" for n in range(len(articles))]
        for url, (title, body) in zip(urls, articles, strict=True):
            site.route("news", url[len(base) :], Response(body=article_html(title, body, url)))
        start = time.time() + STARTUP_S
        appeared = {url: start + n * every for n, url in enumerate(urls)}

        def feed(_request: Request) -> Response:
            now = time.time()
            items = [
                FeedItem(title, url, url, "", datetime.fromtimestamp(appeared[url], UTC))
                for url, (title, _) in zip(urls, articles, strict=True)
                if appeared[url] <= now
            ]
            return Response(body=rss_feed("news", base, items), content_type="application/rss+xml")

        site.route("news", "/rss", feed)
        feeds = Path(tmp) / "feeds.txt"
        feeds.write_text(f"{base}/rss\n")
        duration = STARTUP_S + len(urls) * every + poll_interval + 10
        command = [
            sys.executable, "-m", "pipelines.cli", "run", "--feeds", str(feeds),
            "--output", str(Path(tmp) / "out"), "--allow-loopback", "--no-robots",
            "--all-stories", "--duplicates", "publish", "--streaming",
            "--poll-interval", str(poll_interval), "--duration", str(duration),
            "--topic", topic,
        ]  # fmt: skip
        arrivals: dict[str, float] = {}
        stop = threading.Event()

        def collect() -> None:
            while not stop.is_set() and len(arrivals) < len(urls):
                for message in pull_all(subscription, expected=1, deadline_seconds=2):
                    url = str(json.loads(message.data).get("fetched_url", ""))
                    if url in appeared:
                        arrivals.setdefault(url, time.time())

        collector = threading.Thread(target=collect, daemon=True)
        collector.start()
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        collector.join(timeout=30)
        stop.set()
    latencies = sorted(arrivals[u] - appeared[u] for u in arrivals)
    passed = report(latencies, len(urls), poll_interval, run.returncode)
    if run.returncode != 0:
        print(run.stderr[-2000:])
    return 0 if passed else 1


def report(latencies: list[float], expected: int, poll_interval: float, code: int) -> bool:
    """Print the table and the verdict.

    Args:
        latencies: Seconds from appearing in the feed to arriving, one per story, sorted.
        expected: How many stories were revealed.
        poll_interval: newsbeam's ``--poll-interval`` in seconds.
        code: newsbeam's exit code.

    Returns:
        Whether the verdict is PASS: at least 50 stories arrived, p95 under the target.
    """
    print(f"Latency from feed to subscription: {len(latencies)} of {expected} stories arrived")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, poll interval "
        f"{poll_interval:g} s, newsbeam exit code {code}"
    )
    if not latencies:
        print("no story arrived: FAIL")
        return False
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print("| stories | p50 s | p95 s | max s | target p95 |")
    print("| ---: | ---: | ---: | ---: | --- |")
    target = poll_interval + 5
    verdict = "PASS" if p95 < target and len(latencies) >= 50 else "FAIL"
    print(
        f"| {len(latencies)} | {p50:.2f} | {p95:.2f} | {latencies[-1]:.2f} "
        f"| < {target:g} s: {verdict} |"
    )
    return verdict == "PASS"


if __name__ == "__main__":
    sys.exit(main())
