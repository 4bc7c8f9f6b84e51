"""``python -m headstart`` runs the CLI."""

from headstart.cli import main

main()
