"""The control API the local emulators share (WeChat's here, the e-license library's in
``elicense_library``), under ``/_emulator``. It has no authentication: the emulators listen
on loopback only (``server.is_loopback``).

An emulator's state object has ``lock``, ``faults`` (armed faults, each with ``times`` and
``matches(...)``), ``down_until`` (``time.monotonic()``) and ``reset()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from flask import Flask, Response, jsonify, request


def parse_fault(spec: Any, kind: type, endpoints: frozenset[str], *,
                strings: tuple[str, ...] = ()) -> Any:
    """A fault request (a JSON object) as a ``kind`` (a dataclass), checked as far as every
    emulator's faults go: known fields, one of ``endpoints``, ``times`` ≥ 1,
    ``delay_seconds`` 0–60, ``http_status`` an error status, ``reset_connection`` a
    boolean, the ``strings`` fields strings. ValueError with a reason."""
    if not isinstance(spec, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(spec) - {f.name for f in fields(kind)}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    fault = kind(**spec)
    if fault.endpoint not in endpoints:
        raise ValueError(f"endpoint must be one of {sorted(endpoints)}")
    if type(fault.times) is not int or fault.times < 1:
        raise ValueError("times must be a positive integer")
    if not isinstance(fault.delay_seconds, int | float) or not 0 <= fault.delay_seconds <= 60:
        raise ValueError("delay_seconds must be between 0 and 60")
    if fault.http_status is not None and (type(fault.http_status) is not int
                                          or not 400 <= fault.http_status <= 599):
        raise ValueError("http_status must be an HTTP error status (400-599)")
    if not isinstance(fault.reset_connection, bool):
        raise ValueError("reset_connection must be true or false")
    for name in strings:
        if getattr(fault, name) is not None and not isinstance(getattr(fault, name), str):
            raise ValueError(f"{name} must be a string")
    return fault


def take_fault(faults: list[Any], *call: Any) -> Any | None:
    """The first armed fault that ``matches(*call)``, used once (gone after ``times``)."""
    for fault in faults:
        if fault.matches(*call):
            fault.times -= 1
            if fault.times == 0:
                faults.remove(fault)
            return fault
    return None


def add_routes(app: Flask, state: Any, parse_fault: Callable[[Any], Any]) -> None:
    """``POST /_emulator/faults`` (``parse_fault`` validates; ValueError → 400),
    ``POST /_emulator/down`` and ``POST /_emulator/reset`` on ``app``."""

    @app.post("/_emulator/faults")
    def add_fault() -> tuple[Response, int]:
        """Arm a fault for the next ``times`` matching calls."""
        try:
            fault = parse_fault(request.get_json(force=True, silent=True))
        except (TypeError, ValueError) as exc:
            return jsonify({"error": str(exc)}), 400
        with state.lock:
            state.faults.append(fault)
            armed = [asdict(f) for f in state.faults]
        return jsonify({"faults": armed}), 201

    @app.post("/_emulator/down")
    def go_down() -> tuple[Response, int] | Response:
        """Answer HTTP 503 to every call of the emulated API for ``seconds`` (0 brings it
        back)."""
        seconds = (request.get_json(force=True, silent=True) or {}).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return jsonify({"error": "seconds must be a number >= 0"}), 400
        with state.lock:
            state.down_until = time.monotonic() + seconds if seconds else 0.0
        return jsonify({"down_for_seconds": seconds})

    @app.post("/_emulator/reset")
    def reset() -> Response:
        """Forget everything: faults, the log and what the emulator holds."""
        with state.lock:
            state.reset()
        return jsonify({"reset": True})
