"""`python -m lvyue` runs the command line."""

from lvyue.cli import main

main()
