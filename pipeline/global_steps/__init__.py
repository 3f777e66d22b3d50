"""Whole-dataset steps and the two primitives they are built from: shuffles and summaries."""
