"""A pytest plugin: Google's Pub/Sub emulator for tests, and helpers to read from it.

Fixtures:

* ``pubsub_emulator`` (session): the emulator at ``PUBSUB_EMULATOR_HOST`` when that is set
  (``.ci/run`` starts one with ``scripts/pubsub-emulator``), else one started here on a
  free 127.0.0.1 port and stopped by its pid at the end of the session. The variable is
  set for the whole session and restored afterwards.
* ``private_pubsub_emulator`` (function): an emulator of the test's own, which the test may
  ``stop()``, ``start()`` (same port, empty state) and ``resume()`` after freezing it with
  SIGSTOP (requests hang, state is kept: a pipeline step sends the signal by its pid, at
  the element it chooses), for publisher-fault tests.

Where the emulator binary is absent the tests that need it skip with a reason, except on
CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EMULATOR_SCRIPT = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
KNOWN_SDK_ROOTS = (
    "/usr/lib/google-cloud-sdk",
    "/usr/share/google-cloud-sdk",
    "/opt/google-cloud-sdk",
)
READY_DEADLINE = 60.0  # seconds for Java to start on a busy machine (about 3 s when idle)
PROJECT = "newsbeam-test"


@functools.cache
def find_emulator() -> Path | None:
    """The emulator's start script under the Google Cloud SDK root, or None when absent.

    Asked once a session; ``gcloud`` runs with a configuration folder of its own, which it
    would otherwise create or write its log in (``~/.config/gcloud``)."""
    roots: list[str] = []
    if shutil.which("gcloud"):
        try:
            with tempfile.TemporaryDirectory(prefix="newsbeam-gcloud-") as config:
                out = subprocess.run(
                    ["gcloud", "info", "--format=value(installation.sdk_root)"],
                    capture_output=True, text=True, timeout=60, check=False,
                    env={**os.environ, "CLOUDSDK_CONFIG": config},
                )  # fmt: skip
            roots.append(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    for root in [*roots, *KNOWN_SDK_ROOTS]:
        script = Path(root) / EMULATOR_SCRIPT
        if root and script.is_file() and os.access(script, os.X_OK):
            return script
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_ready(host: str) -> bool:
    """Whether the emulator at ``host`` (HOST:PORT) answers its REST root with 200."""
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(host: str, deadline: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``host`` until it answers; raise RuntimeError at ``deadline`` or if it exits."""
    while not is_ready(host):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Pub/Sub emulator exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Pub/Sub emulator at {host} was not ready in time")
        time.sleep(0.1)  # readiness polling interval, not synchronisation


class PortTaken(RuntimeError):
    """The emulator's port was held by another process (Java logs it and goes on running)."""


class PubSubEmulator:
    """One emulator process on a fixed 127.0.0.1 port; its log goes to a temporary file."""

    def __init__(self, script: Path, port: int | None = None) -> None:
        self.script = script
        self._chosen_port = port is None  # a port chosen here may be given up for another
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        # Closed (and removed) by close().
        self._log = tempfile.NamedTemporaryFile(prefix="pubsub-emulator-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the emulator and wait until it answers (empty state).

        Between ``free_port`` and Java's bind another process may take the port; Java then
        logs a BindException and goes on running while that process may answer in its
        place. So the emulator is ready when its own log says it listens and the port
        answers, and a port chosen here that was taken meanwhile is given up for another
        (three tries).
        """
        for attempt in range(3):
            try:
                self._start_once()
                return
            except PortTaken:
                self.stop()
                if not self._chosen_port or attempt == 2:
                    raise
                self.port = free_port()
                self.host = f"127.0.0.1:{self.port}"

    def _start_once(self) -> None:
        self._log.seek(0)
        self._log.truncate()
        self.process = subprocess.Popen(
            [str(self.script), "--host=127.0.0.1", f"--port={self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + READY_DEADLINE
        log = Path(self._log.name)
        while True:
            text = log.read_text(errors="replace")
            if "BindException" in text:
                raise PortTaken(f"port {self.port} is taken by another process")
            if f"listening on {self.port}\n" in text:
                break
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                how = "not started in time" if code is None else f"exited with code {code}"
                raise RuntimeError(
                    f"the Pub/Sub emulator on port {self.port}: {how}; its log ends:\n"
                    f"{text[-2000:]}"
                )
            time.sleep(0.1)  # polling interval for the log, not synchronisation
        try:
            wait_ready(self.host, deadline, self.process)
        except RuntimeError as exc:
            self.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; its log ends:\n{tail}") from None

    def stop(self) -> None:
        """Stop the emulator by its pid (its state is lost)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None

    def resume(self) -> None:
        """Unfreeze a paused emulator (SIGCONT)."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop the emulator and remove its log."""
        self.stop()
        self._log.close()


def _emulator_or_skip() -> Path:
    script = find_emulator()
    if script is None:
        reason = (
            "the Pub/Sub emulator is not installed (google-cloud-cli's pubsub-emulator "
            "component, with Java 17)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must have it")
        pytest.skip(reason)
    return script


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """HOST:PORT of a running emulator; PUBSUB_EMULATOR_HOST points at it for the session."""
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if host:
        try:
            wait_ready(host, time.monotonic() + READY_DEADLINE)
        except RuntimeError as exc:
            pytest.fail(f"PUBSUB_EMULATOR_HOST={host}: {exc}")
        yield host
        return
    emulator = PubSubEmulator(_emulator_or_skip())
    try:
        emulator.start()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
            yield emulator.host
    finally:
        emulator.close()


@pytest.fixture
def private_pubsub_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[PubSubEmulator]:
    """An emulator of this test's own, to stop, restart, pause and resume."""
    emulator = PubSubEmulator(_emulator_or_skip())
    try:
        emulator.start()
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        yield emulator
    finally:
        emulator.close()


def matches_existence_filter(expression: str, attributes: dict[str, str]) -> bool:
    """Evaluate a filter of the form ``attributes:A AND attributes:B ...`` on attributes.

    Google's emulator before SDK 555 stores subscription filters without applying them; the
    tests then check the attributes against the filter with this (only this form).

    Raises:
        ValueError: The filter has another form.
    """
    keys = []
    for term in expression.split(" AND "):
        if not re.fullmatch(r"attributes:[A-Za-z_][A-Za-z0-9_]*", term.strip()):
            raise ValueError(f"only 'attributes:KEY AND ...' filters are supported: {expression}")
        keys.append(term.strip().split(":", 1)[1])
    return all(key in attributes for key in keys)


def emulator_applies_filters(project: str) -> bool:
    """Whether the emulator delivers only matching messages to a filtered subscription."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, unique("probe"))
    subscription = subscriber.subscription_path(project, unique("probe"))
    try:
        publisher.create_topic(request={"name": topic}, timeout=20)
        subscriber.create_subscription(
            request={"name": subscription, "topic": topic, "filter": "attributes:wanted"},
            timeout=20,
        )
        publisher.publish(topic, b"unwanted").result(timeout=20)
        publisher.publish(topic, b"wanted", wanted="1").result(timeout=20)
        got = [m.data for m in pull_all(subscription, expected=1)]
        return got == [b"wanted"]
    finally:
        publisher.transport.close()
        subscriber.close()


def unique(prefix: str) -> str:
    """A topic or subscription name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def pull_all(subscription: str, expected: int, deadline_seconds: float = 30.0) -> list[Any]:
    """Pull and acknowledge messages until ``expected`` arrived, then drain what is left.

    Args:
        subscription: ``projects/P/subscriptions/S``.
        expected: Stop waiting once this many arrived (more are still collected).
        deadline_seconds: Give up waiting after this long.

    Returns:
        The ``PubsubMessage`` objects received, in arrival order.
    """
    from google.api_core.exceptions import DeadlineExceeded
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    subscriber = pubsub_v1.SubscriberClient()
    messages: list[Any] = []
    deadline = time.monotonic() + deadline_seconds
    try:
        while True:
            waiting = len(messages) < expected and time.monotonic() < deadline
            try:
                with warnings.catch_warnings():  # return_immediately is deprecated, still works
                    warnings.simplefilter("ignore", DeprecationWarning)
                    response = subscriber.pull(
                        request={"subscription": subscription, "max_messages": 100,
                                 "return_immediately": not waiting},
                        timeout=10,
                    )  # fmt: skip
                received = list(response.received_messages)
            except DeadlineExceeded:  # a long pull that found nothing
                received = []
            if received:
                subscriber.acknowledge(
                    subscription=subscription, ack_ids=[m.ack_id for m in received]
                )
                messages += [m.message for m in received]
            elif not waiting:
                return messages
    finally:
        subscriber.close()
