"""Outputs: NIfTI label maps on the input's grid and 3D Slicer segmentations."""

from liver3d.export.slicer import read_slicer_segments, write_slicer_segmentation
from liver3d.export.writers import SaveSegmentationd

__all__ = ["SaveSegmentationd", "read_slicer_segments", "write_slicer_segmentation"]
