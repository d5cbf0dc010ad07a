"""One HttpClient per process and configuration: shared while held, closed by its last user."""

from __future__ import annotations

from pipelines.loopback import LoopbackSite, Response
from transforms import http_clients
from transforms.http import HttpConfig

PAGE = b"<html><body><p>A page.</p></body></html>"


def test_holders_of_one_config_share_a_client_until_the_last_lets_go(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(body=b"User-agent: *\nAllow: /\n"))
    site.route("news", "/a", Response(body=PAGE))
    config = HttpConfig(allow_loopback=True)
    poll, fetch = http_clients.acquire(config), http_clients.acquire(config)
    assert poll is fetch and http_clients.users(config) == 2
    assert poll.get(f"{base}/a").body == PAGE
    assert fetch.get(f"{base}/a").body == PAGE
    assert len(site.requests_for("news", "/robots.txt")) == 1  # one robots cache, not two

    http_clients.release(poll)
    assert http_clients.users(config) == 1
    assert fetch.get(f"{base}/a").body == PAGE  # still open for the other holder
    http_clients.release(fetch)
    assert http_clients.users(config) == 0

    again = http_clients.acquire(config)
    try:
        assert again is not fetch  # the closed client is not handed out again
        assert again.get(f"{base}/a").body == PAGE
    finally:
        http_clients.release(again)


def test_another_config_gets_its_own_client() -> None:
    polite, eager = HttpConfig(per_host_in_flight=1), HttpConfig(per_host_in_flight=4)
    a, b = http_clients.acquire(polite), http_clients.acquire(eager)
    try:
        assert a is not b
        assert (a.config, b.config) == (polite, eager)
    finally:
        http_clients.release(a)
        http_clients.release(b)
    assert http_clients.users(polite) == http_clients.users(eager) == 0
