import sys

from .cli import main

if __name__ == "__main__":  # a process that multiprocessing spawns imports this module too
    sys.exit(main())
