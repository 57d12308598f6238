"""Websocket endpoints of the consoles: the serial console (xterm.js) and the display (noVNC).

A session opens only with a one-time ticket (compute.console); it is checked again every
NUAGE["CONSOLE_CHECK_SECONDS"] and ends when its user may no longer use the VM or the VM stops.
Close codes are 4000 + the HTTP status of the reason (4403, 4404, 4409, 4410), 4502 when the
VM's side ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header

from compute.choices import ConsoleKind
from compute.console import (
    ConsoleRefused,
    console_session_check,
    console_token_redeem,
    console_vnc_password,
)
from compute.hypervisor import HypervisorError
from compute.hypervisor.console import SerialConsole, vnc_address, vnc_port
from compute.models import VirtualMachine
from compute.vnc import BrowserHandshake, VncError, display_login

logger = logging.getLogger(__name__)

ENDED = 4502


class _SerialHub:
    """One libvirt console stream of a VM shared by every tab of this process that shows it
    (libvirt allows one console session per domain): output goes to all, input from any.

    The stream stays open NUAGE["CONSOLE_LINGER_SECONDS"] after the last tab leaves: QEMU notices
    a newly opened serial pty only on its next once-a-second check, so a reload or a new tab
    within that time answers at once instead of after up to a second. Every tab still needs its
    own ticket.
    """

    _hubs: dict[tuple[int, str, str], asyncio.Task[_SerialHub]] = {}

    def __init__(self, uri: str, uuid: str) -> None:
        self.key = (id(asyncio.get_running_loop()), uri, uuid)
        self._loop = asyncio.get_running_loop()
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self._console = SerialConsole(uri, uuid, self._from_libvirt)
        self._closing: asyncio.TimerHandle | None = None
        self._ended = False

    @classmethod
    async def join(cls, uri: str, uuid: str) -> tuple[_SerialHub, asyncio.Queue[bytes | None]]:
        key = (id(asyncio.get_running_loop()), uri, uuid)
        task = cls._hubs.get(key)
        if task is None:
            task = asyncio.ensure_future(cls._open(uri, uuid))
            cls._hubs[key] = task
        try:
            hub = await asyncio.shield(task)
        except BaseException:
            if cls._hubs.get(key) is task:
                del cls._hubs[key]
            raise
        if hub._closing is not None:
            hub._closing.cancel()
            hub._closing = None
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        hub._queues.add(queue)
        return hub, queue

    @classmethod
    async def _open(cls, uri: str, uuid: str) -> _SerialHub:
        hub = cls(uri, uuid)
        await sync_to_async(hub._console.open, thread_sensitive=False)()
        return hub

    def _from_libvirt(self, data: bytes | None) -> None:
        # libvirt's event thread: hand over to the event loop.
        self._loop.call_soon_threadsafe(self._fan_out, data)

    def _fan_out(self, data: bytes | None) -> None:
        if data is None:
            self._ended = True
            self._forget()
            if not self._queues:
                self._close_now()
        for queue in self._queues:
            queue.put_nowait(data)

    def _forget(self) -> None:
        task = self._hubs.get(self.key)
        if task is not None and task.done() and not task.cancelled() and task.result() is self:
            del self._hubs[self.key]

    def _close_now(self) -> None:
        self._forget()
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        close = sync_to_async(self._console.close, thread_sensitive=False)
        self._loop.create_task(close())

    def _expire(self) -> None:
        self._closing = None
        if not self._queues:
            self._close_now()

    async def send(self, data: bytes) -> None:
        await sync_to_async(self._console.send, thread_sensitive=False)(data)

    async def leave(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queues.discard(queue)
        if self._queues:
            return
        linger = float(settings.NUAGE["CONSOLE_LINGER_SECONDS"])
        if self._ended or linger <= 0:
            self._close_now()
        elif self._closing is None:
            self._closing = self._loop.call_later(linger, self._expire)


class _ConsoleConsumer(AsyncWebsocketConsumer):
    kind: str = ""

    vm: VirtualMachine | None = None
    _tasks: list[asyncio.Task[Any]]

    async def connect(self) -> None:
        self._tasks = []
        translation.activate(_language(self.scope))
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        if user is None or not user.is_authenticated:
            await self._deny(403, _("Log in to open a console."))
            return
        client = self.scope.get("client") or (None, None)
        try:
            self.vm = await database_sync_to_async(console_token_redeem)(
                token=kwargs["token"],
                user=user,
                vm_id=int(kwargs["pk"]),
                kind=self.kind,
                remote_addr=client[0],
            )
        except ConsoleRefused as exc:
            await self._deny(exc.status, exc.message)
            return
        self.user_id = user.pk
        try:
            await self.open_backend()
        except (HypervisorError, VncError, OSError, TimeoutError) as exc:
            logger.warning("console of VM %s could not open: %s", self.vm.pk, exc)
            await self.accept()
            await self.close(code=ENDED, reason=_truncate(str(exc)))
            return
        await self.accept()
        await self.started()
        self._tasks.append(asyncio.ensure_future(self._watch()))

    async def _deny(self, status: int, message: str) -> None:
        """Refuse the handshake with an HTTP answer that says why, where the server can."""
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self.base_send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await self.base_send({"type": "websocket.http.response.body", "body": message.encode()})
        else:
            await self.close()

    async def _watch(self) -> None:
        assert self.vm is not None
        while True:
            await asyncio.sleep(settings.NUAGE["CONSOLE_CHECK_SECONDS"])
            try:
                await database_sync_to_async(console_session_check)(
                    user_id=self.user_id, vm_id=self.vm.pk
                )
            except ConsoleRefused as exc:
                await self.end(4000 + exc.status, exc.message)
                return
            except Exception:  # the database hiccuped: keep the session, check again later
                logger.exception("console check of VM %s failed", self.vm.pk)

    async def end(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=_truncate(reason))
        await self.stop_backend()

    async def disconnect(self, code: int) -> None:
        for task in self._tasks:
            task.cancel()
        await self.stop_backend()

    async def open_backend(self) -> None:
        raise NotImplementedError

    async def started(self) -> None:
        """Called once the websocket is accepted."""

    async def stop_backend(self) -> None:
        raise NotImplementedError


def _language(scope: dict[str, Any]) -> str:
    """The language the pages are shown in: the language cookie, else the browser's choice."""
    chosen = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
    candidates = [chosen] if chosen else []
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            accepted = parse_accept_lang_header(value.decode("latin-1"))
            candidates += [code for code, _q in accepted if code != "*"]
    for code in candidates:
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def _truncate(reason: str) -> str:
    # A close frame's reason is at most 123 bytes.
    return reason.encode()[:120].decode(errors="ignore")


class SerialConsoleConsumer(_ConsoleConsumer):
    kind = ConsoleKind.SERIAL
    hub: _SerialHub | None = None
    queue: asyncio.Queue[bytes | None] | None = None

    async def open_backend(self) -> None:
        assert self.vm is not None and self.vm.host is not None
        self.hub, self.queue = await _SerialHub.join(self.vm.host.uri, str(self.vm.uuid))

    async def started(self) -> None:
        self._tasks.append(asyncio.ensure_future(self._pump()))

    async def _pump(self) -> None:
        assert self.queue is not None
        while True:
            data = await self.queue.get()
            if data is None:
                await self.end(
                    ENDED, _("The serial console closed: the VM stopped or its host went away.")
                )
                return
            await self.send(bytes_data=data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = bytes_data if bytes_data is not None else (text_data or "").encode()
        if data and self.hub is not None:
            try:
                await self.hub.send(data)
            except HypervisorError as exc:
                await self.end(ENDED, str(exc))

    async def stop_backend(self) -> None:
        hub, queue, self.hub, self.queue = self.hub, self.queue, None, None
        if hub is not None and queue is not None:
            await hub.leave(queue)


class VncConsoleConsumer(_ConsoleConsumer):
    kind = ConsoleKind.VNC
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    handshake: BrowserHandshake

    async def open_backend(self) -> None:
        assert self.vm is not None and self.vm.host is not None
        uri = self.vm.host.uri
        address = vnc_address(uri)
        port = await sync_to_async(vnc_port, thread_sensitive=False)(uri, str(self.vm.uuid))
        if port is None:
            raise HypervisorError(_("This VM was created without a graphical console."))
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout=5)
        self.reader, self.writer = reader, writer
        password = console_vnc_password(self.vm.uuid)
        await asyncio.wait_for(display_login(reader, writer, password), timeout=5)
        self.handshake = BrowserHandshake()

    async def started(self) -> None:
        await self.send(bytes_data=self.handshake.greeting())
        self._tasks.append(asyncio.ensure_future(self._pump()))

    async def _pump(self) -> None:
        assert self.reader is not None
        while True:
            try:
                data = await self.reader.read(64 * 1024)
            except OSError:
                data = b""
            if not data:
                await self.end(
                    ENDED, _("The graphical console closed: the VM stopped or its host went away.")
                )
                return
            await self.send(bytes_data=data)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is None or self.writer is None:
            return
        if not self.handshake.done:
            try:
                reply, bytes_data = self.handshake.feed(bytes_data)
            except VncError as exc:
                await self.end(4400, str(exc))
                return
            if reply:
                await self.send(bytes_data=reply)
        if bytes_data:
            self.writer.write(bytes_data)
            await self.writer.drain()

    async def stop_backend(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
