"""``python -m fastgan``: same as the ``fastgan`` command."""

from fastgan.cli import main

raise SystemExit(main())
