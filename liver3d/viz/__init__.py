"""Figures: slice montages with label overlays."""
