"""`python -m songscope.cli`: the `songscope` command."""

from songscope.cli import entry

entry()
