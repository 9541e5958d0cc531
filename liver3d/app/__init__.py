"""The liver3d viewer: upload a CT (or a 2D image), run a registered bundle, scroll the result, download it.

Start it with ``python -m liver3d.app --models demo_out/app_models.json`` (Streamlit, bound to 127.0.0.1).
The pieces work without Streamlit too: :func:`stage_upload` (checked input on disk), :func:`run_model`
(a bundle on that input) and :func:`render_volume_slice` (one displayed plane with its overlays).
"""

from liver3d.app.registry import ModelEntry, load_registry, register_model
from liver3d.app.render import render_volume_slice
from liver3d.app.runners import RunError, RunResult, run_model
from liver3d.app.uploads import StagedInput, UploadError, stage_upload

__all__ = [
    "ModelEntry",
    "RunError",
    "RunResult",
    "StagedInput",
    "UploadError",
    "load_registry",
    "register_model",
    "render_volume_slice",
    "run_model",
    "stage_upload",
]
