import sys

from calocoffea.cli import main

sys.exit(main())
