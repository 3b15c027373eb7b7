"""The one place quorum and Ceph arithmetic lives, and the packages that use it."""

from __future__ import annotations

import inspect

from hypothesis import given
from hypothesis import strategies as st

import microrack.plan._build as build
import microrack.plan._emit as emit
import microrack.spec._tolerance as spec_tolerance
from microrack.catalog import (
    ceph_pool_size_for,
    ceph_pool_tolerates,
    ceph_replicas_left,
    planning_rules,
    quorum_majority,
    quorum_members,
    quorum_members_for,
    quorum_tolerates,
)


def test_published_figures():
    # etcd FAQ: 3 members tolerate 1, 5 tolerate 2; 4 tolerate only 1
    assert [quorum_tolerates(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [0, 0, 1, 1, 2, 2, 3]
    assert [quorum_majority(n) for n in (1, 3, 4, 5)] == [1, 2, 3, 3]
    # Ceph size 3 / min_size 2 across 3 hosts survives one host
    assert ceph_pool_tolerates(3, 2, 3) == 1 and ceph_pool_tolerates(3, 2, 2) == 0
    assert ceph_pool_size_for(2, 3, 2) == 4


@given(st.integers(0, 20))
def test_members_for_f_survive_exactly_f(f):
    n = quorum_members_for(f)
    assert quorum_tolerates(n) == f
    if f:  # one voter fewer no longer survives f losses
        assert quorum_tolerates(n - 1) < f


@given(st.integers(1, 40), st.integers(0, 10))
def test_members_placed_are_odd_fit_and_never_tolerate_less_than_a_bigger_even(nodes, f):
    m = quorum_members(nodes, f)
    assert 1 <= m <= nodes and m % 2 == 1
    assert quorum_tolerates(m) == min(f, quorum_tolerates(nodes))


@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 10))
def test_replicas_left_match_what_the_pool_tolerates(size, hosts, lost):
    min_size = max(1, size - 1)
    lost = min(lost, hosts)
    left = ceph_replicas_left(size, hosts, lost)
    assert 0 <= left <= min(size, hosts)
    if hosts >= min_size and lost <= ceph_pool_tolerates(size, min_size, hosts):
        assert left >= min_size


def test_plan_spec_and_rules_take_the_arithmetic_from_one_place():
    rules = planning_rules()
    assert rules.quorum_tolerates is quorum_tolerates
    assert rules.ceph_pool_size(1) == ceph_pool_size_for(
        1, rules.ceph_replica_size, rules.ceph_min_size
    )
    # each module binds the catalog's functions, not a copy of the arithmetic
    assert spec_tolerance.quorum_tolerates is quorum_tolerates
    assert spec_tolerance.quorum_majority is quorum_majority
    assert spec_tolerance.ceph_pool_tolerates is ceph_pool_tolerates
    assert spec_tolerance.ceph_replicas_left is ceph_replicas_left
    assert build.quorum_members is quorum_members and emit.quorum_members is quorum_members
    assert build.ceph_pool_tolerates is ceph_pool_tolerates
    for module in (build, emit, spec_tolerance):
        assert "(len(members) - 1) // 2" not in inspect.getsource(module)
