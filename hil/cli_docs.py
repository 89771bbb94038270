"""The commands that print references: the fault catalogue (``hil faults``) and the file-format
and signal references (``hil schema``); each generated doc in docs/ is one of their outputs."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

__all__ = ["faults", "schema"]


@click.command()
@click.option("--format", "fmt", type=click.Choice(["md", "text"]), default="text", show_default=True)
def faults(fmt: str) -> None:
    """List the fault catalogue (name, layer, targets, parameters, what a real device shows).

    \b
    Example:
      hil faults
      hil faults --format md > docs/faults.md
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.faults import FAULTS, catalogue_markdown

    if fmt == "md":
        click.echo(catalogue_markdown())
        return
    t = Table(title="fault catalogue")
    for col in ("fault", "layer", "targets", "parameters", "summary"):
        t.add_column(col, overflow="fold")
    for ft in FAULTS.values():
        t.add_row(
            ft.name, ft.layer, ", ".join(ft.kinds), ", ".join(ft.params.model_fields) or "–", ft.summary
        )
    Console().print(t)


@click.command()
@click.argument(
    "kind",
    type=click.Choice(["scenario", "study", "campaign", "tariff", "site", "limits", "signals"]),
    default="scenario",
)
def schema(kind: str) -> None:
    """Print a file-format reference in Markdown: scenario (docs/scenario-schema.md), study
    (docs/study-schema.md), campaign (docs/campaign-schema.md), tariff (docs/tariff-schema.md),
    site (docs/site-schema.md), the input limits (docs/limits.md) or every twin signal
    (docs/reference/signals.md); each doc is this output.

    \b
    Example:
      hil schema > docs/scenario-schema.md
      hil schema study > docs/study-schema.md
      hil schema campaign > docs/campaign-schema.md
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil import schema_doc
    from hil.limits import limits_markdown
    from hil.site_schema import site_schema_markdown
    from twin.signals_doc import signals_markdown

    text = {
        "scenario": schema_doc.scenario_schema_markdown,
        "study": schema_doc.study_schema_markdown,
        "campaign": schema_doc.campaign_schema_markdown,
        "tariff": schema_doc.tariff_schema_markdown,
        "site": site_schema_markdown,
        "limits": limits_markdown,
        "signals": signals_markdown,
    }[kind]()
    click.echo(text, nl=False)
