"""The repository stands on its own: what the code cites is here, and the docs name
what the code has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.commands import TABLE
from bot.settings import BotSettings

ROOT = Path(__file__).resolve().parent.parent
INTERFACE = (ROOT / "docs" / "interface.md").read_text()
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text()
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


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
    assert cited >= 9  # code and tests cite the contract by section


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


def test_every_module_the_pages_name_exists() -> None:
    """The other way round: no row or pointer names a module that was moved or removed."""
    named = {
        (doc.name, module)
        for doc in (ROOT / "ARCHITECTURE.md", README, ROOT / "BENCHMARKS.md", *DOCS)
        for module in re.findall(r"`((?:bot|model|bench|tests)/[\w/.-]+\.py)`", doc.read_text())
    }
    assert len({m for _, m in named if m.startswith(("bot/", "model/"))}) >= 60
    assert [(doc, m) for doc, m in named if not (ROOT / m).is_file()] == []


def anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def links(path: Path) -> list[tuple[str, str]]:
    """The relative links of a Markdown file: (target path, #anchor or "")."""
    found = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    pairs = [(target.partition("#")[0], target.partition("#")[2]) for target in found]
    return [(file, frag) for file, frag in pairs if not re.match(r"[a-z]+:", file)]


@pytest.mark.parametrize("doc", [README, ROOT / "BENCHMARKS.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve_to_files_and_headings(doc: Path) -> None:
    for file, frag in links(doc):
        target = (doc.parent / file).resolve() if file else doc
        assert target.exists(), f"{doc.name} links to {file}, which does not exist"
        if frag:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            assert frag in {anchor(h) for h in headings}, f"{doc.name}: no #{frag} in {file}"


def test_every_reference_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / file).resolve() for file, _ in links(README) if file}
    assert [p.name for p in DOCS if p.resolve() not in linked] == []


def test_the_configuration_page_names_every_setting_and_no_other() -> None:
    """docs/configuration.md has a row for every setting of BotSettings; any other variable
    it names is one the code reads itself (or Spark does)."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    first_cells = re.findall(r"^\| ((?:`[A-Z_]+`(?:, )?)+) \|", page, re.MULTILINE)
    rows = {name for cell in first_cells for name in re.findall(r"`([A-Z_]+)`", cell)}
    known = {f.alias for f in BotSettings.model_fields.values() if f.alias}
    assert known - rows == set(), "settings without a row in docs/configuration.md"
    code = "".join(p.read_text() for p in (ROOT / "model").rglob("*.py"))
    assert {name for name in rows - known if name not in code} == set()


def test_env_example_names_only_real_settings() -> None:
    known = {f.alias for f in BotSettings.model_fields.values() if f.alias}
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert named and named <= known, named - known
