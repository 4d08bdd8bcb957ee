"""Physical substrates: one module per device family."""

from ._base import AbstractDelayDevice, AbstractDevice
from .spintronic import STONetwork

__all__ = ["AbstractDevice", "AbstractDelayDevice", "STONetwork"]
