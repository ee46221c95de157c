"""WebSocket ``/api/v1/ws``: a snapshot of active jobs, then live typed events.

On connect the client first gets ``{"type": "snapshot", "jobs": [...]}`` (queued and running
jobs), so a page refresh loses nothing; then ``job.updated`` / ``job.deleted`` /
``system.metrics`` events. The client may send ``{"type": "subscribe", "job_ids": [..] | null,
"system": bool}`` to narrow what it receives, and ``{"type": "ping"}``. If the client falls behind
(its queue overflows), or the event bus lost events in a broker outage, it gets a fresh snapshot
instead of a gap. This module is NOT responsible for
producing events (``feeds.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from interpstudio.api.feeds import job_events
from interpstudio.core.events import RESYNC_TYPE
from interpstudio.db.models import ACTIVE_STATES
from interpstudio.db.repositories import jobs as repo

router = APIRouter()


class Filter:
    def __init__(self) -> None:
        self.job_ids: set[int] | None = None
        self.system = True

    def update(self, message: dict[str, Any]) -> None:
        job_ids = message.get("job_ids")
        if job_ids is not None and not (isinstance(job_ids, list) and all(
                type(i) is int for i in job_ids)):  # not 1.9 (truncated), 1e400, true, "1"
            raise ValueError("job_ids must be a list of integers")
        self.job_ids = None if job_ids is None else set(job_ids)
        self.system = bool(message.get("system", True))

    def accepts(self, event: dict[str, Any]) -> bool:
        if event["type"] == "system.metrics":
            return self.system
        job_id = event["job"]["id"] if "job" in event else event.get("job_id")
        return self.job_ids is None or job_id in self.job_ids


def active_snapshot(websocket: WebSocket) -> dict[str, Any]:
    with websocket.app.state.session_factory() as session:
        jobs, _ = repo.list_jobs(session, states=ACTIVE_STATES, limit=500)
        return {"type": "snapshot", "jobs": [e["job"] for e in job_events(session, jobs)]}


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    await websocket.accept()
    bus = websocket.app.state.bus
    selection = Filter()
    async with bus.subscribe() as subscription:
        try:
            await websocket.send_json(await asyncio.to_thread(active_snapshot, websocket))
        except (WebSocketDisconnect, RuntimeError):  # it left at once: not an error of ours
            return                                  # (uncaught, uvicorn logged it at ERROR)
        reader = asyncio.create_task(_read_client(websocket, selection))
        try:
            while not reader.done():
                getter = asyncio.ensure_future(subscription.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                if subscription.lagged:
                    subscription.lagged = False
                    await websocket.send_json(await asyncio.to_thread(active_snapshot, websocket))
                event = getter.result()
                if event["type"] != RESYNC_TYPE and selection.accepts(event):
                    await websocket.send_json(event)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await reader


async def _read_client(websocket: WebSocket, selection: Filter) -> None:
    while True:
        try:
            message = await websocket.receive_json()
        except (WebSocketDisconnect, RuntimeError):
            return
        except ValueError:
            await websocket.send_json({"type": "error", "error": {
                "code": "invalid_message", "message": "messages must be JSON objects"}})
            continue
        if not isinstance(message, dict):
            continue
        if message.get("type") == "subscribe":
            try:
                selection.update(message)
            except (TypeError, ValueError):
                await websocket.send_json({"type": "error", "error": {
                    "code": "invalid_message", "message": "job_ids must be a list of integers"}})
        elif message.get("type") == "ping":
            await websocket.send_json({"type": "pong"})
