"""The HTTP edge, fuzzed: any request line and headers before a handshake get a status,
never a crash (the server is watched, see tests/support/fuzz.py), and any events query is
parsed into valid names and sequence numbers or refused as ``bad_message``.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamchill.streamer.server.app import parse_events_query
from streamchill.streamer.server.messages import STREAM_NAME, MessageError
from tests.support.fuzz import FUZZ, TOKEN, T, WatchedServer, watched

__all__ = ["watched"]


# -- the HTTP request before any handshake ----------------------------------------------

HEADER_VALUE = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
PATHS = st.sampled_from(["/healthz", "/v1/stats", "/v1/streams", "/v1/events", "/v1/audio",
                         "/v1/analyze", "/v1/analyze?source=a&source=b", "/nope", "/",
                         "/v1/events?streams=a,b&since=a:1", "/v1/events?since=x",
                         f"/v1/stats?token={TOKEN}", "/v1/stats?token="])  # fmt: skip
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            b"Host",
            b"Origin",
            b"Authorization",
            b"Upgrade",
            b"Connection",
            b"Sec-WebSocket-Key",
            b"Sec-WebSocket-Version",
            b"X-Junk",
        ]
    ),
    HEADER_VALUE
    | st.sampled_from(
        [
            b"localhost",
            b"127.0.0.1:1",
            b"[::1]",
            b"websocket",
            b"Upgrade",
            b"dGhlIHNhbXBsZSBub25jZQ==",
            b"13",
            b"Bearer " + TOKEN.encode(),
            b"chrome-extension://cjpikdgbceefcbkpjabodpmgjgfbfjjp",
        ]
    ),
    max_size=8,
)


@given(path=PATHS, headers=HEADERS)
# Found by this test: the extension's plain GET of a socket path, which asks for no
# handshake, is told so (426 Upgrade Required).
@example(path="/v1/events", headers={b"Origin": b"chrome-extension://cjpikdgbceefcbkpjabodpmgjgfbfjjp",
                                     b"Host": b"localhost"})  # fmt: skip
@FUZZ
def test_any_http_request_gets_a_status_never_a_crash(
    watched: WatchedServer, path: str, headers: dict[bytes, bytes]
) -> None:
    """Host, Origin, token and upgrade headers of any shape (bytes included): the gate
    answers 403, the endpoint its status, the socket paths 426 to a request that asks for
    no upgrade, or the handshake goes on (101); never a 500."""
    head = b"GET " + path.encode() + b" HTTP/1.1\r\n"
    head += b"".join(k + b": " + v + b"\r\n" for k, v in headers.items()) + b"\r\n"

    def exchange() -> int:
        with socket.create_connection(("127.0.0.1", watched.server.port), timeout=T) as sock:
            sock.sendall(head)
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    return 0  # closed without an answer: a malformed request
                reply += chunk
            return int(reply.split(b" ", 2)[1])

    status = exchange()
    assert status in {0, 101, 200, 400, 403, 404, 426, 503}, (status, head)
    if status == 426:
        assert path.startswith(("/v1/events", "/v1/audio")), (status, head)
    watched.assert_nothing_escaped()


# -- the events query --------------------------------------------------------------------


@given(query=st.text(max_size=120) | st.from_regex(r"(streams=[\w,.:@-]*&?)?(since=[\w,:.-]*)?"))
@settings(max_examples=200, deadline=None)
def test_any_events_query_is_parsed_or_refused_as_bad_message(query: str) -> None:
    try:
        streams, since = parse_events_query(parse_qs(urlsplit("/v1/events?" + query).query))
    except MessageError as exc:
        assert exc.code == "bad_message"
        return
    assert streams is None or all(STREAM_NAME.fullmatch(s) for s in streams)
    assert all(STREAM_NAME.fullmatch(s) and isinstance(n, int) and n >= -1
               for s, n in since.items())  # fmt: skip
