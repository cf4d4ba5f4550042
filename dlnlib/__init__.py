"""dlnlib: deep linear networks, after Chitour, Liao & Couillet (arXiv:1811.03568).

The public API is re-exported here; see the module docstrings for the mathematics.
"""

from .critical import (
    CriticalIndexSet,
    LimitCriticalValue,
    critical_index_sets,
    critical_point,
    critical_value_of,
    critical_values,
    identify_index_set,
    inversion_number,
    limit_critical_value,
)
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
from .hessian import (
    Classification,
    Inertia,
    classification,
    classify,
    hessian,
    hessian_fd,
    hessian_vector_product,
    inertia,
    pairing_criterion,
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
    "Classification",
    "CriticalIndexSet",
    "DataSummary",
    "DescentResult",
    "Inertia",
    "LimitCriticalValue",
    "Reduction",
    "Trajectory",
    "balanced_weights",
    "check_data",
    "classification",
    "classify",
    "critical_index_sets",
    "critical_point",
    "critical_value_of",
    "critical_values",
    "end_to_end",
    "gradient",
    "gradient_descent",
    "gradient_descent_batch",
    "gradient_flow",
    "gradient_flow_batch",
    "hessian",
    "hessian_fd",
    "hessian_vector_product",
    "identify_index_set",
    "inertia",
    "invariants",
    "inversion_number",
    "least_squares",
    "limit_critical_value",
    "loss",
    "pairing_criterion",
    "partial_product",
    "random_weights",
    "reduce_data",
]
