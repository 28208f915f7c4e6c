"""Print jobs off the sale's path: a bounded queue, one worker, failures as alarms.

A sale is done when its commit is; paper comes after. The node renders a job's bytes (a few
ms, QR included) and sends them to the printer in a thread, one job at a time. A printer that
is off, unplugged or out of paper raises: the job is dropped, the error is kept as the
printer's state and published to consoles as a `printer` event (an alarm), and the next job
tries again. The vendor reprints with `p` on the console's receipt screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from escpos.escpos import Escpos
from escpos.printer import Dummy

from appliance.printing.errors import describe
from appliance.printing.escpos_job import PaperSettings, write_receipt, write_test_page
from appliance.printing.receipt_text import PaperReceipt

log = logging.getLogger(__name__)
QUEUE_SIZE = 16
Sink = Callable[[bytes], None]  # sends a job's bytes to the printer; raises if it cannot
Publish = Callable[[str, dict[str, object]], None]


@dataclass(frozen=True, slots=True)
class PrinterState:
    """The printer's last outcome: ok, or the error of the job that failed."""

    ok: bool = True
    error: str = ""
    order_id: str = ""
    at: float = 0.0
    printed: int = 0
    failed: int = 0


def render(receipt: PaperReceipt, paper: PaperSettings) -> bytes:
    """A receipt's ESC/POS bytes (python-escpos's Dummy printer collects them)."""
    dummy = Dummy(profile=paper.profile_name)
    write_receipt(dummy, receipt, paper)
    return bytes(dummy.output)


def render_test_page(paper: PaperSettings, stall: str, device: str) -> bytes:
    """The test page's ESC/POS bytes."""
    dummy = Dummy(profile=paper.profile_name)
    write_test_page(dummy, paper, stall, device)
    return bytes(dummy.output)


class PrintQueue:
    """Receipts waiting for the printer; `submit` never blocks and never raises."""

    def __init__(self, sink: Sink, paper: PaperSettings, publish: Publish) -> None:
        self.sink, self.paper, self.publish = sink, paper, publish
        self.state = PrinterState()
        self._jobs: asyncio.Queue[tuple[str, PaperReceipt]] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker on the running loop."""
        self._task = asyncio.create_task(self._work(), name="printer")

    async def stop(self) -> None:
        """Stop the worker; jobs still queued are not printed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, order_id: str, receipt: PaperReceipt) -> bool:
        """Queue a receipt; False (and an alarm) when the queue is full."""
        try:
            self._jobs.put_nowait((order_id, receipt))
        except asyncio.QueueFull:
            self._failed(order_id, f"print queue full ({QUEUE_SIZE} receipts waiting)")
            return False
        return True

    async def idle(self) -> None:
        """Wait until every queued job was tried (tests, a clean stop)."""
        await self._jobs.join()

    async def _work(self) -> None:
        while True:
            order_id, receipt = await self._jobs.get()
            try:
                data = render(receipt, self.paper)
                await asyncio.to_thread(self.sink, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any printer failure is an alarm, never a crash
                self._failed(order_id, describe(exc))
            else:
                self._printed(order_id)
            finally:
                self._jobs.task_done()

    def _failed(self, order_id: str, error: str) -> None:
        log.warning("receipt for order %s not printed: %s", order_id, error)
        s = self.state
        self.state = PrinterState(False, error, order_id, time.time(), s.printed, s.failed + 1)
        self.publish("printer", {"ok": False, "error": error, "order": order_id})

    def _printed(self, order_id: str) -> None:
        s = self.state
        self.state = PrinterState(True, "", order_id, time.time(), s.printed + 1, s.failed)
        if not s.ok:  # back after a failure: tell consoles the alarm is over
            self.publish("printer", {"ok": True, "error": "", "order": order_id})


def device_sink(open_printer: Callable[[], Escpos]) -> Sink:
    """A sink that opens the printer, sends the bytes, and closes it (per job)."""

    def send(data: bytes) -> None:
        printer = open_printer()
        try:
            printer.open()
            printer._raw(data)  # the whole job in one write
        finally:
            printer.close()

    return send
