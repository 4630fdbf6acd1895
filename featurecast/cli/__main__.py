"""`python -m featurecast.cli`: the same as the `featurecast` command."""

import sys

from featurecast.cli.main import main

sys.exit(main())
