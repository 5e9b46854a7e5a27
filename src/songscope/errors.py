"""The one error a user can fix, and the edge that shows it.

`UserError` is raised for what a user gave or asked for that songscope cannot use: a bad file, a
flag out of range, a song or run that does not exist, a database or lake that does not answer. Its
message says what is wrong, where, and how to fix it. The shells show it as one line and exit
status 2 (the CLI) or a 4xx answer (the web app). Any other exception is a bug, and shows as one:
a ValueError from numpy or pandas is never dressed up as the user's mistake.

It is a ValueError too, so the library's callers that catch ValueError keep working.
"""

from __future__ import annotations


class UserError(ValueError):
    """Something the user gave or asked for that songscope cannot use; the message says how to fix it."""
