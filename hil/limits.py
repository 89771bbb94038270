"""Limits of the bench's input files, as data: each with its value and the reason for it.

Every file the bench reads (sites, point maps, scenarios, tariffs, studies, cells) goes
through :func:`hil.config.load_yaml`, which refuses a file beyond these limits with its
file and line *before* it builds anything large: a 1 KB alias bomb ("billion laughs") is
refused at the alias that would expand it, not after minutes of swapping. The twin's own
size limits (cabinets, racks, GPUs, ratings) are :data:`twin.limits.SIZE_LIMITS`;
:func:`limits_markdown` renders both tables, and ``docs/limits.md`` is its output.
"""

from __future__ import annotations

from twin.limits import SIZE_LIMITS, Limit

__all__ = ["FILE_LIMITS", "RUN_LIMITS", "limits_markdown"]


def _table(*limits: Limit) -> dict[str, Limit]:
    return {lim.name: lim for lim in limits}


#: What :func:`hil.config.load_yaml` accepts.
FILE_LIMITS: dict[str, Limit] = _table(
    Limit(
        "file_bytes",
        4 * 1024 * 1024,
        "byte",
        "the largest shipped file is 10 KB and a URDB rate export is under 1 MB; a bigger "
        "file is a data file given by mistake",
    ),
    Limit(
        "nodes",
        100_000,
        "node",
        "keys and values in the file once aliases are expanded (≈ 60 MB of parse tree); the "
        "largest shipped file has ≈ 1 300",
    ),
    Limit(
        "aliases",
        100,
        "alias",
        "hand-written files use a few '*name' aliases, if any; none ship",
    ),
    Limit(
        "depth",
        32,
        "level",
        "shipped files nest at most 7 mappings/lists deep; a deeper file is generated or hostile "
        "(and would exhaust the parser's stack)",
    ),
    Limit("key_chars", 256, "character", "keys are names: the longest shipped one has 29 characters"),
    Limit(
        "string_chars",
        20_000,
        "character",
        "descriptions run to a few hundred characters; a longer value is data in the wrong place",
    ),
)

#: What a scenario may ask of a run.
RUN_LIMITS: dict[str, Limit] = _table(
    Limit(
        "scenario_chars",
        64,
        "character",
        "the scenario name names the output folder (runs/<scenario>) and the JUnit suite; file "
        "systems refuse names over 255 bytes",
    ),
    Limit(
        "duration_s",
        400 * 86_400.0,
        "s",
        "400 days: a tariff year with margin; a longer horizon is a study (hil roi), not a run",
    ),
    Limit(
        "ticks",
        500_000_000,
        "tick",
        "duration ÷ tick: 400 days at 100 ms is 3.5e8 ticks, days of computing even as fast as possible",
    ),
)


def _value(lim: Limit) -> str:
    v = lim.value
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def limits_markdown() -> str:
    """``docs/limits.md``: every limit, its value and its reason."""
    out = [
        "# Limits",
        "",
        "<!-- generated: hil schema limits > docs/limits.md (tests/unit/hil/test_bad_config.py checks) -->",
        "",
        "Configuration is data from anyone: a typo (`n_cabinets: 100000000`) or a hostile file (a "
        "YAML alias bomb) gets a `file:line` error from `hil validate`, `hil run` and `hil serve` "
        "*before* anything large is allocated, never a host that swaps for minutes. Each limit "
        "sits far above any real site and far below what would hurt the host; the reason says "
        "how far. Every number in a site must also be finite (no `.nan`, `.inf`), and physical "
        "quantities (ratings, capacities, frequencies, time constants) positive.",
        "",
    ]
    sections = (
        (
            "Files",
            "Checked by the YAML loader for every kind of file (sites, point maps, "
            "scenarios, tariffs including URDB JSON, studies, cells). A file must also be UTF-8 "
            "text (a UTF-16 file is named as such) and use no tags beyond YAML's standard ones "
            "(`!!python/object` is refused).",
            FILE_LIMITS,
        ),
        ("Runs", "Checked when a scenario is read and resolved against its site.", RUN_LIMITS),
        (
            "Sites",
            "Checked when a site is built, before the twin allocates its arrays. A name "
            "with a dot is a site parameter; the others are products of parameters.",
            SIZE_LIMITS,
        ),
    )
    for title, intro, table in sections:
        out += [f"## {title}", "", intro, "", "| limit | at most | unit | why |", "|---|--:|---|---|"]
        out += [f"| `{lim.name}` | {_value(lim)} | {lim.unit} | {lim.reason} |" for lim in table.values()]
        out.append("")
    out += [
        "## Exit status of `hil run` and `hil serve`",
        "",
        "| status | meaning |",
        "|--:|---|",
        "| 0 | every expectation passed (`hil serve`: stopped) |",
        "| 1 | an expectation failed, or the run was stopped early |",
        "| 2 | bad input: a file beyond these limits or otherwise invalid; nothing was started |",
        "| 3 | a port could not be bound (in use, not permitted, no such address) |",
        "| 4 | another operating-system error, named with its path: the output folder is "
        "read-only or not writable, the disk is full, a name is too long, a part of the path "
        "is a file. `hil run` writes a probe file in the output folder before it starts "
        "anything; a disk that fills during the run stops it and keeps what was written |",
        "| 5 | `hil run`: the twin's solver failed (NaN/inf state or a model raising); the run "
        "stopped on the last good state and results.json and the report name the device and "
        "the simulated time |",
        "",
    ]
    return "\n".join(out)
