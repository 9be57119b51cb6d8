import sys

from calocoffea.app.cli import main

sys.exit(main())
