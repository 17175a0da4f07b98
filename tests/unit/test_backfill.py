"""The live province's backfill: as fast as possible up to the present, then real time; named departments."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from esup.cli.processes import Plan, planned
from esup.settings import Settings
from sim.province import build_province
from sim.writers import Pacer

TZ = ZoneInfo("Asia/Shanghai")


def test_a_backfill_does_not_wait_until_it_reaches_the_present() -> None:
    ticks = [0.0]
    wall = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)

    def now() -> datetime:
        return wall + timedelta(seconds=ticks[0])

    pacer = Pacer(None, wall - timedelta(days=30), catch_up=True, clock=lambda: ticks[0], wall=now)
    assert pacer.wait_s(wall - timedelta(days=29)) == 0.0  # the past: at once
    assert pacer.wait_s(wall - timedelta(seconds=1)) == 0.0
    assert not pacer.live and not pacer.present  # no tick may run the timers ahead of the backfill
    assert pacer.wait_s(wall + timedelta(seconds=40)) == 40.0  # the future: real time from here on
    assert pacer.live and pacer.present
    ticks[0] = 10.0
    assert pacer.sim_now(3.0) == wall + timedelta(seconds=7)  # ticks follow the wall clock, lag_s behind


def test_without_catch_up_max_speed_never_waits_nor_ticks() -> None:
    pacer = Pacer(None, datetime(2026, 1, 1, tzinfo=TZ))
    assert pacer.wait_s(datetime(2099, 1, 1, tzinfo=TZ)) == 0.0
    assert not pacer.live and not pacer.present


def test_a_paced_catch_up_is_present_once_the_fast_clock_passes_the_wall() -> None:
    ticks = [0.0]
    wall = datetime(2026, 12, 2, 10, 0, tzinfo=TZ)
    pacer = Pacer(
        600,
        wall - timedelta(days=1),
        catch_up=True,
        clock=lambda: ticks[0],
        wall=lambda: wall + timedelta(seconds=ticks[0]),
    )
    assert pacer.live and not pacer.present
    ticks[0] = 24 * 3600 / 599  # a day at 600x, against a wall clock that moved too
    assert pacer.present


def test_make_up_backfills_at_full_speed() -> None:
    sim = next(s for s in planned(Plan(), Settings(), run_id="x") if s.name == "simulator")
    args = list(sim.args)
    assert args[args.index("--speed") + 1] == "max" and "--catch-up" in args and "--tick-every" in args
    assert args[args.index("--start") + 1] == "now-30d"


def test_every_department_has_the_name_a_supervisor_knows() -> None:
    province = build_province(seed=1, cities=2, counties=2)
    offices = {o.department_id: o.name for c in province.counties for o in c.offices.values()}
    assert offices["511702-GA"] == "达州市通川区公安局"
    assert offices["511700-GA"] == "达州市公安局"  # the city's own office
    assert offices["510104-SCJG"] == "成都市锦江区市场监督管理局"
    assert len(set(offices.values())) == len(offices)
