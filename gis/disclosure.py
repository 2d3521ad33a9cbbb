"""Small-cell suppression: publish counts of people per area without revealing small groups.

A count of client households per area is safe to publish only when no cell is small: a cell of
1 or 2 households is close to naming them. :func:`suppress_small_cells` hides every count from 1
to k-1 (*primary* suppression) and then hides more cells (*complementary* suppression) until no
hidden count can be worked out from what is published: from a published total minus the other
published cells, or from any chain of such sums (a 公民館区 is the sum of its 町丁・字, the city
the sum of its 公民館区, and so on).

The audit is exact for the sums it is given. Every hidden cell is at least 1 (zeros are published
and never hidden, so a reader knows that much), and a hidden cell counts as protected when the
published values and the sums still allow at least two values for it; this is checked with a
linear programme per hidden cell (minimum and maximum of the cell, HiGHS), which for nested sums
(each cell the total of at most one group and a member of at most one group, a network matrix)
has integral optima, so the answer holds for whole numbers too.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Kind of suppression of a hidden cell.
PRIMARY = "primary"
COMPLEMENTARY = "complementary"

#: A sum the reader knows: (total cell, member cells) with counts[total] == sum(counts[members]).
Constraint = tuple[Hashable, Sequence[Hashable]]


@dataclass(frozen=True)
class Suppression:
    """Counts after suppression.

    Attributes
    ----------
    values
        Cell → published count, or None when hidden.
    hidden
        Cell → why it is hidden: :data:`PRIMARY` (1 to k-1) or :data:`COMPLEMENTARY` (hidden so a
        small cell cannot be worked out). Published cells are not in it.
    k
        The threshold: counts from 1 to k-1 are never published.
    """

    values: dict
    hidden: dict
    k: int

    def is_hidden(self, cell: Hashable) -> bool:
        """True when ``cell`` is not published."""
        return cell in self.hidden


def _check(counts: Mapping[Hashable, int], k: int, constraints: Sequence[Constraint]) -> dict:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        msg = f"k must be a whole number of at least 1, got {k!r}"
        raise ValueError(msg)
    values = {}
    for cell, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            msg = f"count of {cell!r} must be a whole number of at least 0, got {v!r}"
            raise ValueError(msg)
        values[cell] = int(v)
    for total, members in constraints:
        unknown = [c for c in (total, *members) if c not in values]
        if unknown:
            msg = f"constraint on {total!r} names cells without a count: {unknown!r}"
            raise ValueError(msg)
        if len(set(members)) != len(members) or total in members:
            msg = f"constraint on {total!r} lists a cell twice"
            raise ValueError(msg)
        if values[total] != sum(values[m] for m in members):
            msg = f"count of {total!r} ({values[total]}) is not the sum of its members"
            raise ValueError(msg)
    return values


def _rows(constraints: Sequence[Constraint]) -> list[list[tuple[Hashable, int]]]:
    """Each constraint as (cell, coefficient) pairs of ``total - sum(members) = 0``."""
    return [[(total, 1), *((m, -1) for m in members)] for total, members in constraints]


def pinned_cells(values: Mapping[Hashable, int], hidden: Iterable[Hashable], constraints: Sequence[Constraint],
                 *, only: Iterable[Hashable] | None = None) -> list:
    """Hidden cells whose value follows from the published ones and the sums.

    Parameters
    ----------
    values
        True count of every cell.
    hidden
        The cells not published (each known to the reader to be at least 1).
    constraints
        The sums the reader knows (see :data:`Constraint`).
    only
        Check only these hidden cells (default: all).

    Returns
    -------
    list
        The hidden cells that can take only one value, in ``values`` order.
    """
    from scipy.optimize import linprog

    hidden = set(hidden)
    unknowns = [c for c in values if c in hidden]
    col = {c: i for i, c in enumerate(unknowns)}
    a_rows, b = [], []
    touched: set = set()
    for row in _rows(constraints):
        coeffs = np.zeros(len(unknowns))
        rhs = 0.0
        for cell, a in row:
            if cell in col:
                coeffs[col[cell]] += a
            else:
                rhs -= a * values[cell]
        if coeffs.any():
            a_rows.append(coeffs)
            b.append(rhs)
            touched.update(c for c, _ in row if c in col)
    if not a_rows:
        return []
    a_eq, b_eq = np.vstack(a_rows), np.asarray(b)
    pinned = []
    check = None if only is None else set(only)
    for cell in unknowns:
        if cell not in touched or (check is not None and cell not in check):
            continue  # in no known sum: anything from 1 up
        c = np.zeros(len(unknowns))
        c[col[cell]] = 1.0
        lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=(1, None), method="highs")
        if lo.status != 0:
            msg = f"the published sums are inconsistent around {cell!r} (HiGHS status {lo.status})"
            raise RuntimeError(msg)
        if hi.status == 3:  # unbounded above
            continue
        if hi.status != 0:
            msg = f"cannot audit {cell!r} (HiGHS status {hi.status})"
            raise RuntimeError(msg)
        if -hi.fun - lo.fun < 0.5:
            pinned.append(cell)
    return pinned


def suppress_small_cells(
    counts: Mapping[Hashable, int],
    *,
    k: int = 3,
    constraints: Sequence[Constraint] = (),
) -> Suppression:
    """Hide counts from 1 to k-1, then enough others that no hidden count can be worked out.

    Parameters
    ----------
    counts
        Cell → count (whole number ≥ 0). Cells of several tables linked by sums go in together
        (for instance every area of every tier level and the overall total), so no table gives
        away a cell another one hides.
    k
        Smallest count published besides 0 (the settings field ``small_cell_k``, default 3).
    constraints
        The sums a reader knows: ``(total, members)`` with ``counts[total] == sum(counts[m])``.

    Returns
    -------
    Suppression
        Published values (None when hidden) and why each hidden cell is hidden.

    Notes
    -----
    Zeros are published (an area with no client households says nothing about a person).
    Complementary cells are chosen one at a time for the first cell that could be worked out:
    the published non-zero cell nearest to it in the sums (siblings and parent before a grand
    total), then with the smallest count, whose hiding frees it; so totals are hidden only when
    nothing smaller protects the cell ("don't publish the exact total"). Deterministic for the
    same input.

    Raises
    ------
    ValueError
        A negative or fractional count, ``k`` below 1, or a constraint that does not add up.
    """
    constraints = [(t, list(m)) for t, m in constraints]
    values = _check(counts, k, constraints)
    order = {c: i for i, c in enumerate(values)}
    hidden = {c: PRIMARY for c, v in values.items() if 1 <= v < k}
    rows = [[total, *members] for total, members in constraints]
    rows_of: dict = {c: [] for c in values}
    for i, row in enumerate(rows):
        for c in row:
            rows_of[c].append(i)

    # Hiding one more cell only widens what the others can be (its true value stays possible), so
    # a cell once free stays free: after the first audit only the cells still pinned and the newly
    # hidden one need looking at again.
    pinned = pinned_cells(values, hidden, constraints) if hidden and constraints else []
    while pinned:
        cell = pinned[0]
        options = _candidates(cell, values, hidden, rows, rows_of, order)
        extra = next((c for c in options[:_MAX_TRIES]
                      if not pinned_cells(values, {*hidden, c}, constraints, only=[cell])), None)
        if extra is None and options:  # no single cell frees it: hide the nearest smallest and look again
            extra = options[0]
        if extra is None:  # every non-zero cell it is tied to is hidden: nothing more can be done
            break
        hidden[extra] = COMPLEMENTARY
        pinned = pinned_cells(values, {*hidden}, constraints, only=[*pinned, extra])
    published = {c: (None if c in hidden else v) for c, v in values.items()}
    return Suppression(values=published, hidden=dict(hidden), k=int(k))


#: Most candidate cells tried one by one for freeing a cell that can be worked out.
_MAX_TRIES = 40


def _candidates(cell, values, hidden, rows, rows_of, order) -> list:
    """Published non-zero cells that may free ``cell``, nearest first, then smallest count, then ``counts`` order.

    "Near" counts the sums between them: a cell in a sum with ``cell`` is at 1, one in a sum with
    a hidden cell at 1 is at 2, and so on (only hidden cells lead further: what can be worked out
    about ``cell`` runs through sums of hidden cells and ends at published ones). So a cell's
    siblings and parent come before a grand total, which comes before anything unrelated.
    """
    dist = {cell: 0}
    frontier = [cell]
    seen_rows: set[int] = set()
    while frontier:
        step = []
        for c in frontier:
            for i in rows_of[c]:
                if i in seen_rows:
                    continue
                seen_rows.add(i)
                for m in rows[i]:
                    if m not in dist:
                        dist[m] = dist[c] + 1
                        if m in hidden:
                            step.append(m)
        frontier = step
    options = [c for c in dist if c not in hidden and values[c] > 0]
    return sorted(options, key=lambda c: (dist[c], values[c], order[c]))


def hierarchy_constraints(
    parent_of: Mapping[Hashable, Hashable | None],
    *,
    total: Hashable | None = None,
    outside: Hashable | None = None,
) -> list[Constraint]:
    """The sums of nested areas: each parent is the sum of its children; the total the sum of the top cells.

    Parameters
    ----------
    parent_of
        Cell → its parent cell (None at the top, or for an area without a parent: such an area
        is a top cell of its own). Counts must be rolled up this way (a parent = the sum of its
        children, the innermost areas counted directly).
    total
        The cell of the overall total, if it is published: the sum of every top cell and ``outside``.
    outside
        A cell counting what lies in no area, if any.
    """
    children: dict = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    out: list[Constraint] = [(p, kids) for p, kids in children.items()]
    if total is not None:
        roots = [c for c, p in parent_of.items() if p is None and c != total and c != outside]
        out.append((total, roots + ([outside] if outside is not None else [])))
    return out


__all__ = ["COMPLEMENTARY", "PRIMARY", "Constraint", "Suppression", "hierarchy_constraints", "pinned_cells",
           "suppress_small_cells"]
