"""The worker's status page: liveness, owned partitions, consumer lag per partition, counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams import faust_adapter

if TYPE_CHECKING:
    from streams.app import Runtime


def status(runtime: Runtime) -> dict[str, Any]:
    """The status page's body: liveness, each owned partition's offsets, lag, timers, watermark; counters; catalog."""
    app = runtime.app
    proc = runtime.processor
    topic = runtime.settings.topic_case_events
    partitions: dict[str, Any] = {}
    owned = faust_adapter.active_partitions(app, topic)
    ready = set(runtime.ownership.owned()) if runtime.ownership else set(owned)
    for p in owned:
        high = faust_adapter.highwater(app, topic, p)
        pos = proc.positions.get(p)
        lag = None if high is None else max(high - (pos + 1 if pos is not None else 0), 0)
        partitions[str(p)] = {
            "highwater": high,
            "processed_offset": pos,
            "lag": lag,
            "pending_timers": proc.index.pending(p),
            "watermark": proc.watermarks[p].isoformat() if p in proc.watermarks else None,
            "ready": p in ready,  # fenced and loaded from the changelog
        }
    now = proc.wall_clock()
    sweep = runtime.last_sweep_at
    interval = runtime.settings.sweep_interval_s
    alive = runtime.clock == "event" or (sweep is not None and (now - sweep).total_seconds() < 5 * interval + 5)
    return {
        "alive": alive,
        "clock": runtime.clock,
        "clock_offset_s": runtime.settings.clock_offset_s,
        "started_at": runtime.started_at.isoformat(),
        "last_sweep_at": sweep.isoformat() if sweep else None,
        "last_event_processed_at": proc.last_event_at.isoformat() if proc.last_event_at else None,
        "partitions": partitions,
        "total_lag": sum(v["lag"] or 0 for v in partitions.values()),
        "counters": dict(proc.counters),
        "open_timers": len(proc.index),
        "calendar_version": proc.ctx.calendar.version,
        "catalog": _catalog(runtime),
        "config": _config(runtime),
    }


def _config(runtime: Runtime) -> dict[str, Any]:
    feed = runtime.extra.get("configs")
    return {**runtime.processor.contexts.status(), **(feed.status() if feed is not None else {})}


def _catalog(runtime: Runtime) -> dict[str, Any]:
    feed = runtime.extra.get("catalog")
    if feed is None:
        return {}
    live: Any = getattr(runtime.processor.ctx, "catalog", None)
    checked = live.status() if hasattr(live, "status") else {}  # bad records and their reasons
    return {
        "ready": feed.ready.is_set(),
        "items": len(feed.items),
        "updates": feed.updates,
        "state": feed.state,
        **checked,
    }


def register_status_page(runtime: Runtime) -> None:
    """Serve :func:`status` at ``/esup/status/`` on the worker's web server; 503 when the worker is not alive."""
    app = runtime.app

    @app.page("/esup/status/")
    async def status_page(web: Any, request: Any) -> Any:
        body = status(runtime)
        return web.json(body, status=200 if body["alive"] else 503)
