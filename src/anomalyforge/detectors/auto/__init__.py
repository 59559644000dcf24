"""``auto``: a detector chosen and combined per series on forged anomalies in a held-out part of training."""
