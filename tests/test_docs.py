"""docs/writing-a-backend.md shows every hook's exact signature, and no hook that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "writing-a-backend.md"
HOOKSPECS = ROOT / "core" / "oblako_backends" / "hookspecs.py"


def hook_signatures() -> dict[str, str]:
    """`def name(args) -> returns` of every hookspec, as written in hookspecs.py."""
    tree = ast.parse(HOOKSPECS.read_text())
    return {
        node.name: f"def {node.name}({ast.unparse(node.args)}) -> {ast.unparse(node.returns)}"
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("oblako_") and node.returns is not None
    }


def test_every_hook_signature_appears_exactly() -> None:
    text = GUIDE.read_text()
    signatures = hook_signatures()
    assert len(signatures) >= 11
    missing = [sig for sig in signatures.values() if sig not in text]
    assert not missing, f"docs/writing-a-backend.md lacks or misstates: {missing}"


def test_the_guide_names_no_hook_that_does_not_exist() -> None:
    named = set(re.findall(r"def (oblako_\w+)\(", GUIDE.read_text()))
    assert named == set(hook_signatures())


def test_the_packages_type_checking_imports_and_its_lazy_table_name_the_same_exports() -> None:
    import oblako_backends

    tree = ast.parse(Path(oblako_backends.__file__).read_text())
    (guard,) = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"]
    imported = {
        a.asname or a.name: node.module for node in guard.body if isinstance(node, ast.ImportFrom) for a in node.names
    }
    assert imported == oblako_backends._WHERE
    assert all(getattr(oblako_backends, name) is not None for name in oblako_backends.__all__)


def test_tox_covers_every_plugin_distribution_as_scripts_test_sh_finds_them() -> None:
    import configparser

    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    distributions = sorted(str(p.parent.relative_to(ROOT)) for p in ROOT.glob("plugins/*/pyproject.toml"))
    distributions += sorted(
        str(p.parent.relative_to(ROOT)) for p in ROOT.glob("examples/oblako-backend-*/pyproject.toml")
    )
    installed = [line.strip().removeprefix("-e ") for line in tox["testenv"]["deps"].splitlines() if line.strip()]
    assert sorted(installed) == sorted([".[testing]", *distributions])
    typed = tox["testenv:type"]["commands"].split()
    assert sorted(t for t in typed if t.endswith("/src")) == sorted(f"{d}/src" for d in distributions)
    assert "tox -q -e lint,type" in (ROOT / "scripts" / "test.sh").read_text()  # what CI runs
