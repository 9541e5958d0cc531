"""Realistic abdominal CT phantoms with liver and tumor labels, generated on demand (no downloads)."""

from liver3d.phantoms.anatomy import PhantomCase, Tissue, Tumor, generate_phantom
from liver3d.phantoms.dataset import write_phantom_dataset

__all__ = ["PhantomCase", "Tissue", "Tumor", "generate_phantom", "write_phantom_dataset"]
