"""`python -m cliply.cli`."""

from cliply.cli import main

main()
