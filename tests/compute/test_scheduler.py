"""The placement function on its own: each filter, each weigher, and the reasons it gives."""

from __future__ import annotations

import pytest

from compute.scheduler import (
    HostState,
    PlacementRequest,
    Reason,
    capacity_limit,
    choose_host,
    describe_no_host,
)

SMALL = PlacementRequest(vcpus=1, ram_mib=1024, disk_gib=10, environment="development")


def host(id: int, **kw: object) -> HostState:
    fields: dict[str, object] = {"cpus": 8, "ram_mib": 16384, "disk_gib": 100}
    fields.update(kw)
    return HostState(id=id, **fields)  # type: ignore[arg-type]


def test_disabled_and_down_hosts_are_never_chosen():
    placement = choose_host(SMALL, [host(1, enabled=False), host(2, up=False), host(3)])
    assert placement.host_id == 3
    assert placement.rejected == {Reason.DISABLED: 1, Reason.DOWN: 1}


def test_cpu_overcommit_ratio_bounds_the_vcpus_handed_out():
    # 4 physical CPUs at ratio 4.0: 16 vCPUs may be allocated, not 17.
    h = host(1, cpus=4, cpu_ratio=4.0, used_vcpus=15)
    assert choose_host(SMALL, [h]).host_id == 1
    full = h.with_claim(SMALL)
    placement = choose_host(SMALL, [full])
    assert placement.host_id is None
    assert placement.rejected == {Reason.CPU: 1}


def test_a_vm_never_gets_more_vcpus_than_the_host_has_cpus():
    wide = PlacementRequest(vcpus=8, ram_mib=512, disk_gib=1)
    assert choose_host(wide, [host(1, cpus=4, cpu_ratio=16.0)]).rejected == {Reason.CPU: 1}


def test_ram_ratio_below_one_reserves_memory_for_the_host():
    h = host(1, ram_mib=10000, ram_ratio=0.9)  # 9000 MiB may be allocated
    assert choose_host(PlacementRequest(1, 9000, 1), [h]).ok
    assert choose_host(PlacementRequest(1, 9001, 1), [h]).rejected == {Reason.RAM: 1}


def test_disk_overcommit_allows_thin_disks_beyond_the_pool():
    h = host(1, disk_gib=100, disk_ratio=1.5, used_disk_gib=140)
    assert choose_host(PlacementRequest(1, 512, 10), [h]).ok
    assert choose_host(PlacementRequest(1, 512, 11), [h]).rejected == {Reason.DISK: 1}


def test_capacity_limit_is_not_fooled_by_float_rounding():
    assert capacity_limit(100, 1.15) == 115
    assert capacity_limit(16, 4.0) == 64
    assert capacity_limit(10, 0.7) == 7


def test_env_tag_reserves_a_host_for_that_environment():
    prod_only = host(1, tags=frozenset({"env:production"}))
    shared = host(2, tags=frozenset({"ssd"}))
    prod = PlacementRequest(1, 512, 1, environment="production")
    dev = PlacementRequest(1, 512, 1, environment="development")
    assert choose_host(dev, [prod_only, shared]).host_id == 2
    assert choose_host(dev, [prod_only]).rejected == {Reason.TAGS: 1}
    # Production VMs may use the reserved host and the untagged one alike.
    assert choose_host(prod, [prod_only]).host_id == 1
    assert choose_host(prod, [shared]).host_id == 2


def test_a_host_can_be_reserved_for_several_environments():
    h = host(1, tags=frozenset({"env:production", "env:qualification"}))
    assert choose_host(PlacementRequest(1, 512, 1, environment="qualification"), [h]).ok
    assert not choose_host(PlacementRequest(1, 512, 1, environment="development"), [h]).ok


def test_required_tags_must_all_be_on_the_host():
    request = PlacementRequest(1, 512, 1, required_tags=frozenset({"ssd", "gpu"}))
    hosts = [host(1, tags=frozenset({"ssd"})), host(2, tags=frozenset({"ssd", "gpu", "x"}))]
    placement = choose_host(request, hosts)
    assert placement.host_id == 2
    assert placement.rejected == {Reason.TAGS: 1}


def test_anti_affinity_keeps_group_members_apart():
    request = PlacementRequest(1, 512, 1, avoid_host_ids=frozenset({1, 2}))
    placement = choose_host(request, [host(1), host(2), host(3, ram_mib=1024)])
    assert placement.host_id == 3
    assert placement.rejected == {Reason.ANTI_AFFINITY: 2}


def test_spread_picks_most_free_memory_and_breaks_ties_on_vcpus():
    hosts = [
        host(1, used_ram_mib=4096),
        host(2, used_ram_mib=1024, used_vcpus=4),
        host(3, used_ram_mib=1024, used_vcpus=2),
    ]
    assert choose_host(SMALL, hosts, mode="spread").host_id == 3


def test_pack_picks_least_free_memory_that_fits_and_breaks_ties_on_vcpus():
    hosts = [
        host(1, used_ram_mib=4096),
        host(2, used_ram_mib=15872),  # 512 MiB left: does not fit 1024
        host(3, used_ram_mib=8192, used_vcpus=2),
        host(4, used_ram_mib=8192, used_vcpus=5),
    ]
    placement = choose_host(SMALL, hosts, mode="pack")
    assert placement.host_id == 4
    assert placement.rejected == {Reason.RAM: 1}


def test_equal_hosts_go_to_the_first_given_in_both_modes():
    hosts = [host(7), host(3), host(9)]
    assert choose_host(SMALL, hosts, mode="spread").host_id == 7
    assert choose_host(SMALL, hosts, mode="pack").host_id == 7


def test_spread_fills_hosts_evenly_and_pack_fills_one_first():
    for mode, expected in (("spread", [1, 2, 1, 2]), ("pack", [1, 1, 1, 1])):
        hosts = [host(1), host(2)]
        chosen = []
        for _ in range(4):
            placement = choose_host(SMALL, hosts, mode=mode)  # type: ignore[arg-type]
            assert placement.host_id is not None
            chosen.append(placement.host_id)
            i = [h.id for h in hosts].index(placement.host_id)
            hosts[i] = hosts[i].with_claim(SMALL)
        assert chosen == expected, mode


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="placement mode"):
        choose_host(SMALL, [host(1)], mode="random")  # type: ignore[arg-type]


def test_a_host_is_counted_under_the_first_filter_it_fails():
    # Disabled and also full: counted once, as disabled.
    placement = choose_host(SMALL, [host(1, enabled=False, used_ram_mib=16384)])
    assert placement.rejected == {Reason.DISABLED: 1}


def test_no_host_message_lists_every_reason_with_its_count():
    hosts = [
        host(1, enabled=False),
        host(2, up=False),
        host(3, up=False),
        host(4, used_ram_mib=16000),
        host(5, tags=frozenset({"env:production"})),
    ]
    placement = choose_host(SMALL, hosts)
    message = describe_no_host(SMALL, placement)
    assert message == (
        "No host can take this VM (1 vCPU, 1024 MiB RAM, 10 GiB disk) right now. Hosts: "
        "1 disabled, 2 down, 1 reserved for other environments or missing a required tag, "
        "1 without enough memory."
    )


def test_no_host_message_when_none_is_registered():
    assert "no host is registered" in describe_no_host(SMALL, choose_host(SMALL, []))
