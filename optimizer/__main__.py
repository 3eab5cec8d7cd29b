"""`python -m optimizer` is the `optimize` command."""

from optimizer.entry import main

main()
