"""Article fetching concurrency benchmark: our fetch stage against a serial loop and the ideal.

Serves 8 loopback hosts x 100 articles, each answered after 200 ms (robots.txt answers 404
at once), and fetches every article URL, measured in the same run:

* ``FetchArticles`` in a Beam pipeline on the local runner (FnApiRunner, in memory: what
  the DirectRunner runs batch pipelines on; named directly so Beam does not first try to
  download Prism). Wall time includes pipeline construction and start-up.
* The same stage's core outside Beam: ``HostScheduler`` running ``fetch_outcome`` on a
  thread pool, exactly what the DoFn does per bundle.
* A serial loop calling ``HttpClient.get`` on each URL in turn.
* The ideal: requests x latency / concurrency, concurrency = min(max_in_flight, hosts x
  per_host_in_flight) = 32.

Entries arrive host by host (a feed's entries are consecutive), the order that most
punishes a scheduler blind to hosts. Targets, each printed PASS or FAIL: the pipeline
fetches every page, >= 20x faster than serial, <= 1.3x ideal. The exit code is 1 when one
fails.

Run: ``.venv/bin/python -m benchmarks.fetch_concurrency`` (about 3 minutes, most of it the
serial loop; ``--serial-sample 50`` times 50 serial requests and extrapolates, about 25 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.loopback import LoopbackHandler, LoopbackSite, Response
from transforms.common import OK
from transforms.fetch import FetchArticles, fetch_outcome
from transforms.http import HttpClient, HttpConfig
from transforms.records import FeedEntry, FetchedPage
from transforms.threaded_http import HostScheduler

PAGES = beam.metrics.Metrics.counter("fetch_benchmark", "pages")
PAGE = b"<!DOCTYPE html><html><body><article><p>News of the day.</p></article></body></html>"


def serve(site: LoopbackSite, hosts: int, articles: int, latency: float) -> list[str]:
    """Start the hosts; return every article URL, host by host."""
    urls = []
    for h in range(hosts):
        name = f"outlet{h}"
        base = site.add_host(name)
        site.route(name, "/robots.txt", Response(404, b"", "text/plain"))
        site.set_fallback(name, Response(body=PAGE, delay_s=latency))
        urls += [f"{base}/article/{i}" for i in range(articles)]
    return urls


def entries_of(urls: list[str]) -> list[FeedEntry]:
    return [FeedEntry(feed_url="http://feeds.example/rss", link=u, key=u) for u in urls]


def time_beam(config: HttpConfig, urls: list[str], max_in_flight: int) -> tuple[float, int]:
    """Wall seconds of a pipeline Create -> FetchArticles -> count, and the pages counted."""
    start = time.perf_counter()
    options = PipelineOptions(["--runner=FnApiRunner", "--direct_running_mode=in_memory"])
    p = beam.Pipeline(options=options)
    out = p | beam.Create(entries_of(urls)) | FetchArticles(config, max_in_flight)
    _ = out[OK] | beam.Map(lambda page: PAGES.inc())
    result = p.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - start
    counters = result.metrics().query(MetricsFilter().with_name("pages"))["counters"]
    return elapsed, sum(c.committed for c in counters)


def time_core(config: HttpConfig, urls: list[str], max_in_flight: int) -> tuple[float, int]:
    """Wall seconds of the DoFn's core (scheduler + pool + client), and the pages fetched."""
    client = HttpClient(config)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_in_flight) as pool:
        scheduler: HostScheduler[str, FeedEntry, object] = HostScheduler(
            pool,
            partial(fetch_outcome, client),
            max_in_flight=max_in_flight,
            per_host=config.per_host_in_flight,
        )
        for entry in entries_of(urls):
            scheduler.submit(urlsplit(entry.link).hostname or "", entry.link, entry)
        done = [outcome for _, outcome in scheduler.drain()]
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed, sum(isinstance(o, FetchedPage) for o in done)


def time_serial(config: HttpConfig, urls: list[str]) -> tuple[float, int]:
    """Wall seconds of fetching ``urls`` one after another, and the pages fetched."""
    client = HttpClient(config)
    start = time.perf_counter()
    ok = sum(client.get(url).status == 200 for url in urls)
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed, ok


MIN_SPEEDUP = 20.0  # serial loop / FetchArticles
MAX_OVER_IDEAL = 1.3  # FetchArticles / ideal


def verdicts(n: int, beam_ok: int, speedup: float, over_ideal: float) -> list[tuple[str, bool]]:
    """One ``(line, passed)`` per target."""
    checks = [
        (f"FetchArticles fetches every page: {beam_ok} of {n}", beam_ok == n),
        (f"serial / FetchArticles >= {MIN_SPEEDUP:g}: {speedup:.1f}", speedup >= MIN_SPEEDUP),
        (
            f"FetchArticles / ideal <= {MAX_OVER_IDEAL:g}: {over_ideal:.2f}",
            over_ideal <= MAX_OVER_IDEAL,
        ),
    ]
    return [(f"target {line}: {'PASS' if ok else 'FAIL'}", ok) for line, ok in checks]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and a verdict per target.

    Returns:
        0 when every target passes, 1 when one fails.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--hosts",
        type=int,
        default=8,
        help="loopback hosts serving articles (default: %(default)s)",
    )
    parser.add_argument(
        "--articles", type=int, default=100, help="articles on each host (default: %(default)s)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.2,
        help="seconds each host waits before answering an article request (default: %(default)s)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=32,
        help="most requests in flight at once over all hosts, also the thread pool's size"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--per-host",
        type=int,
        default=4,
        help="most requests in flight at once to one host (newsbeam's per_host_in_flight)"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--serial-sample",
        type=int,
        default=0,
        help="time the serial loop on only about this many evenly spread URLs and extrapolate"
        " to all; 0 times every URL (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    config = HttpConfig(allow_loopback=True, per_host_in_flight=args.per_host)
    # The loopback server writes headers and body in two sends; with Nagle on, each
    # keep-alive answer waits ~40 ms for the client's delayed ACK. Off, as on real servers.
    LoopbackHandler.disable_nagle_algorithm = True
    with LoopbackSite() as site:
        urls = serve(site, args.hosts, args.articles, args.latency)
        n = len(urls)
        concurrency = min(args.max_in_flight, args.hosts * args.per_host)
        ideal = n * args.latency / concurrency
        beam_s, beam_ok = time_beam(config, urls, args.max_in_flight)
        core_s, core_ok = time_core(config, urls, args.max_in_flight)
        sample = urls[:: max(1, n // args.serial_sample)] if args.serial_sample else urls
        serial_s, serial_ok = time_serial(config, sample)
        serial_note = "" if len(sample) == n else f" (extrapolated from {len(sample)})"
        serial_s *= n / len(sample)
    rows = [
        ("FetchArticles on FnApiRunner (pipeline)", beam_s, beam_ok),
        ("fetch core outside Beam (scheduler + pool)", core_s, core_ok),
        (f"serial HttpClient.get loop{serial_note}", serial_s, serial_ok),
        (f"ideal: {n} x {args.latency}s / {concurrency}", ideal, n),
    ]
    print(f"{args.hosts} hosts x {args.articles} articles, {args.latency * 1000:.0f} ms each, "
          f"max_in_flight={args.max_in_flight}, per_host_in_flight={args.per_host}\n")  # fmt: skip
    print("| method | pages ok | wall s | serial / this | this / ideal |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, ok in rows:
        print(
            f"| {name} | {ok} | {seconds:.2f} | {serial_s / seconds:.1f}x | {seconds / ideal:.2f} |"
        )
    print()
    checks = verdicts(n, beam_ok, serial_s / beam_s, beam_s / ideal)
    for line, _ in checks:
        print(line)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
