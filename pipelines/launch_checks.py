"""What a run needs of the machine and the cloud before anything is read or built.

Consumes the ``newsbeam run`` / ``newsbeam demo`` arguments (``argv``, as Beam's options take
them); produces nothing but a ``UsageError`` with a one-line message when a run could not
start: a Dataflow launch without ``--project``, ``--region``, a ``gs://`` ``--temp_location``
or Google Cloud credentials, a ``gs://`` path without credentials, or no temporary folder
that can be made. ``pipelines.cli`` calls these first; ``pipelines.config.config_from_options``
checks the temporary folder again, for runs started from Python.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.flag_checks import UsageError, parse_all
from pipelines.options import NewsbeamOptions


def check_dataflow_launch(argv: Sequence[str]) -> None:
    """What ``newsbeam run --runner DataflowRunner`` needs before anything is read or built:
    ``--project``, ``--region``, a ``gs://`` ``--temp_location`` and Google Cloud
    credentials. Without them it printed nothing for minutes (the client library retrying
    Cloud Storage, or creating a default bucket), then, stopped, a summary of nothing.

    Raises:
        UsageError: naming every missing flag, or how to get credentials.
    """
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    options = PipelineOptions(list(argv))
    parse_all(options)  # a bad value (--streaming=false) is its own one-line error
    if options.view_as(StandardOptions).runner != "DataflowRunner":
        return
    cloud = options.view_as(GoogleCloudOptions)
    missing = [
        flag
        for flag, value in (("--project", cloud.project), ("--region", cloud.region))
        if not value
    ]
    if not (cloud.temp_location or "").startswith("gs://"):
        missing.append("--temp_location gs://BUCKET/temp")
    if missing:
        raise UsageError(f"--runner DataflowRunner needs {', '.join(missing)}")
    _need_google_credentials("--runner DataflowRunner")


def check_temp_folder() -> None:
    """That a temporary folder can be made: Beam makes one for every run, and the demo one
    for its feed list. Where none can be (``TMPDIR``, ``/tmp``, ``/var/tmp`` and the working
    directory all missing or read-only), each was a ``FileNotFoundError`` traceback.

    Raises:
        UsageError: none can be made; the message says why and what to set.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="newsbeam-check-"):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot make a temporary folder ({exc.strerror or exc}): set TMPDIR to a folder "
            "this user can write"
        ) from None


def check_storage_credentials(argv: Sequence[str]) -> None:
    """A ``gs://`` feed list, output folder, taxonomy or outlet file is read or written by
    this process (on any runner: a Dataflow launch reads the feed list and clears the output
    folder), so it needs Google Cloud credentials. Without them Beam's Cloud Storage client
    retried for two minutes, printing nothing, then failed with a message about standard
    output.

    Raises:
        UsageError: naming the first such flag and how to get credentials.
    """
    nb = PipelineOptions(list(argv)).view_as(NewsbeamOptions)
    flags = (
        ("--feeds", nb.feeds),
        ("--output", nb.output),
        ("--taxonomy", nb.taxonomy),
        ("--outlets", nb.outlets),
    )
    for flag, path in flags:
        if (path or "").startswith("gs://"):
            _need_google_credentials(f"{flag} {path}")
            return


def _need_google_credentials(needed_by: str) -> None:
    """Raise ``UsageError`` (``needed_by``: no credentials, how to get them) unless Google
    Cloud's application default credentials are found here."""
    import google.auth
    import google.auth.exceptions

    try:
        google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        raise UsageError(
            f"{needed_by}: no Google Cloud credentials; run 'gcloud auth application-default login'"
        ) from None
