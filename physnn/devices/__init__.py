"""Physical substrates: one module per device family."""

from ._base import AbstractDelayDevice, AbstractDevice
from .mechanical import DuffingNetwork
from .mechanical_delay import DuffingDelayNode, thermal_drive
from .mott import MottNetwork
from .photonic import IkedaNode, MackeyGlassNode
from .spintronic import STONetwork

__all__ = [
    "AbstractDevice", "AbstractDelayDevice", "DuffingNetwork", "IkedaNode", "MackeyGlassNode", "MottNetwork",
    "STONetwork",
    "DuffingDelayNode", "thermal_drive",
]
