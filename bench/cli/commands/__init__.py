"""One module per command: ``HELP``, ``EXAMPLES``, ``ORDER``, ``add_arguments(parser)`` and
``run(args) -> exit code``. A new command is one new file here."""
