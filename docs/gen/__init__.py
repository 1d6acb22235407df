"""Build-time generators of the manual (docs/): API pages, tables and figures from the code and
``bench/results/*.json``. Called by ``docs/hooks.py`` during ``mkdocs build`` and by the tests;
nothing they produce is committed."""
