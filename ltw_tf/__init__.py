"""ltw-tf: Learning-to-Weight (Sun et al., AAAI 2021) for domain-general face-forgery detection."""

__version__ = "0.1.0"
