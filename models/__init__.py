"""Shipped model files (data only): the LiteRT network, its tag names and the trained heads.

The analyzer locates them through :mod:`streamchill.analyzer.model_files`. The scripts beside
them (``build_musicnn.py``, ``train_heads.py``, ``devset/``) build and train them from a
checkout and are not part of the installed package.
"""
