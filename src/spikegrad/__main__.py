"""``python -m spikegrad``: the same as the ``spikegrad`` command."""

from spikegrad.cli import main

raise SystemExit(main())
