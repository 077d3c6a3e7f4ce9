"""geohet_lib: the tested library behind the geohet notebooks.

Two studies share it: the GPP study (GeoHet, ``geohet_lib.gpp``) and the SOC study (SpTGNN).
Profiles (``smoke`` / ``default`` / ``paper``) live in :mod:`geohet_lib.config`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
