"""Stallbox appliance: the checkout node and everything the box knows."""

__version__ = "0.1.0"
