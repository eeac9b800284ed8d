"""``python -m lepton_jupyter.datasets``: see :func:`lepton_jupyter.datasets.cli.main`."""

import sys

from .cli import main

sys.exit(main())
