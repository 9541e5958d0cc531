"""Synthetic lesions planted in a real CT (:mod:`.planting`); the command line is ``__main__``."""

from liver3d.phantoms.real_background.planting import (
    RealBackground,
    RealBackgroundError,
    plant_variant,
    write_real_background_dataset,
)

__all__ = ["RealBackground", "RealBackgroundError", "plant_variant", "write_real_background_dataset"]
