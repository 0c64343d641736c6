"""What a user types: one module per `streamchill` subcommand, wiring only."""
