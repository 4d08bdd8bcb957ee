"""physnn: physical neural substrates as differentiable differential equations, on JAX.

The public API is re-exported here; see DESIGN.md for the architecture.
"""

__version__ = "0.1.0"

from . import (
    analysis,
    checkpoint,
    codesign,
    contract,
    delay,
    drives,
    errors,
    experiment,
    parallel,
    phases,
    readout,
    resonators,
    tasks,
    train,
)
from .delay import delay_map, node_states
from .devices import (
    AbstractDelayDevice,
    AbstractDevice,
    DuffingDelayNode,
    DuffingNetwork,
    IkedaNode,
    MackeyGlassNode,
    MottNetwork,
    STONetwork,
)
from .drives import Chirps, Constant, Masked, SampleAndHold, Tones
from .errors import UserError
from .simulate import simulate
from .trajectory import SimulationError, Trajectory

__all__ = [
    "AbstractDevice",
    "AbstractDelayDevice",
    "STONetwork",
    "MottNetwork",
    "DuffingNetwork",
    "DuffingDelayNode",
    "MackeyGlassNode",
    "IkedaNode",
    "analysis",
    "checkpoint",
    "experiment",
    "phases",
    "codesign",
    "delay",
    "delay_map",
    "node_states",
    "Constant",
    "Masked",
    "SampleAndHold",
    "Tones",
    "Chirps",
    "SimulationError",
    "UserError",
    "contract",
    "errors",
    "Trajectory",
    "simulate",
    "drives",
    "parallel",
    "readout",
    "resonators",
    "tasks",
    "train",
]
