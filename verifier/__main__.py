"""``python -m verifier`` is ``civitas-verify``."""

from verifier.cli import main

raise SystemExit(main())
