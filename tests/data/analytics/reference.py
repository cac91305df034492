#!/usr/bin/env python3
"""An independent reference implementation of shared/ANALYTICS.md (spec v1),
written with the libraries the spec names, to cross-check liveroom's Rust
analysis (src/analytics): lifelines (KaplanMeierFitter, logrank_test,
CoxPHFitter), scipy (ttest_ind, chisquare, chi2_contingency, t, norm),
statsmodels (proportion_confint, proportions_ztest, multipletests), numpy,
pandas.

    reference.py generate --seed S --viewers N --design viewer|session --arms K --out LOG.jsonl
    reference.py analyze LOG.jsonl [--as-of MS] [--window-ms W] [--grace-ms G] [--alpha A]
                 [--control V] [--weights a,b] [--seq-tuning N] --json OUT
    reference.py fixtures DIR        (regenerates every committed fixture: see FIXTURES)

Where lifelines and the spec differ, the spec wins and the code says so:
- Klein's log(-log) fixed-time test (§8.3) uses the Greenwood sum of the step
  function at W⁻; lifelines' survival_difference_at_fixed_point_in_time_test
  interpolates it linearly between timeline points, so it is not used.
- KM values "at W⁻" are read from lifelines' right-continuous curves at the
  last timeline point strictly before W.

Needs: pip install lifelines scipy statsmodels numpy pandas (see README.md
here). The Rust tests read the committed outputs and never run Python.
"""

import argparse
import gzip
import json
import math
import os
import random
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from lifelines import CoxPHFitter, KaplanMeierFitter  # noqa: E402
from lifelines.statistics import logrank_test  # noqa: E402
from lifelines.utils import median_survival_times  # noqa: E402
from scipy import stats  # noqa: E402
from statsmodels.duration.hazard_regression import PHReg  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402
from statsmodels.stats.proportion import proportion_confint, proportions_ztest  # noqa: E402

KINDS = {"join", "leave", "comment", "like", "gift", "cart", "purchase", "stream_end"}
CURVE_TIMES_S = [0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600]


def is_number(value):
    # JSON numbers only: Python's bool is an int, JSON's true is not a number
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def id_text(value):
    """§1 cast to string: strings as they are, numbers as str() prints them."""
    if isinstance(value, str):
        return value
    if is_number(value):
        return str(value)
    return None


def clean(value):
    """JSON without NaN: undefined numbers are null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating,)):
        return clean(float(value))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


# ---------------------------------------------------------------- §1 input


def read_log(path):
    opener = gzip.open if path.endswith(".gz") else open
    counters = {"lines": 0, "rejected_malformed_lines": 0, "ignored_unknown_kind": 0, "purchase_amount_invalid": 0}
    events = []
    with opener(path, "rt", encoding="utf-8") as f:
        for raw in f:
            counters["lines"] += 1
            try:
                obj = json.loads(raw)
            except ValueError:
                counters["rejected_malformed_lines"] += 1
                continue
            if not isinstance(obj, dict) or any(obj.get(k) is None for k in ("ts", "kind", "session_id")):
                counters["rejected_malformed_lines"] += 1
                continue
            ts = obj["ts"]
            if not is_number(ts) or (isinstance(ts, float) and not math.isfinite(ts)):
                counters["rejected_malformed_lines"] += 1
                continue
            ts = int(ts)
            session = id_text(obj["session_id"])
            if session is None:
                counters["rejected_malformed_lines"] += 1
                continue
            kind = obj["kind"]
            if not isinstance(kind, str) or kind not in KINDS:
                counters["ignored_unknown_kind"] += 1
                continue
            viewer = None
            if kind != "stream_end":
                viewer = id_text(obj.get("viewer_id"))
                if viewer is None:
                    counters["rejected_malformed_lines"] += 1
                    continue
            variant = None
            if kind == "join":
                v = id_text(obj.get("variant"))
                variant = v if v else None
            amount = 0.0
            if kind == "purchase":
                a = obj.get("amount")
                if is_number(a) and math.isfinite(float(a)):
                    amount = float(a)
                else:
                    counters["purchase_amount_invalid"] += 1
            events.append({"ts": ts, "line": len(events), "session": session, "viewer": viewer, "kind": kind,
                           "variant": variant, "amount": amount})
    return events, counters


# ---------------------------------------------------------------- §2-§6


def prepare(events, as_of_arg, window, grace):
    diagnostics = {"events_accepted": len(events)}
    as_of = as_of_arg if as_of_arg is not None else max(e["ts"] for e in events) + 1
    ends = {}
    for e in events:
        if e["kind"] == "stream_end":
            ends[e["session"]] = min(ends.get(e["session"], e["ts"]), e["ts"])
    sessions = {e["session"] for e in events}
    horizon = {s: min(ends[s], as_of) if s in ends else as_of for s in sessions}
    kept = [e for e in events if e["ts"] < horizon[e["session"]]]
    diagnostics["ignored_at_or_after_horizon"] = len(events) - len(kept)
    kept.sort(key=lambda e: (e["ts"], e["line"]))
    diagnostics.update({"streams": len(sessions), "live_streams": len(sessions - set(ends)), "as_of_ms": as_of})

    # §3 exposures
    first = {}
    variants_of = {}
    stream_variants = {}
    for e in kept:
        if e["kind"] == "join" and e["variant"] is not None:
            if e["viewer"] not in first:
                first[e["viewer"]] = e
            variants_of.setdefault(e["viewer"], set()).add(e["variant"])
            stream_variants.setdefault(e["session"], set()).add(e["variant"])
    multiple = {v for v, s in variants_of.items() if len(s) > 1}
    diagnostics["multiple_exposure_viewers"] = len(multiple)
    all_variants = set().union(*stream_variants.values()) if stream_variants else set()
    session_design = (len(stream_variants) >= 2 and all(len(s) == 1 for s in stream_variants.values())
                      and len(all_variants) >= 2)

    # §4 visits: raw intervals per (viewer, stream), then the merge
    raw = {}
    present = {}
    duplicates = orphans = 0
    for e in kept:
        if e["kind"] not in ("join", "leave"):
            continue
        key = (e["viewer"], e["session"])
        if e["kind"] == "join":
            if key in present:
                duplicates += 1
            else:
                present[key] = e["ts"]
        else:
            if key in present:
                raw.setdefault(key, []).append([present.pop(key), e["ts"], False])
            else:
                orphans += 1
    for key, start in present.items():
        raw.setdefault(key, []).append([start, horizon[key[1]], True])
    diagnostics["ignored_duplicate_join"] = duplicates
    diagnostics["ignored_orphan_leave"] = orphans
    visits = {}
    for key, intervals in raw.items():
        intervals.sort()
        merged = []
        for start, end, censored in intervals:
            if merged and not merged[-1][2] and start - merged[-1][1] <= grace:
                merged[-1][1] = end
                merged[-1][2] = censored
            else:
                merged.append([start, end, censored])
        visits[key] = merged

    # §6 purchases
    orders = {}
    gmv = {}
    unexposed = 0
    for e in kept:
        if e["kind"] != "purchase":
            continue
        if e["viewer"] not in first:
            unexposed += 1
            continue
        if e["viewer"] in multiple or e["ts"] < first[e["viewer"]]["ts"]:
            continue
        orders[e["viewer"]] = orders.get(e["viewer"], 0) + 1
        gmv.setdefault(e["viewer"], []).append(e["amount"])
    diagnostics["ignored_purchase_unexposed_viewer"] = unexposed

    # §5.1 per-viewer records
    rows = []
    for viewer, exposure in first.items():
        if viewer in multiple:
            continue
        x, s = exposure["ts"], exposure["session"]
        pair_visits = visits[(viewer, s)]
        visit = [v for v in pair_visits if v[0] <= x <= v[1]]
        assert len(visit) == 1, (viewer, pair_visits, x)
        start, end, censored = visit[0]
        rows.append({"variant": exposure["variant"], "session": s, "T": end - x, "E": 0 if censored else 1,
                     "C": horizon[s] - x, "visits": len(pair_visits), "orders": orders.get(viewer, 0),
                     "gmv": math.fsum(gmv.get(viewer, []))})
    df = pd.DataFrame(rows, columns=["variant", "session", "T", "E", "C", "visits", "orders", "gmv"])
    sessions_per_variant = {v: sum(1 for s in stream_variants.values() if v in s) for v in all_variants}
    return df, diagnostics, session_design, sessions_per_variant


# ---------------------------------------------------------------- §7


def wilson(k, n, alpha):
    if n == 0:
        return {"value": None, "ci_wilson": None}
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return {"value": k / n, "ci_wilson": [low, high]}


def km_before(kmf, t):
    """Ŝ(t⁻), Σ(t⁻) and the log(-log) band at t⁻: lifelines' values at the last timeline point < t."""
    sf = kmf.survival_function_.iloc[:, 0]
    earlier = sf.index[sf.index < t]
    if len(earlier) == 0:
        return 1.0, 0.0, [1.0, 1.0]
    point = earlier[-1]
    ci = kmf.confidence_interval_.loc[point]
    return float(sf.loc[point]), float(kmf._cumulative_sq_.loc[point]), [float(ci.iloc[0]), float(ci.iloc[1])]


def variant_stats(g, window, alpha):
    z = stats.norm.isf(alpha / 2)
    kmf = KaplanMeierFitter(alpha=alpha).fit(g["T"], g["E"])
    s, sigma, ci = km_before(kmf, window)
    se = math.sqrt(s * s * sigma)
    retained = int((g["T"] >= window).sum())
    cbw = int(((g["E"] == 0) & (g["T"] < window)).sum())
    mature = g[g["C"] >= window]
    mature_retained = int((mature["T"] >= window).sum())
    n = len(g)
    median = kmf.median_survival_time_
    median_ci = median_survival_times(kmf.confidence_interval_)
    curve = []
    for t_s in CURVE_TIMES_S:
        cs, _, cci = km_before(kmf, t_s * 1000)
        curve.append({"t_s": t_s, "S": cs, "ci": cci, "at_risk": int((g["T"] >= t_s * 1000).sum())})
    buyers = int((g["orders"] > 0).sum())
    x = g["gmv"].to_numpy(dtype=float)
    mean = math.fsum(x) / n
    sd = float(np.std(x, ddof=1)) if n > 1 else None
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n) if n > 1 else None
    sec = lambda v: None if not math.isfinite(v) else v / 1000.0  # noqa: E731
    return {
        "viewers": n,
        "first_visit_events": int(g["E"].sum()),
        "first_visit_censored": int(n - g["E"].sum()),
        "censored_before_window": cbw,
        "viewers_with_2plus_visits": int((g["visits"] >= 2).sum()),
        "retention": {
            "km": {"value": s, "se_greenwood": se, "ci_loglog": ci, "ci_linear": [s - z * se, s + z * se]},
            "mature": {"retained": mature_retained, "n": len(mature), **wilson(mature_retained, len(mature), alpha)},
            "excl_censored": {"retained": retained, "n": n - cbw, **wilson(retained, n - cbw, alpha)},
            "naive_biased": {"retained": retained, "n": n, **wilson(retained, n, alpha)},
        },
        "median_watch_s": {"value": sec(median), "ci": [sec(median_ci.iloc[0, 0]), sec(median_ci.iloc[0, 1])]},
        "km_curve": curve,
        "conversion": {"purchasers": buyers, **wilson(buyers, n, alpha)},
        "orders": int(g["orders"].sum()),
        "gmv_total": math.fsum(x),
        "gmv_per_viewer": {"value": mean, "sd": sd, "ci": None if half is None else [mean - half, mean + half]},
    }, (s, sigma, s * s * sigma), kmf


# ---------------------------------------------------------------- §8


def sequential(diff, se, n, alpha, tuning):
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    hw = se * math.sqrt(n) * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    log_e = rho2 * (n * diff * diff / (se * se)) / (2 * (n * rho2 + 1)) - 0.5 * math.log(n * rho2 + 1)
    return [diff - hw, diff + hw], min(1.0, math.exp(-log_e))


def proportion_test(ka, na, kb, nb, alpha, tuning):
    if na == 0 or nb == 0:
        return {k: None for k in ("diff", "diff_ci", "p_value", "rel_lift", "rel_lift_ci", "seq_diff_ci",
                                  "seq_p_value", "chance_to_win", "chi2_p_value")}
    z = stats.norm.isf(alpha / 2)
    pa, pb = ka / na, kb / nb
    diff = pb - pa
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    _, p = proportions_ztest([kb, ka], [nb, na])
    table = np.array([[ka, na - ka], [kb, nb - kb]])
    try:
        chi2_p = stats.chi2_contingency(table, correction=False)[1]
    except ValueError:
        chi2_p = float("nan")
    lift = diff / pa if pa else float("nan")
    lift_se = math.sqrt(pa * (1 - pa) * pb * pb / (pa ** 4 * na) + pb * (1 - pb) / (pa * pa * nb)) if pa else float("nan")
    seq_ci, seq_p = sequential(diff, se, na + nb, alpha, tuning) if se > 0 else (None, None)
    return {"diff": diff, "diff_ci": [diff - z * se, diff + z * se], "p_value": p, "rel_lift": lift,
            "rel_lift_ci": [lift - z * lift_se, lift + z * lift_se], "seq_diff_ci": seq_ci, "seq_p_value": seq_p,
            "chance_to_win": stats.norm.cdf(lift / lift_se) if lift_se > 0 else float("nan"), "chi2_p_value": chi2_p}


def km_test(ka, kb, alpha):
    z = stats.norm.isf(alpha / 2)
    (sa, sig_a, va), (sb, sig_b, vb) = ka, kb
    diff = sb - sa
    se = math.sqrt(va + vb)
    lift = diff / sa
    lift_se = math.sqrt(vb / sa ** 2 + sb ** 2 * va / sa ** 4)
    # spec §8.3: Klein's X with the step-function Greenwood sums at W⁻ (not lifelines' interpolation)
    la, lb = math.log(sa), math.log(sb)
    x = (math.log(-la) - math.log(-lb)) ** 2 / (sig_a / la ** 2 + sig_b / lb ** 2)
    return {"diff": diff, "diff_ci": [diff - z * se, diff + z * se], "p_value": 2 * stats.norm.sf(abs(diff / se)),
            "rel_lift": lift, "rel_lift_ci": [lift - z * lift_se, lift + z * lift_se],
            "loglog_p_value": stats.chi2.sf(x, 1)}


def logrank(a, b):
    r = logrank_test(a["T"], b["T"], event_observed_A=a["E"], event_observed_B=b["E"])
    return {"diff": None, "diff_ci": None, "p_value": r.p_value, "rel_lift": None, "rel_lift_ci": None,
            "test_statistic": r.test_statistic}


def cox(a, b, alpha):
    empty = {"diff": None, "diff_ci": None, "p_value": None, "rel_lift": None, "rel_lift_ci": None, "hr": None,
             "hr_ci": None}
    if a["E"].sum() == 0 or b["E"].sum() == 0:
        return empty
    data = pd.DataFrame({"T": np.concatenate([a["T"], b["T"]]), "E": np.concatenate([a["E"], b["E"]]),
                         "x": [0.0] * len(a) + [1.0] * len(b)})
    # Efron ties (lifelines' default). lifelines lands about 5e-8 (relative) from the maximum that
    # statsmodels' PHReg finds (whatever its precision option); the two are checked against each other
    fit = CoxPHFitter(alpha=alpha).fit(data, "T", "E")
    beta, se = fit.params_["x"], fit.standard_errors_["x"]
    check = PHReg(data["T"].to_numpy(dtype=float), data[["x"]].to_numpy(), status=data["E"].to_numpy(dtype=float),
                  ties="efron").fit(gtol=1e-14)
    assert abs(check.params[0] - beta) <= 1e-6 * abs(beta) + 1e-9, (check.params[0], beta)
    assert abs(check.bse[0] - se) <= 1e-6 * se, (check.bse[0], se)
    z = stats.norm.isf(alpha / 2)
    ci = [beta - z * se, beta + z * se]
    return {"diff": beta, "diff_ci": ci, "p_value": fit.summary.loc["x", "p"], "rel_lift": math.exp(beta) - 1,
            "rel_lift_ci": [math.exp(ci[0]) - 1, math.exp(ci[1]) - 1], "hr": math.exp(beta),
            "hr_ci": [math.exp(ci[0]), math.exp(ci[1])]}


def welch(a, b, alpha, tuning):
    xa, xb = a["gmv"].to_numpy(dtype=float), b["gmv"].to_numpy(dtype=float)
    na, nb = len(xa), len(xb)
    ma, mb = math.fsum(xa) / na, math.fsum(xb) / nb
    va, vb = np.var(xa, ddof=1), np.var(xb, ddof=1)
    r = stats.ttest_ind(xb, xa, equal_var=False)
    se = math.sqrt(va / na + vb / nb)
    dof = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    q = stats.t.ppf(1 - alpha / 2, dof)
    diff = mb - ma
    lift = diff / ma
    lift_se = math.sqrt(va * mb * mb / (ma ** 4 * na) + vb / (ma * ma * nb))
    seq_ci, seq_p = sequential(diff, se, na + nb, alpha, tuning)
    return {"diff": diff, "diff_ci": [diff - q * se, diff + q * se], "p_value": r.pvalue, "rel_lift": lift,
            "rel_lift_ci": [lift - q * lift_se, lift + q * lift_se], "seq_diff_ci": seq_ci, "seq_p_value": seq_p}


def srm_test(observed, weights):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    chi2, p = stats.chisquare(observed, expected) if len(observed) > 1 else (0.0, float("nan"))
    return {"chi2": chi2, "df": len(observed) - 1, "p_value": p, "flag": bool(p < 0.001)}, expected


def cluster_ratio(frame, num, den):
    g = frame.groupby("session")
    m, d = g[num].sum().to_numpy(dtype=float), g[den].sum().to_numpy(dtype=float)
    k = len(m)
    r = m.sum() / d.sum()
    cov = np.cov(m, d, ddof=1)
    return r, (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (d.mean() ** 2 * k), k


def cluster_test(fa, fb, num, den, alpha):
    ra, var_a, k_a = cluster_ratio(fa, num, den)
    rb, var_b, k_b = cluster_ratio(fb, num, den)
    dof = k_a + k_b - 2
    diff = rb - ra
    se = math.sqrt(var_a + var_b)
    q = stats.t.ppf(1 - alpha / 2, dof)
    lift = diff / ra
    lift_se = math.sqrt(var_b / ra ** 2 + rb ** 2 * var_a / ra ** 4)
    return {"diff": diff, "diff_ci": [diff - q * se, diff + q * se], "p_value": 2 * stats.t.sf(abs(diff / se), dof),
            "rel_lift": lift, "rel_lift_ci": [lift - q * lift_se, lift + q * lift_se]}


def analyze(path, as_of=None, window=120000, grace=10000, alpha=0.05, control=None, weights=None, tuning=5000.0):
    events, counters = read_log(path)
    df, diagnostics, session_design, sessions_per_variant = prepare(events, as_of, window, grace)
    names = sorted(df["variant"].unique())
    control = control if control is not None else names[0]
    weights = weights or [1.0] * len(names)
    groups = {v: df[df["variant"] == v] for v in names}
    variants, km_parts = {}, {}
    for v in names:
        variants[v], km_parts[v], _ = variant_stats(groups[v], window, alpha)
    viewer_srm, viewer_expected = srm_test([len(groups[v]) for v in names], weights)
    viewer_srm = {"observed": {v: len(groups[v]) for v in names}, "expected": dict(zip(names, viewer_expected)),
                  **viewer_srm}
    if session_design:
        stream_counts = [sessions_per_variant.get(v, 0) for v in names]
        srm, expected = srm_test(stream_counts, weights)
        srm = {"observed": dict(zip(names, stream_counts)), "expected": dict(zip(names, expected)), **srm,
               "viewer_counts_informational": viewer_srm}
    else:
        srm = viewer_srm
    comparisons, family, robust = {}, [], {}
    a = groups[control]
    for v in names:
        if v == control:
            continue
        b = groups[v]
        cmp = {"retention": {}}
        ma, mb = a[a["C"] >= window], b[b["C"] >= window]
        cmp["retention"]["mature_ztest"] = proportion_test(int((ma["T"] >= window).sum()), len(ma),
                                                           int((mb["T"] >= window).sum()), len(mb), alpha, tuning)
        ea = variants[control]["retention"]["excl_censored"]
        eb = variants[v]["retention"]["excl_censored"]
        cmp["retention"]["excl_censored_ztest"] = proportion_test(ea["retained"], ea["n"], eb["retained"], eb["n"],
                                                                  alpha, tuning)
        cmp["retention"]["km"] = km_test(km_parts[control], km_parts[v], alpha)
        cmp["retention"]["logrank_full"] = logrank(a, b)
        cut = lambda g: pd.DataFrame({"T": np.minimum(g["T"], window), "E": ((g["E"] == 1) & (g["T"] < window)).astype(int)})  # noqa: E731
        cmp["retention"]["logrank_0_to_window"] = logrank(cut(a), cut(b))
        cmp["retention"]["cox_hr_0_to_window"] = cox(cut(a), cut(b), alpha)
        cmp["conversion"] = proportion_test(int((a["orders"] > 0).sum()), len(a), int((b["orders"] > 0).sum()),
                                            len(b), alpha, tuning)
        cmp["gmv_per_viewer"] = welch(a, b, alpha, tuning)
        med_a, med_b = variants[control]["median_watch_s"]["value"], variants[v]["median_watch_s"]["value"]
        cmp["median_watch_s_diff"] = None if med_a is None or med_b is None else med_b - med_a
        key = f"{v}_vs_{control}"
        comparisons[key] = cmp
        for metric, test in (("retention_mature", cmp["retention"]["mature_ztest"]), ("conversion", cmp["conversion"]),
                             ("gmv_per_viewer", cmp["gmv_per_viewer"])):
            family.append({"variant": v, "metric": metric, "p": test["p_value"]})
        if session_design:
            def frame(g):
                mature = g["C"] >= window
                return pd.DataFrame({"session": g["session"], "num_m": (mature & (g["T"] >= window)).astype(float),
                                     "den_m": mature.astype(float), "buyer": (g["orders"] > 0).astype(float),
                                     "one": 1.0, "gmv": g["gmv"]})
            fa, fb = frame(a), frame(b)
            few = fa["session"].nunique() < 2 or fb["session"].nunique() < 2
            robust[key] = {m: None if few else cluster_test(fa, fb, num, den, alpha) for m, num, den in
                           (("mature", "num_m", "den_m"), ("conversion", "buyer", "one"), ("gmv_per_viewer", "gmv", "one"))}
    defined = [row for row in family if row["p"] is not None and math.isfinite(row["p"])]
    if defined:
        ps = [row["p"] for row in defined]
        holm = multipletests(ps, method="holm")[1]
        bh = multipletests(ps, method="fdr_bh")[1]
        for row, h, b in zip(defined, holm, bh):
            row["p_holm"], row["p_bh"] = h, b
    for row in family:
        row.setdefault("p_holm", None)
        row.setdefault("p_bh", None)
    design = {"randomization_unit": "session" if session_design else "viewer",
              "sessions_per_variant": {v: sessions_per_variant.get(v, 0) for v in names}}
    if session_design:
        few = any(sessions_per_variant.get(v, 0) < 2 for v in names)
        design["cluster_robust"] = robust
        design["warning"] = ("session-randomised design: whole streams carry one variant, so viewer-level p-values "
                             "are anti-conservative; read design.cluster_robust" +
                             ("; an arm has fewer than 2 streams: nothing is estimable and the comparison is "
                              "confounded with the stream" if few else ""))
    diagnostics.update(counters)
    diagnostics.update({"window_ms": window, "grace_ms": grace, "alpha": alpha, "control": control,
                        "seq_tuning": tuning, "weights": None})
    return clean({"srm": srm, "design": design, "variants": variants, "comparisons": comparisons,
                  "multiple_comparisons": family, "diagnostics": diagnostics})


# ---------------------------------------------------------------- generator


def generate(seed, viewers, design, arms, out, streams=6, live=1):
    """A log with every §10 edge case, from Python's own random (independent of liveroom's simulator)."""
    rng = random.Random(seed)
    names = ["control", "treatment", "treatment_2"][:arms]
    means = [100_000, 125_000, 90_000][:arms]
    buy = [0.04, 0.05, 0.045][:arms]
    length = 3_600_000
    start = lambda k: 1_750_000_000_000 + k * (length + 900_000)  # noqa: E731
    sid_of = lambda k: k if k % 3 == 1 else f"sess-{seed}-{k}"  # noqa: E731  some numeric session ids
    lines = []

    def emit(obj):
        lines.append(json.dumps(obj, separators=(",", ":")))

    for i in range(viewers):
        s = rng.randrange(streams)
        arm = s % arms if design == "session" else rng.randrange(arms)
        sid = sid_of(s)
        vid = f"u{i}" if i % 7 else i  # some numeric viewer ids
        end = start(s) + length
        join = start(s) + int(rng.random() * length)
        ts = lambda t: t + 0.25 if rng.random() < 0.05 else t  # noqa: E731  floats truncate
        emit({"ts": ts(join), "session_id": sid, "viewer_id": vid, "kind": "join", "variant": names[arm]})
        if rng.random() < 0.03:
            emit({"ts": join + rng.randrange(2000), "session_id": sid, "viewer_id": vid, "kind": "join",
                  "variant": names[arm]})
        while True:
            watch = int(rng.expovariate(1 / means[arm]))
            if rng.random() < 0.02:
                watch = 120_000  # a leave at exactly W
            leave = join + watch
            for _ in range(rng.randrange(3)):
                emit({"ts": join + rng.randrange(max(watch, 1)), "session_id": sid, "viewer_id": vid,
                      "kind": rng.choice(["comment", "like", "gift", "cart"])})
            if rng.random() < buy[arm]:
                amount = round(rng.expovariate(1 / 60), 2) if rng.random() > 0.02 else "n/a"
                emit({"ts": join + rng.randrange(max(watch, 1)), "session_id": sid, "viewer_id": vid,
                      "kind": "purchase", "amount": amount})
            if leave >= end and rng.random() < 0.5:
                break  # present at the end
            emit({"ts": min(leave, end) if rng.random() < 0.1 else leave, "session_id": sid, "viewer_id": vid,
                  "kind": "leave"})
            if rng.random() < 0.02:
                emit({"ts": leave + 5, "session_id": sid, "viewer_id": vid, "kind": "leave"})  # duplicate leave
            if leave >= end or rng.random() > 0.12:
                break
            gap = rng.choice([10_000, rng.randrange(1, 10_000), rng.randrange(10_001, 60_000)])
            join = leave + gap
            emit({"ts": join, "session_id": sid, "viewer_id": vid, "kind": "join", "variant": names[arm]})
        if rng.random() < 0.01:
            # another variant elsewhere: multiple exposure, or a late join after the end (no exposure)
            other = names[(arm + 1) % arms]
            late = end + 1000 if rng.random() < 0.5 else start(s) + rng.randrange(length)
            emit({"ts": late, "session_id": sid, "viewer_id": vid, "kind": "join", "variant": other})
    for k in range(20):
        s = k % streams
        emit({"ts": start(s) + rng.randrange(length), "session_id": sid_of(s),
              "viewer_id": f"ghost{k}", "kind": "purchase", "amount": 9.9})
    lines += ["not json", "", '{"ts": "12", "session_id": 1, "viewer_id": 1, "kind": "join"}',
              '{"ts": 1, "session_id": 1, "kind": "host_speech"}', '{"ts": 1, "session_id": 1, "kind": "leave"}']
    for s in range(streams - live):
        sid = sid_of(s)
        emit({"ts": start(s) + length, "session_id": sid, "kind": "stream_end"})
        emit({"ts": start(s) + length + 500, "session_id": sid, "viewer_id": "late", "kind": "like"})
    rng.shuffle(lines)
    opener = gzip.open if out.endswith(".gz") else open
    with opener(out, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# (name, generator arguments, analysis parameters)
FIXTURES = [
    ("viewer_2arms_small", dict(seed=11, viewers=300, design="viewer", arms=2), {}),
    ("viewer_3arms", dict(seed=12, viewers=4000, design="viewer", arms=3), {}),
    ("viewer_3arms_params", dict(seed=12, viewers=4000, design="viewer", arms=3),
     dict(as_of=1_750_000_000_000 + 2 * 4_500_000 + 1_800_000, window=60000, grace=5000, alpha=0.1,
          control="treatment", weights=[1.0, 2.0, 1.0], tuning=2000.0)),
    ("session_2arms", dict(seed=13, viewers=6000, design="session", arms=2, streams=8, live=2), {}),
    ("session_3arms_few_streams", dict(seed=14, viewers=1500, design="session", arms=3, streams=4, live=1), {}),
    ("viewer_2arms_large", dict(seed=15, viewers=20000, design="viewer", arms=2, streams=3, live=1), {}),
]


def fixtures(directory):
    cases = []
    logs = {}
    for name, gen, params in FIXTURES:
        key = tuple(sorted(gen.items()))
        if key not in logs:
            logs[key] = f"log_{name}.jsonl.gz"
            generate(out=os.path.join(directory, logs[key]), **gen)
        result = analyze(os.path.join(directory, logs[key]), **params)
        if params.get("weights"):
            result["diagnostics"]["weights"] = params["weights"]
        expected = f"expected_{name}.json"
        with open(os.path.join(directory, expected), "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
        cases.append({"name": name, "log": logs[key], "expected": expected,
                      "params": {k: v for k, v in params.items()}})
        print(name, file=sys.stderr)
    with open(os.path.join(directory, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--viewers", type=int, required=True)
    g.add_argument("--design", choices=["viewer", "session"], default="viewer")
    g.add_argument("--arms", type=int, default=2)
    g.add_argument("--out", required=True)
    a = sub.add_parser("analyze")
    a.add_argument("log")
    a.add_argument("--as-of", type=int)
    a.add_argument("--window-ms", type=int, default=120000)
    a.add_argument("--grace-ms", type=int, default=10000)
    a.add_argument("--alpha", type=float, default=0.05)
    a.add_argument("--control")
    a.add_argument("--weights")
    a.add_argument("--seq-tuning", type=float, default=5000.0)
    a.add_argument("--json", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("directory")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.seed, args.viewers, args.design, args.arms, args.out)
    elif args.command == "analyze":
        weights = [float(w) for w in args.weights.split(",")] if args.weights else None
        result = analyze(args.log, args.as_of, args.window_ms, args.grace_ms, args.alpha, args.control, weights,
                         args.seq_tuning)
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1, sort_keys=True)
    else:
        fixtures(args.directory)


if __name__ == "__main__":
    main()
