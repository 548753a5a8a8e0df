"""``python -m kwslab`` runs the command line."""

from kwslab.cli import main

main()
