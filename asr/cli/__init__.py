"""Command-line entry points: ``asr <subcommand>``; each subcommand module has ``main(argv)``."""
