"""The live page's server: Starlette routes on uvicorn, one WebSocket per page.

Each open page gets its own ``LiveSession``: frames are computed in a worker
thread, one at a time, and sent as JSON at most ``fps`` times a second;
control messages from the page are queued and applied between frames (a bad
one is answered with ``{"error": ...}`` and the stream goes on).  A closed
page cancels its loop, so its compute stops.  Only the page's own files are
served (``page/``), and a WebSocket from another site's page (another
``Origin``) is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .session import ControlError, Controls, LiveSession
from .spec import LiveSpec

PAGE = Path(__file__).with_name("page")
FPS = 30.0
"""The most frames a page is sent per second."""


def make_app(spec: LiveSpec, fps: float = FPS, controls: Controls | None = None) -> Starlette:
    """The application serving ``spec``'s network: ``/`` (the page),
    ``/static/...`` (its scripts) and ``/live`` (the WebSocket)."""

    async def index(request):
        return FileResponse(PAGE / "index.html", headers={"Cache-Control": "no-store"})

    async def live(ws: WebSocket):
        origin = ws.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != ws.headers.get("host"):
            await ws.close(code=1008)  # a page of another site: policy violation
            return
        await ws.accept()
        session = LiveSession(spec, controls)
        inbox: asyncio.Queue = asyncio.Queue()

        async def receive():
            while True:
                text = await ws.receive_text()
                try:
                    message = json.loads(text)
                except ValueError:
                    message = None
                await inbox.put(message)

        async def stream():
            await ws.send_json({"hello": session.hello()})
            await ws.send_json(session.frame())
            period = 1.0 / fps
            next_at = time.monotonic()
            while True:
                changed = False
                while not inbox.empty() or (session.controls.paused and not changed):
                    message = await inbox.get()
                    try:
                        session.apply(message)
                    except ControlError as e:
                        await ws.send_json({"error": str(e)})
                    changed = True
                if changed:  # a control shows at once, paused or not
                    await ws.send_json(session.frame())
                    if session.controls.paused:
                        continue
                frame = await asyncio.to_thread(session.step)
                await ws.send_json(frame)
                next_at = max(next_at + period, time.monotonic() - period)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        tasks = [asyncio.create_task(receive()), asyncio.create_task(stream())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t.exception() is not None and not isinstance(t.exception(), WebSocketDisconnect):
                    raise t.exception()
        except (WebSocketDisconnect, RuntimeError):
            pass  # the page went away
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            with contextlib.suppress(Exception):
                await ws.close()

    return Starlette(
        routes=[
            Route("/", index),
            WebSocketRoute("/live", live),
            Mount("/static", StaticFiles(directory=PAGE), name="static"),
        ]
    )


def warm(spec: LiveSpec, controls: Controls | None = None) -> float:
    """Compile (or read from the compilation cache) the frame program before
    the first page opens; returns the seconds it took."""
    start = time.perf_counter()
    session = LiveSession(spec, controls)
    session.frame()  # the first look at a state
    session.step()  # a frame
    return time.perf_counter() - start


def bind(host: str = "127.0.0.1", port: int = 8765):
    """A listening socket on ``host:port`` (port 0: a free one); ``OSError``
    when the address is taken or not this machine's."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(spec: LiveSpec, sock, fps: float = FPS, on_ready=print, controls: Controls | None = None) -> None:
    """Serve on the bound ``sock`` until Ctrl-C (or SIGTERM), calling
    ``on_ready(url)`` once listening; returns after a clean shutdown (open
    pages are closed, their loops cancelled)."""
    import uvicorn

    app = make_app(spec, fps, controls)

    @contextlib.asynccontextmanager
    async def lifespan(_):
        on_ready(url(sock))
        yield

    app.router.lifespan_context = lifespan
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, ws_ping_interval=20)
    uvicorn.Server(config).run(sockets=[sock])
