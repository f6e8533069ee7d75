"""kamtools: the Key Account Management analysis kit.

The public names below are re-exported explicitly and imported on first use (PEP 562), so
``import kamtools`` stays fast and a notebook pulls in statsmodels or SALib only when it needs them.

>>> import kamtools as kt                                   # doctest: +SKIP
>>> dataset = kt.load_dataset(kt.load_config("configs/sample.yaml"))  # doctest: +SKIP
>>> panel = kt.build_panel(dataset)                         # doctest: +SKIP
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "exceptions": ["KamError", "ConfigError", "DataValidationError", "ParameterError", "NotFittedError",
                   "ConvergenceError"],
    "config": ["load_config", "Config"],
    "io": ["load_dataset", "Dataset"],
    "quality": ["DataQuality"],
    "schema": ["CONTRACT", "contract_markdown"],
    "panel": ["build_panel"],
    "sample": ["generate_world", "write_world"],
    "report": ["render_pack"],
    "batch": ["render_batch"],
    "selection": ["account_criteria", "weighted_sum", "topsis", "select_key_accounts", "rank_robustness"],
    "kpi": ["nps", "nps_standard_error", "annualise_churn", "revenue_retention", "health_score", "kpi_table"],
    "clv": ["rfm_summary", "BetaGeo", "GammaGamma", "customer_lifetime_value", "holdout_validation"],
    "roi": ["did", "event_study", "staggered_did", "programme_roi"],
    "retention": ["retention_clv", "clv_elasticities", "retention_uplift", "tornado", "sobol_indices"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'kamtools' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
