"""Which slice gets embedded next, on a real Redis."""

from __future__ import annotations

import pytest
import redis

from annotator.scheduling import Scheduler


@pytest.fixture
def sched(redis_server):
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    return Scheduler(client, "model-a", runners=2)


def drain(sched: Scheduler) -> list[int]:
    order = []
    while (item := sched.pop_next()) is not None:
        order.append(item[2])
    return order


def test_slices_are_embedded_nearest_to_the_viewed_slice_first(sched):
    sched.view(7, "lung", center=3, total=6, viewer="a", username="anna")
    order = drain(sched)
    assert order[0] == 3
    assert set(order[1:3]) == {2, 4} and set(order[3:5]) == {1, 5} and order[5] == 0


def test_scrolling_moves_the_work_to_the_new_slice(sched):
    sched.view(7, "lung", center=0, total=10, viewer="a", username="anna")
    assert sched.pop_next() == (7, "lung", 0, "axial")
    sched.view(7, "lung", center=9, total=10, viewer="a", username="anna")
    assert sched.pop_next() == (7, "lung", 9, "axial")


def test_ready_slices_are_not_wanted_again(sched):
    sched.mark_ready(7, "lung", 3)
    sched.view(7, "lung", center=3, total=5, viewer="a", username="anna")
    assert 3 not in drain(sched)


def test_two_viewers_each_get_the_slices_near_them(sched):
    sched.view(7, "lung", center=0, total=10, viewer="a", username="anna")
    sched.view(7, "lung", center=9, total=10, viewer="b", username="ben")
    assert set(drain(sched)[:2]) == {0, 9}


def test_work_is_dropped_when_nobody_looks_through_that_window_any_more(sched):
    sched.view(7, "lung", center=2, total=5, viewer="a", username="anna")
    sched.view(7, "bone", center=2, total=5, viewer="b", username="ben")
    sched.leave(7, "b")
    assert {item[1] for item in iter(sched.pop_next, None)} == {"lung"}
    sched.view(7, "lung", center=2, total=5, viewer="a", username="anna")
    sched.leave(7, "a")
    assert sched.pop_next() is None
    assert sched.viewers(7) == []


def test_runner_leases_are_limited(sched):
    assert {sched.claim_runner(), sched.claim_runner()} == {0, 1}
    assert sched.claim_runner() is None
    sched.release_runner(0)
    assert sched.claim_runner() == 0


def test_the_record_of_ready_slices_expires_unless_the_series_is_viewed_again(redis_server):
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    sched = Scheduler(client, "model-a", ready_ttl_s=3600)
    # Given slices of a series were embedded
    sched.mark_ready(7, "lung", 3)
    key = "emb:ready:7:lung:model-a"
    # Then Redis forgets them after the retention time unless somebody looks at the series again
    assert 3500 < client.ttl(key) <= 3600
    client.expire(key, 100)
    sched.view(7, "lung", center=3, total=5, viewer="a", username="anna")
    assert 3500 < client.ttl(key) <= 3600
    assert sched.ready(7, "lung") == {3}


def test_a_coronal_viewer_gets_the_coronal_slices_near_theirs_and_axial_viewers_keep_theirs(sched):
    sched.view(7, "lung", center=1, total=4, viewer="a", username="anna")
    sched.view(7, "lung", center=300, total=512, viewer="b", username="ben", plane="coronal")
    popped = list(iter(sched.pop_next, None))
    coronal = [item.slice_index for item in popped if item.plane == "coronal"]
    assert coronal[:3] == [300, 299, 301] or coronal[:3] == [300, 301, 299]
    assert len(coronal) == 512 and sorted(i.slice_index for i in popped if i.plane == "axial") == [0, 1, 2, 3]
    # Ready is per plane: coronal slice 2 being embedded says nothing about axial slice 2.
    sched.mark_ready(7, "lung", 2, "coronal")
    assert sched.ready(7, "lung", "coronal") == {2} and sched.ready(7, "lung") == set()


def test_a_viewer_who_switches_plane_stops_wanting_the_old_planes_slices(sched):
    sched.view(7, "lung", center=1, total=4, viewer="a", username="anna")
    sched.view(7, "lung", center=10, total=64, viewer="a", username="anna", plane="sagittal")
    assert {item.plane for item in iter(sched.pop_next, None)} == {"sagittal"}
    assert sched.viewers(7)[0]["plane"] == "sagittal"
