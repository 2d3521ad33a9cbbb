"""Small-cell suppression: nothing from 1 to k-1 published, no hidden cell recoverable from the sums."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis.disclosure import COMPLEMENTARY, PRIMARY, hierarchy_constraints, pinned_cells, suppress_small_cells

# --------------------------------------------------------------------------- hand-checked


def test_one_small_cell_and_a_published_total_hides_the_next_smallest():
    counts = {"a": 1, "b": 5, "c": 7, "total": 13}
    s = suppress_small_cells(counts, k=3, constraints=[("total", ["a", "b", "c"])])
    assert s.hidden == {"a": PRIMARY, "b": COMPLEMENTARY}
    assert s.values == {"a": None, "b": None, "c": 7, "total": 13}


def test_two_ones_are_recoverable_together_so_a_third_cell_goes():
    # a + b = 2 with both at least 1 means both are 1: hiding them alone protects nothing
    s = suppress_small_cells({"a": 1, "b": 1, "c": 10, "d": 12, "T": 24}, k=3, constraints=[("T", ["a", "b", "c", "d"])])
    assert s.hidden == {"a": PRIMARY, "b": PRIMARY, "c": COMPLEMENTARY}


def test_no_small_cells_nothing_hidden_and_zeros_are_published():
    s = suppress_small_cells({"a": 0, "b": 4, "T": 4}, k=3, constraints=[("T", ["a", "b"])])
    assert s.hidden == {} and s.values == {"a": 0, "b": 4, "T": 4}


def test_the_total_goes_when_nothing_smaller_protects():
    # b is the only other non-zero member: it is hidden, and then a + b = T still pins nothing
    s = suppress_small_cells({"a": 2, "b": 0, "c": 9, "T": 11}, k=3, constraints=[("T", ["a", "b", "c"])])
    assert s.hidden == {"a": PRIMARY, "c": COMPLEMENTARY} and s.values["T"] == 11
    s = suppress_small_cells({"a": 2, "b": 0, "T": 2}, k=3, constraints=[("T", ["a", "b"])])
    assert set(s.hidden) == {"a", "T"}


def test_nested_tiers_a_suppressed_parent_is_not_recovered_from_its_published_children():
    # city = k1 + k2; k1 = n1 + n2 (1 + 1), k2 = n3 + n4 (5 + 0)
    counts = {"n1": 1, "n2": 1, "n3": 5, "n4": 0, "k1": 2, "k2": 5, "city": 7}
    parents = {"n1": "k1", "n2": "k1", "n3": "k2", "n4": "k2", "k1": "city", "k2": "city", "city": None}
    cons = hierarchy_constraints(parents)
    s = suppress_small_cells(counts, k=3, constraints=cons)
    assert {"n1", "n2", "k1"} <= set(s.hidden)
    assert pinned_cells(counts, s.hidden, cons) == []
    # hiding only the small ones would let k2 = n3 + n4 = 5 and then k1 = 7 - 5 = 2 be worked out
    assert set(pinned_cells(counts, {"n1", "n2", "k1"}, cons)) >= {"k1"}


def test_a_small_cell_costs_a_sibling_not_the_city_total():
    counts = {"n00": 1, "n01": 5, "n02": 6, "n10": 4, "n11": 4, "d0": 12, "d1": 8, "city": 20, "outside": 0, "total": 20}
    parents = {"n00": "d0", "n01": "d0", "n02": "d0", "n10": "d1", "n11": "d1", "d0": "city", "d1": "city", "city": None}
    cons = hierarchy_constraints(parents, total="total", outside="outside")
    assert ("total", ["city", "outside"]) in cons and ("d0", ["n00", "n01", "n02"]) in cons
    s = suppress_small_cells(counts, k=3, constraints=cons)
    assert s.hidden == {"n00": PRIMARY, "n01": COMPLEMENTARY}
    assert s.values["city"] == s.values["total"] == 20 and s.values["d0"] == 12


def test_k_of_one_hides_nothing():
    assert suppress_small_cells({"a": 1, "T": 1}, k=1, constraints=[("T", ["a"])]).hidden == {}


@pytest.mark.parametrize(("counts", "k", "cons", "words"), [
    ({"a": -1}, 3, [], "at least 0"),
    ({"a": 1.5}, 3, [], "whole number"),
    ({"a": 1}, 0, [], "k must"),
    ({"a": 1, "T": 3}, 3, [("T", ["a"])], "not the sum"),
    ({"a": 1}, 3, [("T", ["a"])], "without a count"),
])
def test_bad_input(counts, k, cons, words):
    with pytest.raises(ValueError, match=words):
        suppress_small_cells(counts, k=k, constraints=cons)


def test_deterministic():
    counts = {f"n{i}": v for i, v in enumerate([1, 0, 4, 2, 7, 3, 1, 9])}
    counts["T"] = sum(counts.values())
    cons = [("T", [c for c in counts if c != "T"])]
    assert suppress_small_cells(counts, k=3, constraints=cons) == suppress_small_cells(counts, k=3, constraints=cons)


# --------------------------------------------------------------------------- properties


@st.composite
def tiers(draw):
    """A random three-level hierarchy (base areas → districts → city) plus households outside, and k."""
    k = draw(st.integers(2, 4))
    n_districts = draw(st.integers(1, 3))
    counts, parents = {}, {}
    for d in range(n_districts):
        kids = draw(st.lists(st.integers(0, 9), min_size=0, max_size=3))
        for i, v in enumerate(kids):
            counts[f"n{d}{i}"] = v
            parents[f"n{d}{i}"] = f"d{d}"
        counts[f"d{d}"] = sum(kids)
        parents[f"d{d}"] = "city"
    counts["city"] = sum(counts[f"d{d}"] for d in range(n_districts))
    parents["city"] = None
    counts["outside"] = draw(st.integers(0, 4))
    counts["total"] = counts["city"] + counts["outside"]
    base = [c for c in counts if c.startswith("n")]
    cons = hierarchy_constraints(parents, total="total", outside="outside")
    assert ("total", ["city", "outside"]) in cons
    # a reader also knows the total is the sum of the base areas and the outside cell (redundant, still true)
    cons.append(("total", [*base, "outside"]))
    return counts, k, cons


def _other_value_possible(counts, hidden, cons, cell) -> bool:
    """Independent check (integer programme): can ``cell`` differ from its true value, all else as published?"""
    from scipy.optimize import Bounds, LinearConstraint, milp

    unknowns = [c for c in counts if c in hidden]
    col = {c: i for i, c in enumerate(unknowns)}
    a_rows, b = [], []
    for total, members in cons:
        row = np.zeros(len(unknowns))
        rhs = 0.0
        for c, a in [(total, 1), *((m, -1) for m in members)]:
            if c in col:
                row[col[c]] += a
            else:
                rhs -= a * counts[c]
        if row.any():
            a_rows.append(row)
            b.append(rhs)
        else:
            assert rhs == 0
    if not a_rows:
        return True
    true = counts[cell]
    for lo, hi in ((1, true - 1), (true + 1, 10 * (sum(counts.values()) + 10))):
        if lo > hi:
            continue
        lb = np.ones(len(unknowns))
        ub = np.full(len(unknowns), np.inf)
        lb[col[cell]], ub[col[cell]] = lo, hi
        res = milp(np.zeros(len(unknowns)), constraints=[LinearConstraint(np.vstack(a_rows), b, b)],
                   integrality=np.ones(len(unknowns)), bounds=Bounds(lb, ub))
        if res.status == 0:
            return True
    return False


def _brute_force_values(counts, hidden, cons, cell, bound) -> set[int]:
    """Every value ``cell`` can take, trying all hidden values 1..bound (small cases only)."""
    cells = [c for c in counts if c in hidden]
    seen = set()
    for combo in itertools.product(range(1, bound + 1), repeat=len(cells)):
        v = {**counts, **dict(zip(cells, combo))}
        if all(v[t] == sum(v[m] for m in ms) for t, ms in cons):
            seen.add(v[cell])
            if len(seen) > 1:
                break
    return seen


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiers())
def test_no_published_value_between_1_and_k_minus_1(case):
    counts, k, cons = case
    s = suppress_small_cells(counts, k=k, constraints=cons)
    for cell, v in s.values.items():
        assert v is None or v == 0 or v >= k, (cell, v)
        assert (v is None) == (cell in s.hidden)
        if v is not None:
            assert v == counts[cell]
    for cell, why in s.hidden.items():
        assert counts[cell] >= 1  # zeros are never hidden (the reader may rely on hidden >= 1)
        assert (why == PRIMARY) == (counts[cell] < k)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiers())
def test_no_hidden_value_follows_from_a_total_minus_published_cells(case):
    counts, k, cons = case
    s = suppress_small_cells(counts, k=k, constraints=cons)
    for total, members in cons:
        unknown = [c for c in (total, *members) if c in s.hidden]
        assert len(unknown) != 1, (total, members, unknown)  # one unknown in a sum = worked out directly
    for cell in s.hidden:
        assert _other_value_possible(counts, s.hidden, cons, cell), cell


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiers())
def test_brute_force_agrees_on_small_cases(case):
    counts, k, cons = case
    s = suppress_small_cells(counts, k=k, constraints=cons)
    if len(s.hidden) > 4:
        return
    bound = sum(v for c, v in counts.items() if c.startswith("n")) + counts["outside"] + 4
    for cell in s.hidden:
        assert len(_brute_force_values(counts, s.hidden, cons, cell, bound)) > 1, cell
