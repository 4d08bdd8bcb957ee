"""Physical substrates: one module per device family."""

from ._base import AbstractDelayDevice, AbstractDevice
from .mott import MottNetwork
from .photonic import IkedaNode, MackeyGlassNode
from .spintronic import STONetwork

__all__ = [
    "AbstractDevice", "AbstractDelayDevice", "IkedaNode", "MackeyGlassNode", "MottNetwork", "STONetwork",
]
