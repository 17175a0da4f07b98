"""`esup`: the root command group; each command lives in its own module of this package, added below.

The one rule for adding a command (or command group) `esup NAME`:

1. Write it in ``esup/cli/NAME.py`` as a module-level ``click.command`` or ``click.group`` (subcommands go on
   that group in the same module). The module registers nothing itself: no ``register(main)``, no ``@main``.
2. Import the module below and add its command to ``COMMANDS`` (``esup --help`` lists them by name).
3. Import the service packages it drives inside the command's function, so ``esup --help`` stays fast;
   ``esup/cli`` is the top layer (docs/architecture.md): it may import every package, and nothing may
   import it (``lint-imports``, run by ``make lint``).

``tests/unit/test_cli_layout.py`` fails when a command defined in this package is not reachable from ``esup``.
"""

from __future__ import annotations

import click

from esup.cli import (
    access,
    api,
    bulletin,
    case,
    catalog,
    clock,
    complaints,
    console,
    dashboards,
    db,
    directory,
    dossier,
    evaluate,
    gateway,
    loop,
    notifier,
    publish,
    rankings,
    rules,
    schema,
    scores,
    services,
    simulate,
    sink,
    stack,
    status,
    topics,
    verify,
    whatif,
    worker,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Electronic supervision (电子监察) of administrative licensing.

    \b
    Start here:
      make up                      the stack, the workers, the sink, the notifier and a live province
      esup rankings --watch        who is late, ranked (names from the directory)
      esup console                 the web console: inbox, findings, supervisors' queue (127.0.0.1:8090)
      esup case CASE_ID            one case: timeline, clocks, findings with evidence
      esup status lag|worker|services|stack    what runs and how far behind it is
      esup evaluate FILE --catalog CATALOG    the rules over a file of events, no servers
      esup verify                  are the findings in ClickHouse what the workers published?
    Every command below has --help.
    """


COMMANDS: tuple[click.Command, ...] = (
    # servers and their set-up
    stack.stack,
    topics.topics,
    db.db,
    access.access,
    # the platform's processes
    services.services,
    status.status,
    worker.worker,
    clock.clock,
    sink.sink,
    gateway.gateway,
    notifier.notifier_group,
    loop.loop,
    complaints.complaints,
    api.api,
    console.console,
    # data in
    publish.publish,
    catalog.catalog,
    directory.directory_group,
    simulate.simulate,
    # results
    rankings.rankings,
    scores.scores,
    case.case,
    dossier.dossier,
    bulletin.bulletin,
    verify.verify,
    whatif.whatif,
    dashboards.dashboards_group,
    # without servers
    evaluate.evaluate,
    rules.rules,
    schema.schema,
    # old spellings, hidden, for one release
    worker.worker_status,
)

for command in COMMANDS:
    main.add_command(command)
