"""What the command line does: detect, fit/score, generate, plotting and --param parsing."""
