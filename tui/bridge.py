"""The one place engine events become Textual messages — and engine calls leave the UI loop.

:class:`EngineBridge` runs the engine on its own thread with its own asyncio loop, so nothing
the engine does (Kubernetes calls, SQLite, a slow Prometheus) can block the UI. The UI calls
the engine with ``await bridge.call(engine.method, ...)`` from Textual workers; the engine's
events reach the UI only as :class:`tui.messages.EngineEvent` messages posted to the app
(``post_message`` is thread-safe). Used by :mod:`tui.app`; tests drive it through the app.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual.message_pump import MessagePump

from chaos.engine.api import EngineAPI
from chaos.engine.events import Event
from tui.messages import EngineEvent

T = TypeVar("T")


class EngineBridge:
    def __init__(self, engine: EngineAPI, target: MessagePump) -> None:
        self.engine = engine
        self.target = target
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.events = 0
        """Events forwarded so far (the bench reads it)."""

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="aftershock-engine", daemon=True)
        self._thread.start()
        ready.wait()
        assert self.loop is not None
        done = threading.Event()

        def subscribe() -> None:
            self._unsubscribe = self.engine.subscribe(self._forward)
            done.set()

        self.loop.call_soon_threadsafe(subscribe)
        done.wait()

    def stop(self) -> None:
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        if self._unsubscribe is not None:
            unsubscribe = self._unsubscribe
            self._unsubscribe = None
            loop.call_soon_threadsafe(unsubscribe)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = None
        self.loop = None

    # ---------------------------------------------------------------- engine → UI

    def _forward(self, event: Event) -> None:
        """Engine listener (runs on the engine thread): hand the event to the UI as a message."""
        self.events += 1
        self.target.post_message(EngineEvent(event))

    # ---------------------------------------------------------------- UI → engine

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` (a coroutine function of the engine) on the engine loop."""
        if self.loop is None:
            raise RuntimeError("engine bridge not started")

        async def invoke() -> T:
            return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(invoke(), self.loop)
        return await asyncio.wrap_future(future)

    async def call_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous engine method (history, journal) on the engine thread."""

        async def invoke() -> T:
            return fn(*args, **kwargs)

        return await self.call(invoke)
