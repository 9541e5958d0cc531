"""Hyper-parameter search over bundle configs (Optuna; Hyperband / successive-halving pruning)."""

from liver3d.search.runner import HyperparameterSearch, PruningReporter, format_search_table
from liver3d.search.space import suggest, validate_space

__all__ = ["HyperparameterSearch", "PruningReporter", "format_search_table", "suggest", "validate_space"]
