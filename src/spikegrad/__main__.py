"""``python -m spikegrad``: the same as the ``spikegrad`` command."""

from spikegrad.tools.cli import main

raise SystemExit(main())
