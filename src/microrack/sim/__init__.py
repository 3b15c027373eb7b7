"""The hardware twin: simulated boards that behave like real ones.

``open_node(board)`` gives one simulated board behind the ``HostFS`` protocol
(a virtual ``/proc`` and ``/sys``), for ``microrack agent --simulate`` and the
fan controller.  ``Twin`` steps many nodes together as numpy arrays, for
``microrack sim`` scenarios and the scale benchmark.  ``load_runs``,
``evaluate`` and ``calibrate`` hold the twin against published runs and refit
its estimated parameters (``benchmarks/twin_calibrate.py``).
"""

from microrack.sim._calibrate import (
    RUNS_FILE,
    Calibration,
    Run,
    RunError,
    calibrate,
    evaluate,
    load_runs,
    write_fitted,
)
from microrack.sim._faults import AnyFault, FaultBase, FaultRequest, NodeFacts
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
from microrack.sim._scenario import (
    GroupCheck,
    NodeResult,
    SimResult,
    fault_targets,
    run_files,
    run_scenario,
)
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
    "RUNS_FILE",
    "AnyFault",
    "BoardModel",
    "BoardPhysics",
    "Calibration",
    "Cooler",
    "Fault",
    "FaultBase",
    "FaultRequest",
    "GroupCheck",
    "NodeDown",
    "NodeFacts",
    "NodeResult",
    "NodeScript",
    "Param",
    "Run",
    "RunError",
    "Scenario",
    "SimResult",
    "Twin",
    "TwinData",
    "TwinNode",
    "board_model",
    "calibrate",
    "evaluate",
    "fault_targets",
    "load_node_script",
    "load_runs",
    "load_scenario",
    "open_node",
    "physics_for",
    "run_files",
    "run_scenario",
    "summary_text",
    "twin_data",
    "write_fitted",
    "write_html",
]
