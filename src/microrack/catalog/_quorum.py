"""Quorum and Ceph arithmetic: the one place plan, spec and sim take it from.

Majority quorum (etcd_faq, consul_ft, vault_raft, ceph_mons): a group of ``n``
voters needs ``floor(n/2)+1`` alive and so survives ``floor((n-1)/2)`` losses;
surviving ``f`` losses takes ``2f+1`` voters.  Ceph replication (ceph_size): a
pool of ``size`` replicas accepts writes while ``min_size`` remain; in the worst
case every lost host held a replica of the same placement group.
"""

from __future__ import annotations

__all__ = [
    "ceph_pool_size_for",
    "ceph_pool_tolerates",
    "ceph_replicas_left",
    "quorum_majority",
    "quorum_members",
    "quorum_members_for",
    "quorum_tolerates",
]


def quorum_majority(members: int) -> int:
    """Voters that must be alive for a majority-quorum group of ``members``."""
    return members // 2 + 1


def quorum_tolerates(members: int) -> int:
    """Failures a majority-quorum group of ``members`` survives: floor((n-1)/2)."""
    return max(0, (members - 1) // 2)


def quorum_members_for(failures: int) -> int:
    """Smallest majority-quorum group surviving ``failures``: n = 2f+1."""
    return 2 * max(0, failures) + 1


def quorum_members(nodes: int, failures: int) -> int:
    """Voters to place on ``nodes`` to survive ``failures``: 2f+1 when there are enough
    nodes, else the largest odd group there is room for (an even one adds no tolerance)."""
    want = quorum_members_for(failures)
    if nodes >= want:
        return want
    return nodes if nodes % 2 else max(1, nodes - 1)


def ceph_pool_size_for(failures: int, default_size: int, min_size: int) -> int:
    """Replicas a pool needs to keep ``min_size`` after losing ``failures`` hosts."""
    return max(default_size, failures + min_size)


def ceph_replicas_left(size: int, hosts: int, lost: int) -> int:
    """Replicas of one placement group left, worst case, after ``lost`` OSD hosts go."""
    placed = min(size, hosts)
    return placed - min(lost, placed)


def ceph_pool_tolerates(size: int, min_size: int, hosts: int) -> int:
    """Host losses a pool survives: replicas placed (one per host) beyond ``min_size``."""
    return max(0, min(size, hosts) - min_size)
