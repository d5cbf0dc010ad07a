"""What an HTTP answer becomes (transforms.http_answers): redirects, 304s, media types,
content encodings, caps, error types and retry hints; through the client against loopback
servers, and the helpers on their own."""

from __future__ import annotations

import copy
import gzip
import http.client
import pickle
import socket
import zlib
from collections.abc import Callable

import pytest
from urllib3 import HTTPConnectionPool
from urllib3 import exceptions as u3e

from pipelines.loopback import LoopbackHandler, LoopbackSite, RawResponse, Response
from tests.http_support import PAGE, config, fetch_error
from tests.loopback_hostile import connection_reset, redirect
from transforms.hostlimits import GuardError
from transforms.http import FetchError, HttpClient
from transforms.http_answers import (
    as_fetch_error,
    check_status,
    checked_url,
    looks_like_html,
    parse_retry_after,
)
from transforms.http_bodies import Inflater

# --- what an answer becomes (transforms.http_answers) -----------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed(
    site: LoopbackSite, client: HttpClient, status: int
) -> None:
    base = site.add_host("news")
    site.route("news", "/old", redirect("/new", status=status))
    site.route("news", "/new", Response(body=PAGE))
    site.route("news", "/robots.txt", Response(404))
    result = client.get(base + "/old")
    assert (result.status, result.final_url, result.body) == (200, base + "/new", PAGE)


def test_redirect_without_location_is_a_final_http_error(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(302, content_type=None))
    err = fetch_error(client, base + "/a", kind="feed")
    assert (err.error_type, err.retryable, err.status) == ("http_302", False, 302)
    assert "without Location" in err.message


def test_a_location_in_raw_utf8_is_read_as_utf8(site: LoopbackSite, client: HttpClient) -> None:
    # http.client reads header bytes as Latin-1: the redirect went to /caf%C3%83%C2%A9, a 404.
    base = site.add_host("news")
    site.route("news", "/old", _raw(b"HTTP/1.1 301 Moved\r\nLocation: /caf\xc3\xa9\r\n\r\n"))
    site.route("news", "/caf%C3%A9", Response(body=PAGE))
    site.route("news", "/robots.txt", Response(404))
    result = client.get(base + "/old")
    assert (result.status, result.final_url, result.body) == (200, base + "/café", PAGE)
    # bytes that are not UTF-8 keep their Latin-1 reading
    assert check_status(302, {"location": "/caf\xe9"}, False).location == "/caf\xe9"


@pytest.mark.parametrize("interim", [b"103 Early Hints\r\nLink: </a.css>; rel=preload", b"102 x"])
def test_interim_answers_before_the_final_one_are_read_past(
    site: LoopbackSite, client: HttpClient, interim: bytes
) -> None:
    # RFC 9110 15.2: a client must read any 1xx before the final answer; http.client skips
    # 100 alone, and the 103 was the answer: http_103, the page never read.
    base = site.add_host("news")
    final = _OK + b"Content-Length: 6\r\n\r\n<rss/>"
    site.route("news", "/rss", _raw((b"HTTP/1.1 " + interim + b"\r\n\r\n") * 2 + final))
    result = client.get(base + "/rss", kind="feed")
    assert (result.status, result.body) == (200, b"<rss/>")
    site.route("news", "/endless", _raw(b"HTTP/1.1 100 Continue\r\n\r\n" * 17 + final))
    err = fetch_error(client, base + "/endless", kind="feed")
    assert (err.error_type, err.retryable) == ("protocol_error", False)
    assert "more than 16 interim (1xx) answers" in err.message


def test_sixteen_interim_answers_are_read_past_and_a_101_is_no_interim_answer(
    site: LoopbackSite, client: HttpClient
) -> None:
    # At most 16 are read past (the 17th is a protocol error, above): 16 then the answer is
    # the answer. A 101 (Switching Protocols, never asked for) ends the reading: had it been
    # read past as the other 1xx are, the 200 after it would have been taken (it is http_101).
    base = site.add_host("news")
    final = _OK + b"Content-Length: 6\r\n\r\n<rss/>"
    site.route("news", "/rss", _raw(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 16 + final))
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"
    site.route("news", "/ws", _raw(b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + final))
    err = fetch_error(client, base + "/ws", kind="feed")
    assert (err.error_type, err.status, err.retryable) == ("http_101", 101, False)


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: Chunked\r\n\r\n6\r\n<rss/>\r\n0\r\n\r\n",
        b"Transfer-Encoding: identity\r\nContent-Length: 6\r\n\r\n<rss/>",
    ],
    ids=["chunked-in-capitals", "identity"],
)
def test_the_transfer_codings_http_client_frames_are_read(
    site: LoopbackSite, client: HttpClient, framing: bytes
) -> None:
    # Only a coding http.client cannot undo is refused (below): it reads "chunked" in any
    # case, and "identity" is no coding at all.
    base = site.add_host("news")
    site.route("news", "/rss", _raw(_OK + framing))
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


def test_unasked_for_304_is_an_error(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/feed", Response(304, content_type=None))
    err = fetch_error(client, base + "/feed", kind="feed")
    assert (err.error_type, err.retryable) == ("http_304", False)


def test_304_keeps_the_validators_sent_when_the_server_repeats_none(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/feed", Response(304, content_type=None))
    sent = "Wed, 21 Oct 2015 07:28:00 GMT"
    result = client.get(base + "/feed", kind="feed", etag='"v7"', last_modified=sent)
    assert result.not_modified and result.status == 304 and result.body == b""
    assert (result.etag, result.last_modified) == ('"v7"', sent)


def test_a_304_that_names_validators_gives_them_in_place_of_those_sent(
    site: LoopbackSite, client: HttpClient
) -> None:
    # RFC 9111 4.3.4: the validators a 304 names are the ones to keep (the feed's state
    # takes them, feed_polls); those sent only stand in for ones it does not name.
    base = site.add_host("news")
    modified = "Tue, 03 Mar 2026 10:00:00 GMT"
    headers = {"ETag": '"v8"', "Last-Modified": modified}
    site.route("news", "/feed", Response(304, content_type=None, headers=headers))
    result = client.get(base + "/feed", kind="feed", etag='"v7"', last_modified="x")
    assert (result.status, result.etag, result.last_modified) == (304, '"v8"', modified)


def test_a_200_without_an_etag_keeps_none_of_the_one_sent(
    site: LoopbackSite, client: HttpClient
) -> None:
    # The feed's server dropped its ETag: the one sent, kept, went out at every later poll,
    # where it decides alone (RFC 9110 13.2.2: If-Modified-Since is then ignored): a 200 each.
    base = site.add_host("news")
    modified = "Tue, 03 Mar 2026 10:00:00 GMT"
    site.route("news", "/feed", Response(body=b"<rss/>", last_modified=modified))
    result = client.get(base + "/feed", kind="feed", etag='"v7"', last_modified="x")
    assert (result.status, result.etag, result.last_modified) == (200, None, modified)
    again = client.get(base + "/feed", kind="feed", etag=result.etag, last_modified=modified)
    assert again.not_modified


def test_content_type_is_the_media_type_in_lower_case(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route(
        "news",
        "/rss",
        Response(body=b"<rss/>", content_type=" Application/RSS+XML ; charset=UTF-8"),
    )
    site.route("news", "/page", Response(body=PAGE, content_type="Text/HTML; charset=utf-8"))
    site.route("news", "/robots.txt", Response(404))
    assert client.get(base + "/rss", kind="feed").content_type == "application/rss+xml"
    page = client.get(base + "/page")
    assert page.content_type == "text/html" and not page.not_modified


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip"])
def test_gzip_content_encodings_are_decoded(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=gzip.compress(b"<rss/>"), content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


def test_empty_content_encoding_is_identity(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"<rss/>", content_type="text/xml",
                                        headers={"Content-Encoding": ""}))  # fmt: skip
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_content_encodings_not_asked_for_are_refused(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"\x1b\x05\x00", content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)


def test_content_encoding_on_several_lines_is_one_list(
    site: LoopbackSite, client: HttpClient
) -> None:
    # Read by its last line alone, a page compressed twice passed as HTML still gzipped.
    base = site.add_host("news")
    twice = gzip.compress(gzip.compress(PAGE))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
    site.route("news", "/twice", _raw(head + b"Content-Encoding: gzip\r\n" * 2 + b"\r\n" + twice))
    site.route("news", "/robots.txt", Response(404))
    err = fetch_error(client, base + "/twice")
    assert (err.error_type, err.message) == (
        "bad_content_encoding",
        "Content-Encoding 'gzip, gzip' not requested",
    )
    # an identity line names no coding: the other line is the list
    once = b"Content-Encoding: gzip\r\nContent-Encoding: identity\r\n\r\n" + gzip.compress(PAGE)
    site.route("news", "/once", _raw(head + once))
    assert client.get(base + "/once").body == PAGE


def test_corrupt_gzip_is_a_final_bad_content_encoding(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"this is not gzip data", content_type="text/xml",
                                        headers={"Content-Encoding": "gzip"}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    assert len(site.requests_for("news", "/rss")) == 1  # not retried


@pytest.mark.parametrize("value", [b"chunked ", b"chunked\t", b"Chunked "])
def test_chunked_with_blanks_after_it_is_read_as_chunked(
    site: LoopbackSite, client: HttpClient, value: bytes
) -> None:
    # RFC 9112 drops the blanks around a field's value; http.client compares the value as
    # sent, so it framed nothing, and the chunk-size lines came through as the feed's text
    # (b'6\r\n<rss/>\r\n0\r\n\r\n'), past the check that refuses other transfer codings.
    base = site.add_host("news")
    answer = _OK + b"Transfer-Encoding: " + value + b"\r\nContent-Length: 3\r\n\r\n"
    site.route("news", "/rss", _raw(answer + b"6\r\n<rss/>\r\n0\r\n\r\n"))
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


ARTICLE = (
    b"<!DOCTYPE html><html><body>"
    + b"".join(
        b"<p>Paragraph %d of the story, which must not be cut off.</p>" % i for i in range(300)
    )
    + b"</body></html>"
)


def _compressed(encoding: str, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body, mtime=0)
    return zlib.compress(body) if encoding == "deflate" else zlib.compress(body, wbits=-15)


def _without_length(encoding: str, body: bytes) -> RawResponse:
    """A 200 with no Content-Length whose body ends when the server closes the connection."""

    def handler(h: LoopbackHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Encoding", encoding)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    return RawResponse(handler)


@pytest.mark.parametrize("framing", ["content-length", "connection-close"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_body_cut_short_is_refused_not_published_cut_off(
    site: LoopbackSite, client: HttpClient, encoding: str, framing: str
) -> None:
    # The transfer is complete (the Content-Length matches, or the server closes), but the
    # compressed stream is not: urllib3 decoded the first half and said nothing.
    whole = _compressed(encoding, ARTICLE)
    half = whole[: len(whole) // 2]
    name = "deflate" if encoding == "raw-deflate" else encoding
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(404))
    site.route("news", "/whole", Response(body=whole, headers={"Content-Encoding": name}))
    if framing == "content-length":
        site.route("news", "/cut", Response(body=half, headers={"Content-Encoding": name}))
    else:
        site.route("news", "/cut", _without_length(name, half))
    assert client.get(base + "/whole").body == ARTICLE
    err = fetch_error(client, base + "/cut")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    if framing == "content-length":  # the whole body came: the server sent it so
        assert f"the {name} body ended early" in err.message
        assert len(site.requests_for("news", "/cut")) == 1  # not retried
    else:  # as a dropped connection looks: tried again, and cut at the same byte again
        assert f"before the {name} body's end (no Content-Length)" in err.message
        assert "cut at the same byte again: the server sends it so" in err.message
        assert len(site.requests_for("news", "/cut")) == 2


def _cut_then(whole: bytes, cuts: list[int]) -> RawResponse:
    """A gzipped page without Content-Length: the n-th request's body is the first
    ``cuts[n]`` bytes of ``whole`` (the connection closed there), then ``whole``."""
    answered: list[int] = []

    def handler(h: LoopbackHandler) -> None:
        n = len(answered)
        answered.append(n)
        _without_length("gzip", whole[: cuts[n]] if n < len(cuts) else whole).handler(h)

    return RawResponse(handler)


def test_a_compressed_body_the_closing_connection_cut_is_tried_again(
    site: LoopbackSite, client: HttpClient
) -> None:
    # RFC 9112 section 6.3: a body without Content-Length or chunked framing ends when the
    # connection closes, so a connection that dropped mid-body looks like a body sent cut
    # short: it was a final bad_content_encoding, the page lost for good after one try.
    whole = _compressed("gzip", ARTICLE)
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(404))
    site.route("news", "/once", _cut_then(whole, [len(whole) // 2]))
    assert client.get(base + "/once").body == ARTICLE
    assert len(site.requests_for("news", "/once")) == 2
    # cut anew at another byte each time: a retryable connection_error once tries run out
    site.route("news", "/always", _cut_then(whole, [100, 200, 300, 400, 500]))
    err = fetch_error(client, base + "/always")
    assert (err.error_type, err.retryable) == ("connection_error", True)
    assert "the connection closed after 400 bytes, before the gzip body's end" in err.message
    assert len(site.requests_for("news", "/always")) == 1 + client.config.retries


def test_a_chunked_compressed_body_is_cut_in_transit_or_sent_so_by_its_last_chunk(
    site: LoopbackSite, client: HttpClient
) -> None:
    whole = _compressed("gzip", ARTICLE)
    half = whole[: len(whole) // 2]
    chunked = _OK + b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(404))
    # the connection closed before the last chunk: retried
    site.route("news", "/dropped", _raw(chunked + b"%x\r\n" % len(half) + half + b"\r\n"))
    err = fetch_error(client, base + "/dropped", kind="feed")
    assert (err.error_type, err.retryable) == ("connection_error", True)
    assert len(site.requests_for("news", "/dropped")) == 1 + client.config.retries
    # the last chunk came: the server sent the stream cut short, not retried
    sent = chunked + b"%x\r\n" % len(half) + half + b"\r\n0\r\n\r\n"
    site.route("news", "/sent", _raw(sent))
    err = fetch_error(client, base + "/sent", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    assert len(site.requests_for("news", "/sent")) == 1


def test_gzip_members_in_a_row_are_one_body_and_bytes_after_the_last_are_ignored(
    site: LoopbackSite, client: HttpClient
) -> None:
    first, second = gzip.compress(b"<rss>", mtime=0), gzip.compress(b"</rss>", mtime=0)
    base = site.add_host("news")
    for path, body in [
        ("/two", first + second),
        ("/padded", first + second + b"\n"),  # not a member: ignored, as urllib3 did
        ("/junk", first + b"this is not gzip"),
        ("/cut", first + second[:-4]),  # the second member ends early
    ]:
        site.route("news", path, Response(body=body, content_type="text/xml",
                                          headers={"Content-Encoding": "gzip"}))  # fmt: skip
    assert client.get(base + "/two", kind="feed").body == b"<rss></rss>"
    assert client.get(base + "/padded", kind="feed").body == b"<rss></rss>"
    assert client.get(base + "/junk", kind="feed").body == b"<rss>"
    assert fetch_error(client, base + "/cut", kind="feed").error_type == "bad_content_encoding"


def test_an_empty_body_marked_gzip_is_an_empty_body(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"", content_type="text/xml",
                                        headers={"Content-Encoding": "gzip"}))  # fmt: skip
    assert client.get(base + "/rss", kind="feed").body == b""


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_inflater_needs_the_whole_stream_however_it_arrives(encoding: str) -> None:
    whole = _compressed(encoding, ARTICLE)
    trailer = 8 if encoding == "gzip" else 4 if encoding == "deflate" else 0
    name = "deflate" if encoding == "raw-deflate" else encoding
    for step in (1, 7, len(whole)):  # one byte at a time too: deflate tells its format by two
        inflater = Inflater(name)
        out = b"".join(
            inflater.decompress(whole[i : i + step], 1 << 20) for i in range(0, len(whole), step)
        )
        inflater.finish()
        assert out == ARTICLE, step
    for cut in {1, 2, 10, len(whole) // 2, len(whole) - trailer - 1, len(whole) - 1}:
        inflater = Inflater(name)
        inflater.decompress(whole[:cut], 1 << 20)
        with pytest.raises(FetchError, match="ended early"):
            inflater.finish()


def test_inflater_returns_no_more_than_asked_for() -> None:
    inflater = Inflater("gzip")
    assert len(inflater.decompress(gzip.compress(b"\0" * 100_000), 4097)) == 4097


def _raw(answer: bytes) -> RawResponse:
    """Write ``answer`` to the socket as it is; the server closes the connection after it."""

    def handler(h: LoopbackHandler) -> None:
        h.wfile.write(answer)

    return RawResponse(handler)


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (b"HTTP/1.1 abc WHAT\r\n\r\n", "bad status line 'HTTP/1.1 abc WHAT\\r\\n'"),
        (b"<rss><channel>HTTP/0.9: no status line</channel></rss>\r\n", "bad status line '<rss>"),
        (b"HTTP/2.0 200 OK\r\nContent-Length: 6\r\n\r\n<rss/>", "protocol version 'HTTP/2.0'"),
        (_OK + b"X-Many: 1\r\n" * 101 + b"Content-Length: 6\r\n\r\n<rss/>", "100 headers"),
        (
            _OK + b"X-Long: " + b"a" * 65_536 + b"\r\nContent-Length: 6\r\n\r\n<rss/>",
            "more than 65536 bytes when reading header line",
        ),
        (
            _OK + b"Content-Length: 6\r\nContent-Length: 9\r\n\r\n<rss/>!!!",
            "Content-Length contained multiple unmatching values (6, 9)",
        ),
        (_OK + b"Content-Length: 6, 9\r\n\r\n<rss/>!!!", "unmatching values (6, 9)"),
        (
            _OK
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"0" * 65_536
            + b"6\r\n<rss/>\r\n0\r\n\r\n",
            "more than 65536 bytes when reading chunk size",
        ),  # mid-body
        (
            _OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n<rss/>\r\n0\r\n\r\n",
            "chunk size line b'zz\\r\\n'",
        ),
        # http.client frames "chunked" alone: the chunk sizes and gzip bytes were the body
        (
            _OK
            + b"Transfer-Encoding: gzip, chunked\r\n\r\n1a\r\n"
            + gzip.compress(b"<rss/>")
            + b"\r\n0\r\n\r\n",
            "Transfer-Encoding 'gzip, chunked'",
        ),
        # the same on two field lines, one list: http.client read the first line alone
        (
            _OK
            + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n1a\r\n"
            + gzip.compress(b"<rss/>")
            + b"\r\n0\r\n\r\n",
            "Transfer-Encoding 'chunked, gzip'",
        ),
    ],
    ids=[
        "bad-status-line",
        "http-0.9",
        "http-2.0",
        "101-headers",
        "long-header",
        "two-lengths",
        "length-list",
        "long-chunk-size",
        "chunk-size-not-hex",
        "gzip-transfer-coding",
        "transfer-codings-on-two-lines",
    ],  # fmt: skip
)
def test_an_answer_that_breaks_http_is_a_final_protocol_error(
    site: LoopbackSite, client: HttpClient, answer: bytes, what: str
) -> None:
    # The server answered, and would answer so again: retrying (4 tries, and again on every
    # run with --state-dir, as connection_error was) cannot help.
    base = site.add_host("news")
    site.route("news", "/rss", _raw(answer))
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("protocol_error", False)
    assert what in err.message
    assert len(site.requests_for("news", "/rss")) == 1  # not retried


@pytest.mark.parametrize(
    "answer",
    [
        connection_reset(),  # a TCP RST instead of an answer
        _raw(b""),  # closed without an answer (http.client's RemoteDisconnected: a BadStatusLine)
        _raw(b"HTTP/1.1 20"),  # closed inside the status line
        _raw(_OK + b"Content-Length: 100\r\n\r\n<rss><channel>"),  # closed inside the body
        _raw(_OK + b"Transfer-Encoding: chunked\r\n\r\n20\r\n<rss><channel>"),  # inside a chunk
    ],
    ids=["reset", "no-answer", "cut-status-line", "cut-body", "cut-chunk"],
)
def test_a_connection_reset_or_closed_early_stays_a_retried_connection_error(
    site: LoopbackSite, client: HttpClient, answer: RawResponse
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", answer)
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("connection_error", True)
    assert len(site.requests_for("news", "/rss")) == 1 + client.config.retries


def test_body_of_exactly_the_cap_is_accepted(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    cap = 4096
    base = site.add_host("news")
    site.route("news", "/exact", Response(body=b"x" * cap, content_type="text/xml"))
    site.route("news", "/over", Response(body=b"x" * (cap + 1), content_type="text/xml"))
    # gzip: the Content-Length is small, so only the decompressed size can be checked
    site.route("news", "/exact.gz", Response(body=b"x" * cap, content_type="text/xml", gzip=True))
    site.route("news", "/over.gz", Response(body=b"x" * (cap + 1), content_type="text/xml",
                                            gzip=True))  # fmt: skip
    c = new_client(config(max_feed_bytes=cap))
    assert c.get(base + "/exact", kind="feed").body == b"x" * cap
    assert c.get(base + "/exact.gz", kind="feed").body == b"x" * cap
    over = fetch_error(c, base + "/over", kind="feed")
    assert over.error_type == "too_large" and "Content-Length 4097" in over.message
    over_gz = fetch_error(c, base + "/over.gz", kind="feed")
    assert over_gz.error_type == "too_large" and "decompressed" in over_gz.message


def test_robots_txt_over_its_cap_is_truncated_not_refused(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    rules = b"User-agent: *\nDisallow: /private/\n"
    robots = rules + b"# padding, ignored\n" * 40_000  # 760 000 bytes, over the 512 KiB read
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    assert client.get(base + "/public/1").status == 200
    assert fetch_error(client, base + "/private/1").error_type == "robots_disallowed"


def test_a_robots_rule_cut_off_by_the_cap_is_not_read_as_a_shorter_rule(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    head = b"User-agent: *\nDisallow: /private\n"
    cut_at = 512 * 1024  # the cap falls just after "Disallow: /" of the last rule
    padding = b"#" * (cut_at - len(head) - len(b"\nDisallow: /")) + b"\n"
    robots = head + padding + b"Disallow: /archive-2001/\n"
    assert robots[:cut_at].endswith(b"\nDisallow: /")
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    assert client.get(base + "/news/1").status == 200  # "Disallow: /" would have blocked it
    assert fetch_error(client, base + "/private/1").error_type == "robots_disallowed"


@pytest.mark.parametrize("encoding", ["gzip ", " gzip\t"])
def test_a_content_encoding_with_spaces_around_it_is_refused_not_passed_on_compressed(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    # urllib3 picks its decoder by the value as sent and would hand on the gzip bytes as they are
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=gzip.compress(b"<rss/>"), content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    assert "spaces around the name" in err.message


@pytest.mark.parametrize(
    ("errno", "retryable"), [(socket.EAI_AGAIN, True), (socket.EAI_NONAME, False)]
)
def test_dns_error_is_retryable_only_when_the_resolver_says_try_again(
    errno: int,
    retryable: bool,
    new_client: Callable[..., HttpClient],
) -> None:
    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        raise socket.gaierror(errno, "resolver says no")

    c = new_client(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://news.example/a")
    assert (err.error_type, err.retryable) == ("dns_error", retryable)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (599, True),
        (429, True),
        (499, False),
        (404, False),
        (600, False),
        (999, False),
    ],
)
def test_check_status_error_types(status: int, retryable: bool) -> None:
    with pytest.raises(FetchError) as info:
        check_status(status, {"retry-after": "7"}, conditional=False)
    err = info.value
    assert (err.error_type, err.retryable, err.status) == (f"http_{status}", retryable, status)
    assert err.retry_after == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: no wait, never negative
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),  # no time zone: read as UTC
        ("", None),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("\u00b2", None),  # digits, for str.isdigit, but not to float: no delay given
        ("\u0661\u0662", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_a_retry_after_in_digits_other_than_ascii_is_ignored_and_the_503_retried(
    site: LoopbackSite, client: HttpClient
) -> None:
    # "\u00b2" (superscript two, sent as its Latin-1 byte) passed str.isdigit, float() raised,
    # and the retryable 503 became an internal_error; now it is retried with the backoff.
    base = site.add_host("news")
    answers = [Response(503, headers={"Retry-After": "\u00b2"}), Response(body=PAGE)]
    site.route("news", "/a", lambda request: answers.pop(0) if len(answers) > 1 else answers[0])
    site.route("news", "/robots.txt", Response(404))
    assert client.get(base + "/a").body == PAGE
    assert [r.status for r in site.requests_for("news", "/a")] == [503, 200]


def test_parse_retry_after_date_in_the_future() -> None:
    wait = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert wait is not None and wait > 365 * 24 * 3600


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<!DOCTYPE html><p>x", True),
        (b"\xef\xbb\xbf \r\n\t<!doctype html><p>x", True),  # BOM and whitespace first
        (b"<HTML><BODY>x", True),
        (b"<head><title>t</title></head>", True),
        (b"<body><p>x</p></body>", True),
        (b"<!-- generated by a CMS at 12:00 -->\n<html><body>x", True),
        (b"<?xml version='1.0'?><rss/>", False),
        (b"%PDF-1.7" + b" " * 1024 + b"<html>", False),  # only the first 1024 bytes count
        (b"", False),
    ],
)
def test_looks_like_html(body: bytes, expected: bool) -> None:
    assert looks_like_html(body) is expected


def test_checked_url() -> None:
    assert checked_url(" HTTP://Example.com/a ") == "http://Example.com/a"
    assert checked_url("/b?x=1", base="https://example.com/a/") == "https://example.com/b?x=1"
    assert checked_url("c", base="https://example.com/a/") == "https://example.com/a/c"
    for url, error_type in [
        ("http:///feed", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://example.com:port/", "bad_url"),
        ("http://a..example/", "bad_url"),
        ("ftp://example.com/", "bad_scheme"),
    ]:
        with pytest.raises(FetchError) as info:
            checked_url(url)
        assert info.value.error_type == error_type, url


@pytest.mark.parametrize(
    ("err", "error_type", "retryable"),
    [
        (GuardError("dns_error", "try again", True), "dns_error", True),
        (GuardError("blocked_address", "private", False), "blocked_address", False),
        (
            u3e.ReadTimeoutError(
                HTTPConnectionPool("a.example"), "http://a.example/", "read timed out"
            ),
            "timeout",
            True,
        ),
        (u3e.SSLError("bad certificate"), "tls_error", False),
        (u3e.DecodeError("incorrect header check"), "bad_content_encoding", False),
        (u3e.LocationValueError("No host specified."), "bad_url", False),
        (u3e.ProtocolError("Connection aborted."), "connection_error", True),
        (ConnectionResetError(), "connection_error", True),
        (
            u3e.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer")),
            "connection_error",
            True,
        ),
        (
            u3e.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed")),
            "connection_error",
            True,
        ),
        (
            u3e.ProtocolError("Connection aborted.", http.client.BadStatusLine("HTTP/1.1 2")),
            "connection_error",
            True,
        ),  # a status line cut off
        (
            u3e.ProtocolError("Connection broken: IncompleteRead", http.client.IncompleteRead(b"")),
            "connection_error",
            True,
        ),
        (
            u3e.ProtocolError("Connection aborted.", http.client.BadStatusLine("HTTP/1.1 x\r\n")),
            "protocol_error",
            False,
        ),
        (
            u3e.ProtocolError("Connection aborted.", http.client.LineTooLong("header line")),
            "protocol_error",
            False,
        ),
        (
            u3e.InvalidHeader("Content-Length contained multiple unmatching values (5, 7)"),
            "protocol_error",
            False,
        ),
    ],
)
def test_as_fetch_error(err: Exception, error_type: str, retryable: bool) -> None:
    fetch = as_fetch_error(err)
    assert (fetch.error_type, fetch.retryable) == (error_type, retryable)
    assert fetch.message  # never empty, even for an exception without a message


def test_host_resolving_to_no_address_is_a_dns_error(new_client: Callable[..., HttpClient]) -> None:
    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        return []

    c = new_client(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://nowhere.example/a")
    assert (err.error_type, err.retryable) == ("dns_error", False)


def test_a_fetch_error_copies_and_pickles_whole() -> None:
    # Exception's default reduction passed the message alone to __init__, which takes the
    # type and the message: copying or unpickling one raised TypeError.
    error = FetchError("http_503", "busy", True, status=503, retry_after=2.0)
    for again in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (again.error_type, again.message, again.retryable) == ("http_503", "busy", True)
        assert (again.status, again.retry_after, str(again)) == (503, 2.0, "http_503: busy")
