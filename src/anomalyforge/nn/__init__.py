"""Shared torch pieces: the fit loop, batched inference, flow builders and exact kNN search."""
