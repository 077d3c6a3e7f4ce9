"""Store notebooks as JupyterLab would save them unopened: no outputs, and the metadata the
kernel would write, so that opening one does not mark it modified.

Why: when a kernel connects, JupyterLab replaces the notebook's ``metadata.language_info``
with the kernel's own (name, version, mimetype, codemirror_mode, ...). If the stored block
differs in any key, even only the Python patch version, the notebook is "modified" before
the reader has touched it and they are asked to save on close. So every stored notebook
carries exactly the block that ipykernel reports on the project's reference interpreter (the
README's environment, Python 3.11), plus nbformat 4.5 with cell ids, no outputs, no
execution counts, and Lab's JSON layout (indent 1, trailing newline).

    python tools/normalise_notebooks.py            # rewrite notebooks/*.ipynb in place
    python tools/normalise_notebooks.py --check    # exit 1 and list what differs (tests use it)

Run it after editing a notebook outside JupyterLab, or after saving one from JupyterLab with
outputs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import uuid
from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def kernel_language_info(version: str | None = None) -> dict[str, Any]:
    """The ``language_info`` ipykernel reports (what JupyterLab writes), for this interpreter's
    Python version or ``version``."""
    from ipykernel.ipkernel import IPythonKernel

    return {**IPythonKernel.language_info, "version": version or platform.python_version()}


def normalised(nb: dict[str, Any], language_info: dict[str, Any]) -> dict[str, Any]:
    """``nb`` without outputs, with nbformat 4.5 cell ids and the kernel's metadata."""
    out = json.loads(json.dumps(nb))
    out["nbformat"], out["nbformat_minor"] = 4, 5
    out["metadata"]["kernelspec"] = dict(KERNELSPEC)
    out["metadata"]["language_info"] = dict(language_info)
    for cell in out["cells"]:
        cell.setdefault("id", uuid.uuid4().hex[:8])
        cell.setdefault("metadata", {})
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return out


def dumps(nb: dict[str, Any]) -> str:
    """JupyterLab's on-disk layout: indent 1, keys sorted, non-ASCII kept, trailing newline."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report, do not rewrite")
    ap.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    args = ap.parse_args(argv)
    info = kernel_language_info()
    stale = []
    for path in args.paths or sorted(NOTEBOOKS.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        want = dumps(normalised(json.loads(text), info))
        if text != want:
            stale.append(path)
            if not args.check:
                path.write_text(want, encoding="utf-8")
    verb = "not normalised" if args.check else "normalised"
    for path in stale:
        print(f"{verb}: {path}")
    if args.check and stale:
        print("run: python tools/normalise_notebooks.py", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
