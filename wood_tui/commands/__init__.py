"""One module per `wood` subcommand. Each has `add_arguments(parser)` and
`run(args) -> int` (the exit status); `wood_tui.cli` wires them up."""
