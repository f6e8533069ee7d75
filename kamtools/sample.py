"""A seeded synthetic KAM world with known ground truth.

``generate_world(seed)`` builds a small but realistic B2B customer book (the eight canonical
tables of the data contract) together with the *truth* that produced it: which accounts were
put into the key-account-management (KAM) programme and when, and by how much the programme
really changed their revenue, margin and churn. Every analysis of the kit can therefore be
checked against a known answer, and a workshop can show why a naive before/after comparison
misleads. ``write_world(world, "data/sample")`` writes one CSV per table and ``truth.json``.

The generative model (for trainers)
-----------------------------------
**Accounts.** Each account *i* has a latent yearly size ``a_i`` drawn from a lognormal
(σ = 1.5 on the log scale, so the top 20 % of accounts carry roughly three quarters of the
revenue), a true wallet ``W_i = a_i / s_i`` (share of wallet ``s_i ~ Beta(2.5, 3.5)``), a
latent *fit* ``f_i`` (how much the account can gain from a dedicated key account manager), a
latent *health* ``h_i`` (service quality, standard normal; it moves a little from month to
month as an AR(1)), a base gross-margin rate (larger accounts negotiate lower margins), a
segment (Enterprise ≈ 15 %, Mid-market ≈ 35 %, SMB, assigned by noisy size), an industry, a
region and an account manager (six account managers by region, three key account managers).
The default book turns over about €46 M a year. About 12 % of accounts are won during the
window (their first month is their first order). The CRM judgement scores (1–5 ``product_fit``,
``strategic_value``, ``relationship_strength``, ``logo_appeal``; ``renewal_likelihood`` in
[0, 1]; ``cost_to_serve`` in €/year) and ``wallet_estimate`` (the true wallet with noise)
are noisy readings of the latents, with a few values missing as in real CRM exports.

**Latent potential.** ``potential_i = 3 · W_i · margin_i · exp(0.35 f_i)``: the gross margin
the account's whole wallet could yield over three years, scaled by fit (€). It deliberately
does not depend on health. ``truth.high_potential`` holds the top 7.5 % of the accounts that
exist at the start of the window (30 of 400).

**Revenue: potential outcomes.** For month *t* (multiplicative)::

    y_it(0) = a_i/12 · m_t · season_t · exp(g_i t/12) · ε_it · B_it/p_i · alive_it(0)
    y_it(1) = y_it(0 without churn) · (1 + lift_it) · alive_it(1)

where ``m_t`` is a market factor growing ``market_growth`` a year (+6 %) with a small common
AR(1) shock, ``season_t`` a fixed B2B seasonality (August low, autumn high, mean 1),
``g_i ~ N(0, 0.04)`` an account's own drift (independent of everything else), ``ε_it`` a
mean-one lognormal shock, ``B_it ~ Bernoulli(p_i)`` whether the account buys at all that
month (large accounts buy every month, small ones now and then; dividing by ``p_i`` keeps the
mean), and ``alive`` whether the account has not churned. Both potential outcomes are
computed for every treated account, so the sample effect is known exactly, not just in
expectation. Monthly revenue is split into orders of several lines (products ``P01``–``P20``
in five product lines; larger accounts buy more lines; key accounts cross-buy one more line
after rollout), each with its own gross-margin rate. About 2.5 % of account-months carry a
credit note (a negative line, a legitimate return); the month's net revenue is unchanged.

**Churn.** A monthly hazard ``c_it = base_segment · exp(-0.8 h_it - 0.32·var(h))`` (mean
``base_segment`` over accounts), multiplied by ``churn_hazard_ratio`` for key accounts from
their rollout month on. Both churn paths share the same uniforms, so ``alive(1) ≥ alive(0)``
when the ratio is below one. A churned account stops buying (and being surveyed or
contacted). Low health therefore means more churn, lower NPS and CSAT, and slower answers.

**The KAM programme** rolls out in two waves (0-based month indices ``n_months // 3`` and
``n_months // 3 + round(n_months / 4)``: January 2024 and October 2024, months 13 and 22 of
the default window). Eligible are Enterprise and Mid-market accounts that exist from the start and are
still active the month before the wave (``truth.eligible`` is the pool of wave one). The client ranks them on
``log(potential)`` plus judgement noise and takes the best ``≈ 55 %`` of ``n_key_accounts``
(default 8 % of accounts) in wave one and the next best still active in wave two, so most but
not all key accounts are truly high-potential. ``accounts.kam_start`` is the wave start (NaT
for never) and ``is_key_account == kam_start.notna()`` (kept identical on purpose; a real
client's current list can differ from the programme history).

**Why a DiD is honest here and a before/after is not.** Selection depends on levels and on
latent potential, never on an account's expected growth path: absent KAM every account's
expected revenue follows the same ``m_t · season_t`` path in *relative* terms, so parallel
trends hold for a revenue index (revenue ÷ the account's own mean in the 12 months before the
first wave). The programme's churn effect starts only at rollout. A naive before/after on
key accounts is biased upward: it adds the market trend (+6 %/yr) and, for the October wave,
the autumn seasonal peak to the true lift. Two cautions for the comparison group: the
baseline churn differs by segment (Enterprise lowest), so compare key accounts with eligible
(Enterprise / Mid-market) non-key accounts; and wave-two accounts were chosen among accounts
still active before wave two, so their controls must be too (a cohort estimator with base
period g − 1 and not-yet-treated controls does this by construction). Measured over 16 seeds,
a DiD on the index with such controls misses ``att_index`` by +0.005 on average (sd 0.028);
with all eligible accounts as controls it overstates it by ≈ +0.02. Dividing by a *noisy*
pre-period mean also inflates the index of noisy (small) accounts slightly (Jensen): another
reason to keep SMB accounts out of the comparison group.

**Effects.** Revenue lift ``lift_it = L_i · min(1, (k+1)/ramp_months)`` in the *k*-th month
after rollout, with ``L_i = lift · (1 + 0.25 (f_i − mean f over key accounts))`` (the mean
full lift over key accounts is ``lift``). The on-invoice gross-margin rate of key accounts
changes by ``margin_effect`` (value selling minus negotiated price concessions), and their
cross-bought line changes the mix a little. Off-invoice volume rebates (``discounts`` in
``programme_costs``, 0.5 % of key-account revenue) are a programme cost, not part of
``transactions.gross_margin``.

**Programme costs** (``programme_costs``, monthly from the first wave): ``salaries`` (two
key account managers from wave one, a third from wave two, €8,500 a month each), ``travel``
(≈ €250 per active key account and month), ``tools`` (€25,000 set-up in the first month,
then €1,500 a month), ``discounts`` (the rebates above).

The truth (``world.truth``, written as ``truth.json``)
------------------------------------------------------
``seed, n_accounts, n_months, start, wave_starts, kam_accounts``: the design.
``relative_lift``: mean of ``lift_it`` over treated post-rollout account-months.
``att_revenue``: mean of ``y_it(1) − y_it(0)`` over treated post-rollout account-months
(€ per account-month; includes the churn effect). ``n_treated_post``: the number of those
account-months (every month from an account's rollout to the window's end, churned or not).
``att_index``: the same mean after dividing by each account's pre-period mean revenue (the
estimand of a DiD on the revenue index). ``relative_att``: ``Σ y(1) / Σ y(0) − 1`` over the
same account-months (revenue-weighted, what a Poisson / log-link DiD estimates).
``incremental_revenue = att_revenue ·
n_treated_post`` and ``incremental_margin``: totals in €. ``margin_rate_change``: the change
in the gross-margin rate of key-account revenue against the counterfactual (a fraction:
0.01 is one percentage point; includes the mix effect), ``margin_effect`` the on-invoice part.
``churn_hazard_ratio``; ``monthly_churn_base`` and ``annual_retention`` (``(1 − c)^12``)
per segment, without KAM, for an account of average hazard. ``programme_cost_total`` and
``programme_cost_monthly`` (mean per programme month). ``high_potential``, ``eligible``,
``churned`` (account → month of its last purchase before churning), ``health``,
``potential`` and ``account_lift`` (per account), ``seasonality`` (12 factors, January
first), ``market_growth``, ``ramp_months``, ``product_lines``.

References
----------
McDonald, M. & Woodburn, D. (2007). *Key Account Management: The Definitive Guide* (15–35
key accounts). Callaway, B. & Sant'Anna, P. H. C. (2021). Difference-in-differences with
multiple time periods. *Journal of Econometrics* 225(2), 200–230. Goodman-Bacon, A. (2021).
Difference-in-differences with variation in treatment timing. *Journal of Econometrics*
225(2), 254–277.

Examples
--------
>>> from kamtools.sample import generate_world
>>> world = generate_world(seed=0, n_accounts=120, n_months=24)
>>> sorted(world.tables)[:3]
['accounts', 'interactions', 'manager_surveys']
>>> world.truth.att_revenue > 0
True
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .exceptions import ParameterError

__all__ = ["World", "Truth", "generate_world", "write_world", "TABLES"]

TABLES: tuple[str, ...] = ("accounts", "transactions", "surveys", "interactions", "outcomes", "prospects",
                           "manager_surveys", "programme_costs")

_SEGMENTS = ("Enterprise", "Mid-market", "SMB")
_SEGMENT_SHARE = (0.15, 0.35, 0.50)
_CHURN_BASE = {"Enterprise": 0.004, "Mid-market": 0.006, "SMB": 0.012}
_INDUSTRIES = ("Manufacturing", "Healthcare", "Retail", "Logistics", "Energy", "Public sector",
               "Financial services", "Technology")
_INDUSTRY_P = (0.24, 0.12, 0.14, 0.13, 0.08, 0.09, 0.08, 0.12)
_REGIONS = ("DACH", "Benelux", "Nordics", "France", "UK & Ireland")
_REGION_P = (0.36, 0.18, 0.14, 0.17, 0.15)
_AMS = ("Anna Berger", "Lukas Meier", "Sophie Laurent", "Jonas Lindqvist", "Emma de Vries", "Oliver Hughes")
_AM_BY_REGION = np.array([[0, 1], [4, 4], [3, 3], [2, 2], [5, 5]])  # two seats per region
_KAMS = ("Clara Hoffmann", "Mateo Rossi", "Ingrid Dahl")
_LINES = ("Consumables", "Equipment", "Spare parts", "Services", "Digital")
_LINE_OF_PRODUCT = np.repeat(np.arange(5), (5, 4, 4, 4, 3))
_LINE_POPULARITY = np.array([1.0, 0.55, 0.5, 0.35, 0.25])
_LINE_MARGIN = np.array([0.0, -0.07, 0.10, 0.05, 0.14])
_SEASONALITY = np.array([0.86, 0.95, 1.08, 1.00, 1.02, 1.07, 0.93, 0.78, 1.05, 1.10, 1.13, 1.03])
_SEASONALITY = _SEASONALITY / _SEASONALITY.mean()
_GOALS = ("Reduce total cost of ownership", "Improve delivery reliability", "Joint innovation project",
          "Consolidate suppliers", "Roll out to a new site", "Sustainability reporting")
_CHANNELS = ("email", "call", "video", "meeting", "visit")
_PROSPECT_CHANNELS = ("Referral", "Trade fair", "Inbound web", "Outbound call", "Partner")
_NAME_A = ("Nord", "Alpen", "Rhein", "Baltic", "Atlas", "Vega", "Helix", "Orion", "Fjord", "Delta", "Aurora",
           "Kestrel", "Lumen", "Meridian", "Nova", "Polar", "Quartz", "Sierra", "Terra", "Vireo", "Zenith",
           "Cobalt", "Falcon", "Granite", "Harbor", "Iris", "Juno", "Kronos", "Linde", "Magnus")
_NAME_B = ("Logistics", "Pharma", "Foods", "Energy", "Systems", "Retail", "Medical", "Motors", "Chemicals",
           "Metals", "Packaging", "Textiles", "Robotics", "Networks", "Solar", "Plastics", "Labs", "Freight",
           "Optics", "Mills")
_LEGAL = ("GmbH", "AG", "SA", "BV", "AB", "Ltd", "SE", "NV")
_MONEY_COLUMNS = {"transactions": ("revenue", "gross_margin"), "programme_costs": ("cost",)}
_SCORE_COLUMNS = ("product_fit", "strategic_value", "relationship_strength", "logo_appeal")


@dataclass(frozen=True)
class Truth:
    """What really happened in a synthetic world (see the module docstring for definitions).

    Money is in € at the world's price level; rates and shares are fractions; months are
    period-start Timestamps.
    """

    seed: int
    n_accounts: int
    n_months: int
    start: pd.Timestamp
    wave_starts: tuple
    kam_accounts: tuple
    relative_lift: float
    att_revenue: float
    att_index: float
    relative_att: float
    n_treated_post: int
    incremental_revenue: float
    incremental_margin: float
    margin_rate_change: float
    margin_effect: float
    churn_hazard_ratio: float
    monthly_churn_base: dict
    annual_retention: dict
    programme_cost_total: float
    programme_cost_monthly: float
    high_potential: tuple
    eligible: tuple
    churned: dict
    health: dict
    potential: dict
    account_lift: dict
    seasonality: tuple
    market_growth: float
    ramp_months: int
    product_lines: dict

    def to_dict(self) -> dict:
        """The truth as JSON-safe builtins (Timestamps as ISO dates, tuples as lists)."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class World:
    """The eight canonical tables of a synthetic KAM world and its :class:`Truth`.

    ``world.tables`` is a dict of the tables, so ``kamtools.panel.build_panel(world)`` works
    directly.
    """

    accounts: pd.DataFrame
    transactions: pd.DataFrame
    surveys: pd.DataFrame
    interactions: pd.DataFrame
    outcomes: pd.DataFrame
    prospects: pd.DataFrame
    manager_surveys: pd.DataFrame
    programme_costs: pd.DataFrame
    truth: Truth

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The canonical tables by name, in contract order."""
        return {name: getattr(self, name) for name in TABLES}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{n}</td><td>{len(t):,}</td></tr>" for n, t in self.tables.items())
        t = self.truth
        return (f"<p>Synthetic KAM world (seed {t.seed}): {t.n_accounts} accounts, {t.n_months} months from "
                f"{t.start:%Y-%m-%d}; {len(t.kam_accounts)} key accounts; true lift {t.relative_lift:.1%}</p>"
                f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table>")


def _json_safe(value):
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# --------------------------------------------------------------------------------------------
# parameter checks


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ParameterError(f"The '{name}' parameter of generate_world must be an int >= {low}. "
                             f"Got {value!r} instead.")
    return int(value)


def _check_float(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (low <= value <= high):
        raise ParameterError(f"The '{name}' parameter of generate_world must be a number in [{low}, {high}]. "
                             f"Got {value!r} instead.")
    return float(value)


def _ids(prefix: str, numbers_: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(numbers_.astype(str), width)).astype(object)


def _dates(periods_d: np.ndarray, t: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Month ``t`` of the window plus ``days`` days, as datetime64[ns]."""
    return (periods_d[t] + days.astype("timedelta64[D]")).astype("datetime64[ns]")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _score(latent: np.ndarray, rng: np.random.Generator, noise: float, missing: np.ndarray) -> np.ndarray:
    """A 1–5 rubric score from a standardised latent, with reading noise and missing values."""
    z = (latent - latent.mean()) / latent.std() + rng.normal(0.0, noise, latent.size)
    z = z / np.sqrt(1.0 + noise**2)
    score = np.clip(np.rint(3.0 + 1.05 * z), 1, 5)
    return np.where(missing, np.nan, score)


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Column index of the first True per row (n_cols when none)."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), mask.shape[1])


def _choose(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of a column per row of a cumulative probability matrix."""
    return np.minimum((cum[rows] < u[:, None]).sum(axis=1), cum.shape[1] - 1)


# --------------------------------------------------------------------------------------------
# the generator


def generate_world(seed: int = 0, n_accounts: int = 400, n_months: int = 36, start="2023-01-01", *,
                   lift: float = 0.12, ramp_months: int = 6, churn_hazard_ratio: float = 0.5,
                   margin_effect: float = -0.005, market_growth: float = 0.06,
                   n_key_accounts: int | None = None) -> World:
    """Generate a seeded synthetic KAM world with known ground truth.

    Parameters
    ----------
    seed : int
        Seed of the world (``numpy.random.SeedSequence``); the same seed and settings give the
        same tables, byte for byte once written.
    n_accounts : int, default 400
        Accounts in the book (at least 60), including those won during the window.
    n_months : int, default 36
        Length of the window in months (at least 12).
    start : str or Timestamp, default "2023-01-01"
        First month of the window (any date in it; the month start is used).
    lift : float, default 0.12
        Mean full multiplicative revenue lift of key accounts after rollout (0 for no effect;
        negative for a programme that loses business).
    ramp_months : int, default 6
        Months over which the lift builds up linearly (1 = full lift from the first month).
    churn_hazard_ratio : float, default 0.5
        Multiplier of a key account's monthly churn hazard from its rollout on.
    margin_effect : float, default -0.005
        Change in the on-invoice gross-margin rate of key-account lines after rollout (a
        fraction: -0.005 is half a percentage point lost to price concessions net of value
        selling).
    market_growth : float, default 0.06
        Yearly growth of the market factor shared by all accounts.
    n_key_accounts : int, optional
        Key accounts over both waves; default 8 % of ``n_accounts`` (32 of 400).

    Returns
    -------
    World
        The tables ``accounts, transactions, surveys, interactions, outcomes, prospects,
        manager_surveys, programme_costs`` (canonical columns; ids as strings, dates as
        datetime64[ns], 1–5 scores as floats with NaN where missing) and ``truth``.

    Raises
    ------
    ParameterError
        When a parameter is out of range, or the eligible pool is too small for
        ``n_key_accounts``.

    Notes
    -----
    The model and every truth field are described in the module docstring. A naive
    before/after comparison of key accounts is biased upward by the market trend and by
    seasonality; the difference-in-differences on a revenue index is not (Callaway &
    Sant'Anna 2021 with not-yet-treated controls for the two waves).

    Examples
    --------
    >>> w = generate_world(seed=1, n_accounts=100, n_months=24)
    >>> len(w.accounts), w.truth.wave_starts[0].strftime("%Y-%m")
    (100, '2023-09')
    """
    seed = _check_int("seed", seed, 0)
    n = _check_int("n_accounts", n_accounts, 60)
    T = _check_int("n_months", n_months, 12)
    ramp = _check_int("ramp_months", ramp_months, 1)
    lift = _check_float("lift", lift, -0.9, 5.0)
    hr = _check_float("churn_hazard_ratio", churn_hazard_ratio, 0.0, 10.0)
    margin_effect = _check_float("margin_effect", margin_effect, -0.5, 0.5)
    market_growth = _check_float("market_growth", market_growth, -0.5, 1.0)
    if n_key_accounts is None:
        n_key = max(2, int(round(0.08 * n)))
    else:
        n_key = _check_int("n_key_accounts", n_key_accounts, 2)
    try:
        start_ts = pd.Timestamp(start)
    except (TypeError, ValueError):
        start_ts = pd.NaT
    if start_ts is pd.NaT or pd.isna(start_ts):
        raise ParameterError(f"The 'start' parameter of generate_world must be a date. Got {start!r} instead.")
    start_ts = start_ts.to_period("M").to_timestamp()

    streams = np.random.SeedSequence(seed).spawn(12)
    (r_acc, r_time, r_churn, r_sel, r_rev, r_lines, r_surv, r_int, r_out, r_pros, r_mgr, r_cost) = (
        np.random.default_rng(s) for s in streams)

    periods = pd.date_range(start_ts, periods=T, freq="MS")
    periods_d = periods.to_numpy().astype("datetime64[D]")
    days_in_month = periods.days_in_month.to_numpy()
    t_idx = np.arange(T)

    # ---- accounts: latent size, wallet, fit, health, margin ---------------------------------
    log_size = r_acc.normal(np.log(40_000.0), 1.5, n)
    size = np.clip(np.exp(log_size), 1_500.0, 2.5e7)          # € per year at market level 1
    z_seg = log_size + r_acc.normal(0.0, 0.4, n)
    rank = np.argsort(np.argsort(-z_seg))
    cut = np.cumsum(_SEGMENT_SHARE) * n
    seg = np.searchsorted(cut, rank, side="right")            # 0 Enterprise, 1 Mid-market, 2 SMB
    industry = r_acc.choice(len(_INDUSTRIES), n, p=_INDUSTRY_P)
    region = r_acc.choice(len(_REGIONS), n, p=_REGION_P)
    share = r_acc.beta(2.5, 3.5, n)
    wallet = size / share
    fit = r_acc.standard_normal(n)
    health = r_acc.standard_normal(n)
    margin_base = np.clip(0.33 - 0.02 * (log_size - np.log(40_000.0)) + r_acc.normal(0.0, 0.04, n), 0.08, 0.6)
    potential = 3.0 * wallet * margin_base * np.exp(0.35 * fit)
    is_new = r_acc.random(n) < 0.12
    entry = np.where(is_new, r_acc.integers(1, max(2, T - 3), n), 0)
    drift = r_acc.normal(0.0, 0.04, n)                         # own yearly drift, independent
    buy_p = np.clip(_sigmoid(1.3 * (log_size - np.log(15_000.0))), 0.15, 1.0)
    noise_sd = np.array([0.15, 0.22, 0.30])[seg]

    # ---- time: market factor, seasonality, health path ---------------------------------------
    shock = lfilter([1.0], [1.0, -0.6], r_time.normal(0.0, 0.012, T))
    market = np.exp(np.log1p(market_growth) * t_idx / 12.0 + shock - shock.mean())
    season = _SEASONALITY[periods.month.to_numpy() - 1]
    phi, h_sd = 0.85, 0.25
    innov = r_time.normal(0.0, h_sd, (n, T))
    innov[:, 0] /= np.sqrt(1.0 - phi**2)
    health_t = health[:, None] + lfilter([1.0], [1.0, -phi], innov, axis=1)
    var_h = 1.0 + h_sd**2 / (1.0 - phi**2)

    # ---- churn without KAM (coupled uniforms) ------------------------------------------------
    base_c = np.array([_CHURN_BASE[s] for s in _SEGMENTS])[seg]
    hazard = np.minimum(base_c[:, None] * np.exp(-0.8 * health_t - 0.32 * var_h), 0.5)
    u_churn = r_churn.random((n, T))
    after_entry = t_idx[None, :] > entry[:, None]
    exists = t_idx[None, :] >= entry[:, None]
    alive0 = exists & (np.cumsum((u_churn < hazard) & after_entry, axis=1) == 0)

    # ---- KAM selection in two waves ----------------------------------------------------------
    w1 = T // 3
    w2 = w1 + max(1, int(round(T / 4)))
    if w2 >= T:
        w2 = T - 1
    n1 = int(np.ceil(0.55 * n_key))
    n2 = n_key - n1
    eligible = (entry == 0) & (seg <= 1)
    score = np.log(potential) + r_sel.normal(0.0, 0.45, n)
    pool1 = eligible & alive0[:, w1 - 1]
    if pool1.sum() < n_key + 5:
        raise ParameterError(f"The 'n_key_accounts' parameter of generate_world must leave an eligible pool "
                             f"larger than the key accounts ({int(pool1.sum())} eligible accounts). "
                             f"Got {n_key} instead.")
    order1 = np.argsort(-np.where(pool1, score, -np.inf), kind="stable")
    wave1 = order1[:n1]
    pool2 = eligible & alive0[:, w2 - 1]
    pool2[wave1] = False
    if pool2.sum() < n2:
        raise ParameterError(f"The 'n_key_accounts' parameter of generate_world must leave enough eligible "
                             f"accounts for wave two ({int(pool2.sum())} left). Got {n_key} instead.")
    order2 = np.argsort(-np.where(pool2, score, -np.inf), kind="stable")
    wave2 = order2[:n2]
    kam_month = np.full(n, -1)
    kam_month[wave1] = w1
    kam_month[wave2] = w2
    treated = kam_month >= 0
    k = t_idx[None, :] - kam_month[:, None]
    post = treated[:, None] & (k >= 0)
    established = entry == 0
    n_high = max(2, int(round(0.075 * n)))
    high = np.argsort(-np.where(established, potential, -np.inf), kind="stable")[:n_high]

    # ---- effects ------------------------------------------------------------------------------
    f_mean = fit[treated].mean()
    full_lift = np.where(treated, np.maximum(lift * (1.0 + 0.25 * np.clip(fit - f_mean, -2.0, 2.0)), -0.95), 0.0)
    lift_it = np.where(post, full_lift[:, None] * np.minimum(1.0, (k + 1) / ramp), 0.0)
    hazard1 = np.minimum(hazard * np.where(post, hr, 1.0), 1.0)
    alive1 = exists & (np.cumsum((u_churn < hazard1) & after_entry, axis=1) == 0)
    alive = np.where(treated[:, None], alive1, alive0)

    # ---- revenue: potential outcomes ----------------------------------------------------------
    buys = r_rev.random((n, T)) < buy_p[:, None]
    eps = np.exp(noise_sd[:, None] * r_rev.standard_normal((n, T)) - noise_sd[:, None] ** 2 / 2.0)
    first_month = t_idx[None, :] == entry[:, None]
    freq_factor = np.where(first_month, 1.0, buys / buy_p[:, None])
    base = (size[:, None] / 12.0 * market[None, :] * season[None, :] * np.exp(drift[:, None] * t_idx / 12.0)
            * eps * freq_factor)
    y0 = base * alive0
    y1 = base * (1.0 + lift_it) * alive1
    y = np.where(post, y1, y0)

    # ---- transactions: orders, lines, products, margins ---------------------------------------
    n_prod = _LINE_OF_PRODUCT.size
    breadth_p = _sigmoid(0.8 * (log_size - np.log(40_000.0)))
    n_lines_bought = 1 + r_lines.binomial(4, breadth_p)
    keys = np.log(r_lines.random((n, 5))) / _LINE_POPULARITY[None, :]     # weighted sampling w/o replacement
    line_rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    has_line0 = line_rank < n_lines_bought[:, None]
    has_line1 = line_rank < np.minimum(n_lines_bought + 1, 5)[:, None]    # key accounts cross-buy a line
    prod_w = r_lines.gamma(1.0, 1.0, (n, n_prod)) * (r_lines.random((n, n_prod)) < 0.7)
    prod_w[np.arange(n), r_lines.integers(0, n_prod, n)] += 0.5          # a favourite product
    in_line = np.zeros((5, n_prod))
    in_line[_LINE_OF_PRODUCT, np.arange(n_prod)] = 1.0
    # product weight within its line, lines weighted by popularity
    w_in_line = prod_w + 0.05
    w_in_line = w_in_line / (w_in_line @ in_line.T)[:, _LINE_OF_PRODUCT]
    pop = _LINE_POPULARITY[_LINE_OF_PRODUCT]
    pref0 = w_in_line * pop * has_line0[:, _LINE_OF_PRODUCT]
    pref1 = w_in_line * pop * has_line1[:, _LINE_OF_PRODUCT]
    cum0 = np.cumsum(pref0 / pref0.sum(axis=1, keepdims=True), axis=1)
    cum1 = np.cumsum(pref1 / pref1.sum(axis=1, keepdims=True), axis=1)

    act = (base > 0) & (alive0 | alive1)
    am_i, am_t = np.nonzero(act)
    M = am_i.size
    am_post = post[am_i, am_t]
    lam = np.clip(0.45 * (log_size - np.log(20_000.0)), 0.0, 3.5)
    nu = np.clip(0.6 + 0.5 * (n_lines_bought - 1), 0.5, 3.0)
    orders_per = 1 + r_lines.poisson(lam[am_i])
    order_am = np.repeat(np.arange(M), orders_per)
    O = order_am.size
    order_day = (r_lines.random(O) * days_in_month[am_t[order_am]]).astype(np.int64)
    lines_per = 1 + r_lines.poisson(nu[am_i[order_am]])
    line_order = np.repeat(np.arange(O), lines_per)
    line_am = order_am[line_order]
    g = r_lines.gamma(1.5, 1.0, line_am.size)
    share_l = g / np.bincount(line_am, weights=g, minlength=M)[line_am]
    credit = r_lines.random(M) < 0.025
    cfrac = np.where(credit, r_lines.uniform(0.05, 0.35, M), 0.0)
    cn_am = np.flatnonzero(credit)
    cn_day = (r_lines.random(cn_am.size) * days_in_month[am_t[cn_am]]).astype(np.int64)
    # all lines: order lines, then one credit-note line per flagged account-month
    L_am = np.concatenate([line_am, cn_am])
    factor = np.concatenate([share_l * (1.0 + cfrac[line_am]), -cfrac[cn_am]])
    day = np.concatenate([order_day[line_order], cn_day])
    doc = np.concatenate([line_order, O + np.arange(cn_am.size)])
    is_cn = np.concatenate([np.zeros(line_am.size, bool), np.ones(cn_am.size, bool)])
    u_prod = r_lines.random(L_am.size)
    acc_l = am_i[L_am]
    prod0 = _choose(cum0, acc_l, u_prod)
    prod1 = _choose(cum1, acc_l, u_prod)
    e_rate = r_lines.normal(0.0, 0.03, L_am.size)
    rate0 = np.clip(margin_base[acc_l] + _LINE_MARGIN[_LINE_OF_PRODUCT[prod0]] + e_rate, 0.01, 0.85)
    rate1 = np.clip(margin_base[acc_l] + _LINE_MARGIN[_LINE_OF_PRODUCT[prod1]] + e_rate, 0.01, 0.85) \
        + margin_effect
    post_l = am_post[L_am]
    prod = np.where(post_l, prod1, prod0)
    rate = np.where(post_l, rate1, rate0)
    y_am = y[am_i, am_t]
    rev = y_am[L_am] * factor
    gm = rev * rate
    rev0 = y0[am_i, am_t][L_am] * factor
    gm0_am = np.bincount(L_am, weights=rev0 * rate0, minlength=M)
    gm_am = np.bincount(L_am, weights=gm, minlength=M)
    keep = y_am[L_am] > 0
    tx_date = _dates(periods_d, am_t[L_am], day)
    ordr = np.lexsort((doc, acc_l, tx_date))
    ordr = ordr[keep[ordr]]
    doc_s, cn_s = doc[ordr], is_cn[ordr]
    so_codes = pd.factorize(doc_s[~cn_s])[0] + 1
    cn_codes = pd.factorize(doc_s[cn_s])[0] + 1
    order_id = np.empty(ordr.size, dtype=object)
    order_id[~cn_s] = _ids("SO-", so_codes, 6)
    order_id[cn_s] = _ids("CN-", cn_codes, 5)
    width = max(4, len(str(n)))
    account_ids = _ids("A", np.arange(1, n + 1), width)
    product_names = _ids("P", np.arange(1, n_prod + 1), 2)
    transactions = pd.DataFrame({
        "account_id": pd.array(account_ids[acc_l[ordr]], dtype="string"),
        "date": tx_date[ordr],
        "revenue": np.round(rev[ordr], 2),
        "gross_margin": np.round(gm[ordr], 2),
        "product": pd.array(product_names[prod[ordr]], dtype="string"),
        "order_id": pd.array(order_id, dtype="string"),
    })

    # ---- truth: effects -----------------------------------------------------------------------
    n_post = int(post.sum())
    diff = (y1 - y0)[post]
    first_wave = min(w1, T)
    pre_lo = max(0, first_wave - 12)
    pre_mean = y[:, pre_lo:first_wave].mean(axis=1)
    att_index = float(((y1 - y0) / np.where(pre_mean > 0, pre_mean, np.nan)[:, None])[post].mean())
    post_am = am_post
    gm1_sum, gm0_sum = gm_am[post_am].sum(), gm0_am[post_am].sum()
    y1_sum, y0_sum = y1[post].sum(), y0[post].sum()
    relative_att = float(y1_sum / y0_sum - 1.0) if y0_sum > 0 else 0.0
    margin_rate_change = float(gm1_sum / y1_sum - gm0_sum / y0_sum) if y0_sum > 0 and y1_sum > 0 else 0.0

    # ---- programme costs ----------------------------------------------------------------------
    prog_t = np.arange(w1, T)
    n_kams = np.where(prog_t >= w2, 3, 2)
    active_key = (post & alive).sum(axis=0)[prog_t]
    key_revenue = np.where(post, y, 0.0).sum(axis=0)[prog_t]
    salaries = n_kams * 8_500.0
    travel = 250.0 * active_key * np.exp(r_cost.normal(0.0, 0.2, prog_t.size) - 0.02)
    tools = np.full(prog_t.size, 1_500.0)
    tools[0] += 25_000.0
    rebates = 0.005 * key_revenue
    cost_items = ("salaries", "travel", "tools", "discounts")
    cost_mat = np.round(np.column_stack([salaries, travel, tools, rebates]), 2)
    programme_costs = pd.DataFrame({
        "period": np.repeat(periods.to_numpy()[prog_t], 4).astype("datetime64[ns]"),
        "cost": cost_mat.ravel(),
        "item": pd.array(np.tile(np.array(cost_items, dtype=object), prog_t.size), dtype="string"),
    })

    # ---- accounts table -----------------------------------------------------------------------
    kam_of = np.full(n, -1)
    kam_of[wave1] = np.arange(n1) % 2                 # two KAMs share wave one
    j2 = np.arange(n2)                                # the third KAM takes two thirds of wave two
    kam_of[wave2] = np.where(j2 % 3 == 2, (j2 // 3) % 2, 2)
    am_seat = r_acc.integers(0, 2, n)
    manager_names = np.array(_AMS + _KAMS, dtype=object)
    manager = np.where(treated, manager_names[len(_AMS) + np.maximum(kam_of, 0)],
                       manager_names[_AM_BY_REGION[region, am_seat]])
    combos = r_acc.permutation(len(_NAME_A) * len(_NAME_B))
    combos = combos[np.arange(n) % combos.size]
    repeat_no = np.arange(n) // (len(_NAME_A) * len(_NAME_B))
    legal = r_acc.integers(0, len(_LEGAL), n)
    names = np.char.add(np.char.add(np.array(_NAME_A)[combos // len(_NAME_B)], " "),
                        np.array(_NAME_B)[combos % len(_NAME_B)])
    names = np.char.add(np.char.add(names, " "), np.array(_LEGAL)[legal])
    names = np.where(repeat_no > 0, np.char.add(np.char.add(names, " "), (repeat_no + 1).astype(str)), names)
    miss_p = np.where(treated, 0.01, 0.05)
    missing = r_acc.random((n, 5)) < miss_p[:, None]
    wallet_now = wallet * market[-1]
    wallet_est = np.round(wallet_now * np.exp(r_acc.normal(0.0, 0.35, n)) / 1000.0) * 1000.0
    wallet_est = np.where(missing[:, 4], np.nan, np.maximum(wallet_est, 1000.0))
    kam_start = np.where(treated, periods.to_numpy()[np.maximum(kam_month, 0)], np.datetime64("NaT"))
    cost_to_serve = np.round((600.0 + 0.05 * size) * np.exp(-0.15 * health + r_acc.normal(0.0, 0.3, n)), -1)
    accounts = pd.DataFrame({
        "account_id": pd.array(account_ids, dtype="string"),
        "account_name": pd.array(names.astype(object), dtype="string"),
        "segment": pd.array(np.array(_SEGMENTS, dtype=object)[seg], dtype="string"),
        "industry": pd.array(np.array(_INDUSTRIES, dtype=object)[industry], dtype="string"),
        "region": pd.array(np.array(_REGIONS, dtype=object)[region], dtype="string"),
        "account_manager": pd.array(manager.astype(object), dtype="string"),
        "is_key_account": treated.copy(),
        "kam_start": kam_start.astype("datetime64[ns]"),
        "wallet_estimate": wallet_est,
        "product_fit": _score(fit, r_acc, 0.8, missing[:, 0]),
        "strategic_value": _score(np.log(potential), r_acc, 0.6, missing[:, 1]),
        "relationship_strength": _score(0.6 * health + 0.6 * (share - share.mean()) / share.std()
                                        + 0.5 * post[:, -1], r_acc, 0.7, missing[:, 2]),
        "logo_appeal": _score(log_size, r_acc, 0.9, missing[:, 3]),
        "renewal_likelihood": np.round(_sigmoid(1.6 + 0.9 * health + r_acc.normal(0.0, 0.5, n)), 2),
        "cost_to_serve": cost_to_serve,
    })
    rl_missing = r_acc.random(n) < 0.5 * miss_p
    accounts.loc[rl_missing, "renewal_likelihood"] = np.nan

    # ---- surveys: NPS, CSAT, referenceable ----------------------------------------------------
    s_rate = np.array([0.5, 0.2, 0.08])[seg][:, None] * np.where(post, 1.6, 1.0)
    n_resp = r_surv.poisson(s_rate * alive)
    si, st = np.nonzero(n_resp)
    reps = n_resp[si, st]
    si, st = np.repeat(si, reps), np.repeat(st, reps)
    sat = health_t[si, st] + 0.3 * post[si, st] + r_surv.normal(0.0, 0.8, si.size)
    nps = np.clip(np.rint(7.9 + 1.3 * sat), 0, 10).astype(np.int64)
    csat = np.clip(np.rint(4.0 + 0.65 * (sat + r_surv.normal(0.0, 0.5, si.size))), 1, 5).astype(np.int64)
    referenceable = r_surv.random(si.size) < _sigmoid(-1.6 + 1.0 * sat + 0.6 * post[si, st])
    s_day = (r_surv.random(si.size) * days_in_month[st]).astype(np.int64)
    s_date = _dates(periods_d, st, s_day)
    o = np.lexsort((si, s_date))
    surveys = pd.DataFrame({
        "account_id": pd.array(account_ids[si[o]], dtype="string"),
        "date": s_date[o],
        "nps": nps[o],
        "csat": csat[o],
        "referenceable": referenceable[o],
    })

    # ---- interactions ---------------------------------------------------------------------------
    cadence = np.array([1.6, 0.8, 0.3])[seg][:, None] * np.ones((1, T))
    cadence = np.where(post, 4.0, cadence)
    n_int = r_int.poisson(cadence * alive)
    ii, it = np.nonzero(n_int)
    reps = n_int[ii, it]
    ii, it = np.repeat(ii, reps), np.repeat(it, reps)
    kam_l = post[ii, it]
    ch_p = np.where(kam_l[:, None], np.array([0.25, 0.25, 0.12, 0.26, 0.12]),
                    np.array([0.5, 0.3, 0.1, 0.08, 0.02]))
    channel = _choose(np.cumsum(ch_p, axis=1), np.arange(ii.size), r_int.random(ii.size))
    inbound = r_int.random(ii.size) < 0.4
    med = np.where(kam_l, 4.0, 18.0) * np.exp(-0.25 * health_t[ii, it])
    resp = np.round(med * np.exp(r_int.normal(0.0, 0.8, ii.size)), 1)
    resp = np.where(inbound, np.maximum(resp, 0.1), np.nan)
    i_day = (r_int.random(ii.size) * days_in_month[it]).astype(np.int64)
    i_date = _dates(periods_d, it, i_day)
    o = np.lexsort((ii, i_date))
    interactions = pd.DataFrame({
        "account_id": pd.array(account_ids[ii[o]], dtype="string"),
        "date": i_date[o],
        "channel": pd.array(np.array(_CHANNELS, dtype=object)[channel[o]], dtype="string"),
        "direction": pd.array(np.where(inbound[o], "in", "out").astype(object), dtype="string"),
        "response_hours": resp[o],
    })

    # ---- outcomes: goals agreed with the customer ---------------------------------------------
    other_ent = (~treated) & (seg == 0) & (r_out.random(n) < 0.35)
    n_goals = np.where(treated, 2 + r_out.poisson(1.0, n), np.where(other_ent, 1 + r_out.integers(0, 2, n), 0))
    n_goals = np.minimum(n_goals, len(_GOALS))
    agreed = np.where(treated, kam_month, r_out.integers(0, max(1, T - 6), n))
    gi = np.repeat(np.arange(n), n_goals)
    goal_rank = np.argsort(r_out.random((n, len(_GOALS))), axis=1)
    within = np.arange(gi.size) - np.repeat(np.cumsum(n_goals) - n_goals, n_goals)
    goal = goal_rank[gi, within]
    target_m = agreed[gi] + r_out.integers(6, 16, gi.size)
    p_ach = _sigmoid(np.where(treated[gi], 0.5, -0.2) + 0.8 * health[gi])
    due = target_m <= T - 1
    t_clip = np.minimum(target_m, T - 1)
    achieved = (r_out.random(gi.size) < p_ach) & alive[gi, t_clip]     # a lost customer meets no goal
    g_day = days_in_month[t_clip] - 1                                  # due at month end
    g_date = _dates(periods_d, t_clip, g_day)
    o = np.lexsort((goal, gi, g_date))
    o = o[due[o]]
    outcomes = pd.DataFrame({
        "account_id": pd.array(account_ids[gi[o]], dtype="string"),
        "goal": pd.array(np.array(_GOALS, dtype=object)[goal[o]], dtype="string"),
        "target_date": g_date[o],
        "achieved": achieved[o],
    })

    # ---- prospects ------------------------------------------------------------------------------
    n_pros = int(round(1.5 * n))
    end_d = periods_d[-1] + np.timedelta64(int(days_in_month[-1]) - 1, "D")
    span = int((end_d - periods_d[0]).astype(int)) + 1
    first = periods_d[0] + r_pros.integers(0, span, n_pros).astype("timedelta64[D]")
    first = np.sort(first)
    p_ch = r_pros.choice(len(_PROSPECT_CHANNELS), n_pros, p=(0.15, 0.2, 0.3, 0.25, 0.1))
    conv_p = np.array([0.38, 0.2, 0.12, 0.07, 0.25])[p_ch]
    lag = (14 + r_pros.gamma(2.0, 35.0, n_pros)).astype(np.int64)
    conv = first + lag.astype("timedelta64[D]")
    converted = (r_pros.random(n_pros) < conv_p) & (conv <= end_d)
    prospects = pd.DataFrame({
        "prospect_id": pd.array(_ids("L", np.arange(1, n_pros + 1), max(4, len(str(n_pros)))), dtype="string"),
        "first_contact": first.astype("datetime64[ns]"),
        "converted": np.where(converted, conv, np.datetime64("NaT")).astype("datetime64[ns]"),
        "channel": pd.array(np.array(_PROSPECT_CHANNELS, dtype=object)[p_ch], dtype="string"),
    })

    # ---- manager surveys (quarterly, mid-quarter) -----------------------------------------------
    q_t = t_idx[t_idx % 3 == 1]
    n_mgr = len(manager_names)
    mgr_from = np.array([0] * len(_AMS) + [w1, w1, w2])
    mi, mt = np.nonzero(q_t[None, :] >= mgr_from[:, None])
    mt = q_t[mt]
    load = np.bincount(np.where(treated, len(_AMS) + np.maximum(kam_of, 0), _AM_BY_REGION[region, am_seat]),
                       minlength=n_mgr)
    mood = r_mgr.normal(0.0, 0.5, n_mgr)
    m_sat = 3.7 + mood[mi] - 0.004 * (load[mi] - load.mean()) + r_mgr.normal(0.0, 0.7, mi.size)
    m_sat = np.clip(np.rint(m_sat), 1, 5).astype(np.int64)
    m_date = _dates(periods_d, mt, np.full(mi.size, 14))
    o = np.lexsort((mi, m_date))
    manager_surveys = pd.DataFrame({
        "account_manager": pd.array(manager_names[mi[o]], dtype="string"),
        "date": m_date[o],
        "satisfaction": m_sat[o],
    })

    # ---- truth ----------------------------------------------------------------------------------
    churn_month = _first_true(~alive & ~(t_idx[None, :] < entry[:, None]))
    churned_mask = churn_month < T
    bought = y > 0
    last_buy = T - 1 - np.argmax(bought[:, ::-1], axis=1)
    churned = {str(account_ids[i]): periods[last_buy[i]] for i in np.flatnonzero(churned_mask)}
    base_dict = {s: _CHURN_BASE[s] for s in _SEGMENTS}
    kam_ids = np.concatenate([wave1, wave2])
    truth = Truth(
        seed=seed,
        n_accounts=n,
        n_months=T,
        start=start_ts,
        wave_starts=(periods[w1], periods[w2]),
        kam_accounts=tuple(str(a) for a in account_ids[np.sort(kam_ids)]),
        relative_lift=float(lift_it[post].mean()) if n_post else 0.0,
        att_revenue=float(diff.mean()) if n_post else 0.0,
        att_index=att_index if n_post else 0.0,
        relative_att=relative_att,
        n_treated_post=n_post,
        incremental_revenue=float(diff.sum()),
        incremental_margin=float(gm1_sum - gm0_sum),
        margin_rate_change=margin_rate_change,
        margin_effect=margin_effect,
        churn_hazard_ratio=hr,
        monthly_churn_base=base_dict,
        annual_retention={s: float((1.0 - c) ** 12) for s, c in base_dict.items()},
        programme_cost_total=float(cost_mat.sum()),
        programme_cost_monthly=float(cost_mat.sum() / prog_t.size),
        high_potential=tuple(str(a) for a in account_ids[np.sort(high)]),
        eligible=tuple(str(a) for a in account_ids[np.flatnonzero(pool1)]),
        churned=churned,
        health={str(a): round(float(h), 6) for a, h in zip(account_ids, health)},
        potential={str(a): round(float(p), 2) for a, p in zip(account_ids, potential)},
        account_lift={str(a): round(float(v), 6) for a, v in zip(account_ids[treated], full_lift[treated])},
        seasonality=tuple(float(s) for s in _SEASONALITY),
        market_growth=market_growth,
        ramp_months=ramp,
        product_lines={str(p): _LINES[line] for p, line in zip(product_names, _LINE_OF_PRODUCT)},
    )
    return World(accounts=accounts, transactions=transactions, surveys=surveys, interactions=interactions,
                 outcomes=outcomes, prospects=prospects, manager_surveys=manager_surveys,
                 programme_costs=programme_costs, truth=truth)


# --------------------------------------------------------------------------------------------
# writing


def _for_csv(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if name == "accounts":
        for col in _SCORE_COLUMNS:
            out[col] = out[col].astype("Int64")
    for col in _MONEY_COLUMNS.get(name, ()):
        out[col] = out[col].round(2)
    return out


def write_world(world: World, out_dir, *, format: str = "csv") -> list[Path]:
    """Write one file per table and ``truth.json`` into ``out_dir``.

    Parameters
    ----------
    world : World
        From :func:`generate_world`.
    out_dir : str or Path
        Directory (created when missing; files in it are overwritten).
    format : {"csv", "parquet"}
        CSV is UTF-8, comma-separated, '.' decimal, ISO dates (empty for missing), money
        rounded to cents, 1–5 scores written as whole numbers; the same world always gives the
        same bytes.

    Returns
    -------
    list of Path
        The files written: the tables in contract order, then ``truth.json``.

    Examples
    --------
    >>> import tempfile
    >>> w = generate_world(seed=0, n_accounts=80, n_months=12)
    >>> paths = write_world(w, tempfile.mkdtemp())
    >>> [p.name for p in paths][:2]
    ['accounts.csv', 'transactions.csv']
    """
    if format not in ("csv", "parquet"):
        raise ParameterError(f"The 'format' parameter of write_world must be 'csv' or 'parquet'. "
                             f"Got {format!r} instead.")
    if not isinstance(world, World):
        raise ParameterError(f"The 'world' parameter of write_world must be a World from generate_world. "
                             f"Got {type(world).__name__} instead.")
    return _write_tables(world, Path(out_dir), format, world.tables)


def _write_tables(world: World, out: Path, format: str, names) -> list[Path]:
    """Write the named tables of ``world`` and ``truth.json`` to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in names:
        frame = world.tables[name]
        path = out / f"{name}.{format}"
        table = _for_csv(name, frame)
        if format == "csv":
            table.to_csv(path, index=False, encoding="utf-8", date_format="%Y-%m-%d", lineterminator="\n")
        else:
            table.to_parquet(path, index=False)
        paths.append(path)
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(world.truth.to_dict(), indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    paths.append(truth_path)
    return paths
