"""liver3d: 3D-aware CT imaging of the liver and its tumors, built on MONAI.

Subpackages load on first use (``liver3d.transforms``, ``liver3d.data``, ...), so ``import liver3d`` is cheap
and bundle configs can write ``$import liver3d`` and then ``liver3d.data.load_datalist(...)``.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "cam",
    "data",
    "engines",
    "evaluation",
    "export",
    "geometry",
    "inference",
    "io",
    "labels",
    "losses",
    "networks",
    "paths",
    "phantoms",
    "report",
    "search",
    "attribution",
    "ae",
    "bundle_support",
    "errors",
    "manifest",
    "floors",
    "repeatability",
    "transforms",
    "viz",
    "windows",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"liver3d.{name}")
    raise AttributeError(f"module 'liver3d' has no attribute {name!r}")
