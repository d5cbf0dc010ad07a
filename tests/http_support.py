"""What the HTTP client's tests share: a client configured for loopback, its errors."""

from __future__ import annotations

from typing import Any

import pytest

from transforms.http import FetchError, HttpClient, HttpConfig

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>hello</p></body></html>"


def config(**overrides: Any) -> HttpConfig:
    """Loopback allowed, tiny backoffs and short timeouts, so failures come fast."""
    values: dict[str, Any] = {
        "allow_loopback": True,
        "backoff_base": 0.001,
        "retry_after_cap": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "deadline": 5.0,
    }
    values.update(overrides)
    return HttpConfig(**values)


def fetch_error(client: HttpClient, url: str, **kwargs: Any) -> FetchError:
    """The ``FetchError`` that ``client.get(url)`` raises (the test fails if none)."""
    with pytest.raises(FetchError) as info:
        client.get(url, **kwargs)
    return info.value
