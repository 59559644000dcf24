"""GenIAS: generator for instantiating anomalies in time series (TCN-VAE with a learned latent perturbation)."""

from anomalyforge.generators.genias.generator import GenIASGenerator

__all__ = ["GenIASGenerator"]
