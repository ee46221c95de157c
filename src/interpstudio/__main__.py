"""``python -m interpstudio`` runs the CLI."""

from interpstudio.cli import main

main()
