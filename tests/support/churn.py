"""A WebSocket client on a raw socket, for faults a real client library will not commit:
half a binary frame followed by a TCP reset, and the same thing a thousand times over.

Only what the tests need: the upgrade, masked client frames (any length, cut anywhere),
reading the server's small unmasked text frames, and an abortive close (``SO_LINGER``
0, so the kernel sends RST instead of FIN).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

TEXT, BINARY = 0x1, 0x2


def open_ws(port: int, path: str, token: str, timeout_s: float = 10.0) -> socket.socket:
    """A socket on which the WebSocket handshake for ``path`` has succeeded (101)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    try:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)  # byte by byte: nothing after the head may be swallowed
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    except BaseException:
        reset(sock)
        raise
    return sock


def frame(opcode: int, payload: bytes) -> bytes:
    """One complete, masked client frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    body = (
        bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, mask)
    )
    return header + mask + body


def _mask(payload: bytes, mask: bytes) -> bytes:
    import numpy as np

    data = np.frombuffer(payload, dtype=np.uint8)
    key = np.resize(np.frombuffer(mask, dtype=np.uint8), len(data))
    return (data ^ key).tobytes()


def recv_text(sock: socket.socket) -> dict[str, Any]:
    """The next server frame, which must be a small text frame holding a JSON object."""
    b0, b1 = _exactly(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _exactly(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _exactly(sock, 8))
    payload = _exactly(sock, n)
    if b0 & 0x0F != TEXT:
        raise ConnectionError(f"expected a text frame, got opcode {b0 & 0x0F}: {payload[:40]!r}")
    data = json.loads(payload)
    assert isinstance(data, dict)
    return data


def _exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("server closed the connection")
        out += chunk
    return out


def reset(sock: socket.socket) -> None:
    """Close abortively: RST, no close frame, no FIN (a crashed tab, a dropped network)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def hello(stream: str, *, rate: int = 16_000, channels: int = 1, fmt: str = "s16le") -> bytes:
    return frame(TEXT, json.dumps({"type": "hello", "v": 1, "stream": stream,
                                   "sample_rate_hz": rate, "channels": channels,
                                   "sample_format": fmt}).encode())  # fmt: skip


def half_frame_then_reset(port: int, token: str, stream: str, frame_bytes: int = 3200) -> str:
    """One churn cycle: connect to /v1/audio, hello, wait for ``ready``, send the first half
    of a ``frame_bytes`` binary frame, reset. Returns the reply type (``ready`` normally), or
    ``error:<code>`` for an error reply, so a failing run says which error it met."""
    sock = open_ws(port, "/v1/audio", token)
    try:
        sock.sendall(hello(stream))
        reply = recv_text(sock)
        if reply.get("type") == "ready":
            whole = frame(BINARY, os.urandom(frame_bytes))
            sock.sendall(whole[: len(whole) // 2])
        if reply.get("type") == "error":
            return f"error:{reply.get('code')}"
        return str(reply.get("type"))
    finally:
        reset(sock)


def cycle_retrying_busy(
    port: int, token: str, stream: str, attempts: int = 50, pause_s: float = 0.1
) -> str:
    """``half_frame_then_reset``, retried while the daemon answers ``busy``, as a real client
    backs off. The daemon frees a stream's slot only once it has noticed the reset, and
    ``max_streams`` (16) is twice the test's 8 workers: on a loaded machine the slots of
    resets not yet noticed can fill it (seen once in a fresh-clone run). A busy answer is the
    limit working, not a leak; a slot that never comes back still fails (after ~5 s)."""
    reply = half_frame_then_reset(port, token, stream)
    for _ in range(attempts):
        if reply != "error:busy":
            break
        time.sleep(pause_s)
        reply = half_frame_then_reset(port, token, stream)
    return reply


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    """Open file descriptors of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))
