"""The ``modelcycle`` command line: Typer + Rich, one module per noun.

Every command is thin: parse, make one port (or store) call, render. Errors are turned into
one ``error: …`` line on stderr by ``_errors.ErrorHandlingGroup``, never a traceback.
"""
