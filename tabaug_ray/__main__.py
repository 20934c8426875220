import sys

from tabaug_ray.cli import main

sys.exit(main())
