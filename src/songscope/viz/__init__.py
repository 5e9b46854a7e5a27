"""Figures (`figures`) and the self-contained HTML report (`report`)."""
