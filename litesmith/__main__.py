import sys

from litesmith.cli import main

sys.exit(main())
