"""liver3d: 3D-aware CT imaging of the liver and its tumors, built on MONAI."""

__version__ = "0.1.0"
