import sys

from nos.cli import entry

sys.exit(entry())
