import sys

from sanctum_py.cli import main

sys.exit(main())
