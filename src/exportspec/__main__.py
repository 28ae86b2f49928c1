"""`python -m exportspec`."""

from exportspec.cli import main

main()
