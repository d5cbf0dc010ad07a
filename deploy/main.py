"""The Flex Template's Python main file: submit the streaming newsbeam job and return.

Consumes the command line the Flex Template launcher builds from the template parameters
(``--name=value`` for each, see ``deploy/metadata.json``) plus Dataflow's own options
(``--runner``, ``--project``, ``--region``, ``--sdk_container_image`` ...).
Produces a submitted Dataflow job; unlike ``newsbeam run`` it does not wait for the job
to finish, since a streaming job never does.

Template parameters are always ``name=value``: a yes/no newsbeam flag arrives as
``--all_stories=true``, which argparse's ``store_true`` refuses, so ``template_argv()``
turns ``true`` into the bare flag and ``false`` into nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipelines.options import add_newsbeam_arguments

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0", ""})


class TemplateArgumentError(ValueError):
    """A template parameter the launcher cannot pass on (names the parameter and value)."""


def boolean_flags() -> frozenset[str]:
    """Every spelling (``--all-stories``, ``--all_stories``) of newsbeam's yes/no flags."""
    parser = argparse.ArgumentParser(add_help=False)
    add_newsbeam_arguments(parser)
    return frozenset(
        spelling
        for action in parser._actions
        if isinstance(action, argparse._StoreTrueAction)
        for spelling in action.option_strings
    ) | {"--streaming"}


def template_argv(argv: Sequence[str]) -> list[str]:
    """Rewrite ``--flag=true|false`` for yes/no flags; make sure the job streams.

    Args:
        argv: the launcher's arguments.

    Returns:
        Arguments Beam's option parser accepts, always with ``--streaming``.

    Raises:
        TemplateArgumentError: a yes/no flag with a value other than true or false.
    """
    flags = boolean_flags()
    out: list[str] = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if not eq or name not in flags:
            out.append(arg)
            continue
        word = value.strip().lower()
        if word in TRUE_WORDS:
            out.append(name)
        elif word not in FALSE_WORDS:
            raise TemplateArgumentError(
                f"template parameter {name.lstrip('-')}: expected true or false, got {value!r}"
            )
        elif name == "--streaming":
            raise TemplateArgumentError("this template always runs streaming: drop streaming=false")
    if "--streaming" not in out:
        out.append("--streaming")
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in out):
        out.append("--runner=DataflowRunner")  # a template runs on Dataflow, whatever the default
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Build the graph from the template parameters and submit it without waiting."""
    from pipelines.monitor import launch, prepare

    logging.getLogger().setLevel(logging.INFO)
    options, config = prepare(template_argv(sys.argv[1:] if argv is None else argv))
    launch(options, config)  # submit and return: the launcher must not wait on a streaming job


if __name__ == "__main__":
    main()
