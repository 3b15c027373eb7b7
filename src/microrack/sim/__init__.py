"""The hardware twin: simulated boards that behave like real ones.

``open_node(board)`` gives one simulated board behind the ``HostFS`` protocol
(a virtual ``/proc`` and ``/sys``), for ``microrack agent --simulate`` and the
fan controller.  ``Twin`` steps many nodes together as numpy arrays, for
``microrack sim`` scenarios and the scale benchmark.
"""

from microrack.sim._model import COOLERS, BoardModel, board_model
from microrack.sim._node import GET_THROTTLED, NodeDown, TwinNode, open_node
from microrack.sim._params import (
    KINDS,
    BoardPhysics,
    Cooler,
    Param,
    TwinData,
    physics_for,
    twin_data,
)
from microrack.sim._physics import Twin
from microrack.sim._report import summary_text, write_html
from microrack.sim._scenario import GroupCheck, NodeResult, SimResult, run_files, run_scenario
from microrack.sim._script import (
    FAULT_KINDS,
    Fault,
    NodeScript,
    Scenario,
    load_node_script,
    load_scenario,
)

__all__ = [
    "COOLERS",
    "FAULT_KINDS",
    "GET_THROTTLED",
    "KINDS",
    "BoardModel",
    "BoardPhysics",
    "Cooler",
    "Fault",
    "GroupCheck",
    "NodeDown",
    "NodeResult",
    "NodeScript",
    "Param",
    "Scenario",
    "SimResult",
    "Twin",
    "TwinData",
    "TwinNode",
    "board_model",
    "load_node_script",
    "load_scenario",
    "open_node",
    "physics_for",
    "run_files",
    "run_scenario",
    "summary_text",
    "twin_data",
    "write_html",
]
