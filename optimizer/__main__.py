"""`python -m optimizer` is the `optimize` command."""

from optimizer.cli import main

main()
