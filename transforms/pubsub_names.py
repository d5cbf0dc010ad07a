"""Pub/Sub paths and credentials, checked before any client is made or any run starts.

Consumes a topic or subscription path as the user gave it (``--topic``, ``--dead-letter-topic``,
``newsbeam topics`` and ``newsbeam subscribe`` arguments) and the process's environment;
produces the path unchanged, or raises ``PubSubError`` with a one-line message naming the
expected form (``projects/PROJECT/topics/NAME``, Pub/Sub's rules for NAME and for a project
id) or how to get credentials (``NO_CREDENTIALS``: the emulator or application default
credentials). ``transforms.pubsub``'s publisher checks its topic here too; no Beam.
"""

from __future__ import annotations

import os
import re

from transforms.pubsub_messages import PubSubError

_NAME = r"(?!goog)[A-Za-z][-A-Za-z0-9._~%+]{2,254}"
_PATHS = {
    kind: re.compile(rf"projects/([^/\s]+)/{kind}/{_NAME}") for kind in ("topics", "subscriptions")
}
# What Pub/Sub allows as the NAME of a topic or subscription.
NAME_RULE = "NAME 3-255 letters, digits or -._~%+, starting with a letter, not with goog"
# A Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a
# letter and not ending with a hyphen; legacy ids carry a domain prefix (example.com:my-id).
PROJECT_ID = re.compile(r"(?:[a-z0-9][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]")
PROJECT_RULE = "6-30 lowercase letters, digits or hyphens, starting with a letter, e.g. my-project"


def check_topic(topic: str) -> str:
    """Check a full topic path.

    Args:
        topic: ``projects/PROJECT/topics/TOPIC``.

    Returns:
        The topic path, unchanged.

    Raises:
        PubSubError: The path is malformed; the message shows the expected form.
    """
    return _checked(topic, "Pub/Sub topic", "topics")


def check_subscription(subscription: str) -> str:
    """Check a full subscription path, as ``check_topic`` checks a topic's.

    Raises:
        PubSubError: The path is malformed; the message shows the expected form.
    """
    return _checked(subscription, "subscription", "subscriptions")


def _checked(path: str, what: str, collection: str) -> str:
    match = _PATHS[collection].fullmatch(path)
    if not match:
        raise PubSubError(
            f"not a {what} path: {path!r} (expected projects/PROJECT/{collection}/NAME, "
            f"{NAME_RULE})"
        )
    if not PROJECT_ID.fullmatch(match[1]):  # Pub/Sub refuses it at every publish or pull
        raise PubSubError(
            f"not a {what} path: {path!r} (its project {match[1]!r} is not a Google Cloud "
            f"project id: {PROJECT_RULE})"
        )
    return path


NO_CREDENTIALS = (
    "no Google Cloud credentials: set PUBSUB_EMULATOR_HOST=HOST:PORT to use the emulator, "
    "or run 'gcloud auth application-default login'"
)


def check_credentials() -> None:
    """Check that a Pub/Sub client here could authenticate: the emulator needs none
    (``PUBSUB_EMULATOR_HOST``), the service application default credentials.

    Raises:
        PubSubError: neither (the message says how to get either).
    """
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return
    import google.auth
    import google.auth.exceptions

    try:
        google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        raise PubSubError(NO_CREDENTIALS) from None
