"""Volume metrics (Dice, IoU, HD95, ASD, volumes), per-case tables and bootstrap summaries."""
