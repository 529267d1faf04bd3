"""The repository stands on its own: what the code cites is here, and the docs name
what the code has."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands import TABLE
from bot.settings import BotSettings

ROOT = Path(__file__).resolve().parent.parent
INTERFACE = (ROOT / "docs" / "interface.md").read_text()
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text()


def sources() -> list[Path]:
    found = [ROOT / ".env.example", ROOT / "README.md"]
    for folder in ("bot", "model", "bench", "tests", ".ci"):
        found += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", "")]
    return [p for p in found if p.is_file() and p.name != "test_docs.py"]


def test_citations_point_to_sections_of_the_interface() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", INTERFACE, re.MULTILINE))
    cited = 0
    for path in sources():
        text = path.read_text(errors="replace")
        # no citation of the design notes outside the repository
        assert not re.search(r"DESIGN(\.md)? §", text), path
        for number in re.findall(r"docs/interface\.md §(\d+)", text):
            assert number in sections, (path, number)
            cited += 1
    assert cited >= 9  # the citations that used to point outside the repository


def test_every_setting_named_in_the_interface_exists() -> None:
    known = {f.alias for f in BotSettings.model_fields.values() if f.alias}
    named = set(re.findall(r"`((?:SEGBOT|SLACK)_[A-Z_]+|PORT)`", INTERFACE))
    assert named and named <= known, named - known


def test_every_command_of_the_table_is_in_the_interface() -> None:
    for spec in TABLE:
        # the doc writes the two retrain rows as one: `/segments retrain [force]`
        syntax = spec.syntax.replace("retrain force", "retrain [force]")
        assert syntax in INTERFACE, spec.syntax


def test_the_architecture_table_names_every_module() -> None:
    modules = [
        p.relative_to(ROOT).as_posix()
        for folder in ("bot", "model")
        for p in (ROOT / folder).rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "listeners" not in p.parts
    ]
    missing = [m for m in modules if f"`{m}`" not in ARCHITECTURE]
    assert not missing, f"add a row to ARCHITECTURE.md for {missing}"
