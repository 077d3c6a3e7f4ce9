"""The two studies do not import each other, nor do the baselines import a study: what they
share lives at the top level of ``geohet_lib`` (geo, land, fields, errors, paths, maps, tables)."""

import ast
from pathlib import Path

import pytest

import geohet_lib

ROOT = Path(geohet_lib.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the ``geohet_lib`` modules a file imports (relative imports resolved)."""
    package = ["geohet_lib", *path.relative_to(ROOT).parent.parts]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("geohet_lib")}


@pytest.mark.parametrize("package, forbidden", [("soc", ("gpp",)), ("baselines", ("gpp", "soc")),
                                                ("uq", ("gpp", "soc")),
                                                ("gpp", ("soc",))])
def test_no_cross_study_imports(package, forbidden):
    bad = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = sorted(m for m in _imported_modules(path)
                      if any(m == f"geohet_lib.{f}" or m.startswith(f"geohet_lib.{f}.")
                             for f in forbidden))
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    assert not bad, f"cross-study imports: {bad}"
