"""Tests of fastgan.evaluation (fastgan.evaluate and its parts)."""
