"""Tests of fastgan.evaluate."""
