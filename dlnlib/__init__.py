"""dlnlib: deep linear networks, after Chitour, Liao & Couillet (arXiv:1811.03568).

The public API is re-exported here; see the module docstrings for the mathematics.
"""

from .dynamics import (
    BatchDescentResult,
    BatchTrajectory,
    DescentResult,
    Trajectory,
    gradient_descent,
    gradient_descent_batch,
    gradient_flow,
    gradient_flow_batch,
)
from .model import (
    DataSummary,
    Reduction,
    balanced_weights,
    check_data,
    end_to_end,
    gradient,
    invariants,
    least_squares,
    loss,
    partial_product,
    random_weights,
    reduce_data,
)

__version__ = "0.1.0"

__all__ = [
    "BatchDescentResult",
    "BatchTrajectory",
    "DataSummary",
    "DescentResult",
    "Reduction",
    "Trajectory",
    "balanced_weights",
    "check_data",
    "end_to_end",
    "gradient",
    "gradient_descent",
    "gradient_descent_batch",
    "gradient_flow",
    "gradient_flow_batch",
    "invariants",
    "least_squares",
    "loss",
    "partial_product",
    "random_weights",
    "reduce_data",
]
