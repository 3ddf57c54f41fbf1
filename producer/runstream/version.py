"""The SDK version, stamped into every Envelope so processors know the producer."""

__version__ = "0.1.0"
