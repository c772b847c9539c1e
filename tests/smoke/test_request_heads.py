"""The real server's bounds on what a client sends before the app sees a request, over raw sockets: header
fields over 16 KiB are a 431 problem and a request target over 8 KiB a 414 problem, before any token is
checked, without the server holding what the client keeps sending; bytes that are not HTTP are a 400
problem, refused after the answer to a valid request sent before them; a body shorter than its
Content-Length is a 408 after BODY_READ_TIMEOUT_SECONDS."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth import bearer
from tests.server_process import ServerProcess, running_server

pytestmark = [pytest.mark.smoke, pytest.mark.memory]

_KIB = 1024


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server({"DATABASE_URL": "memory://", "BODY_READ_TIMEOUT_SECONDS": "1"}) as server:
        yield server


def _address(server: ServerProcess) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _exchange(server: ServerProcess, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` whole, then read until the server closes the connection."""
    with socket.create_connection(_address(server), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def _responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The responses in ``raw``, in order: status, headers (lower-case names) and body (Content-Length)."""
    responses = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        responses.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return responses


def _problem(response: tuple[int, dict[str, str], bytes], status: int) -> dict[str, Any]:
    answered, headers, body = response
    assert answered == status, body
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    return problem


def _get(path: str, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{lines}\r\n".encode("latin-1")


def _rss_bytes(server: ServerProcess) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * _KIB
    raise AssertionError("no VmRSS")


def test_header_fields_over_16_kib_are_a_431_problem_before_the_token_is_checked(server: ServerProcess) -> None:
    padding = {f"X-Padding-{n}": "p" * 1000 for n in range(17)}

    [response] = _responses(_exchange(server, _get("/users", {"Authorization": "Bearer not-a-token", **padding})))

    problem = _problem(response, 431)  # not the 401 the token would get
    assert "16384 bytes" in problem["detail"]
    assert response[1]["connection"] == "close"


def test_header_fields_under_16_kib_are_served(server: ServerProcess) -> None:
    padding = {f"X-Padding-{n}": "p" * 1000 for n in range(14)}

    [response] = _responses(_exchange(server, _get("/users", {**bearer(), "Connection": "close", **padding})))

    assert response[0] == 200


def test_a_request_target_over_8_kib_is_a_414_problem(server: ServerProcess) -> None:
    [response] = _responses(_exchange(server, _get("/users?email=" + "a" * 70 * _KIB, bearer())))

    assert "8192 bytes" in _problem(response, 414)["detail"]


def test_an_endless_header_line_is_refused_without_being_held(server: ServerProcess) -> None:
    # Four clients each sending one header line of 32 MiB grew the server by 160 MB, for good.
    before = _rss_bytes(server)
    for _ in range(4):
        with socket.create_connection(_address(server), timeout=10) as connection:
            connection.sendall(b"GET /users HTTP/1.1\r\nHost: test\r\nX-Endless: ")
            sent = 0
            with pytest.raises(ConnectionError):  # the server closes the connection: sending fails
                while sent < 32 * _KIB * _KIB:
                    connection.sendall(b"e" * 64 * _KIB)
                    sent += 64 * _KIB
            assert sent < 4 * _KIB * _KIB

    assert _rss_bytes(server) - before < 16 * _KIB * _KIB
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200


def test_a_head_that_arrives_in_pieces_is_not_counted_with_the_body_after_it(server: ServerProcess) -> None:
    body = json.dumps({"username": "pieces", "email": "pieces@example.com", "full_name": "p" * 200_000}).encode()
    head = (
        b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Authorization: {bearer()['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(head[:20])
        time.sleep(0.2)  # the server reads the start of the head on its own
        connection.sendall(head[20:] + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk

    [response] = _responses(received)
    assert response[0] == 422  # the body was read: its full_name is too long
    assert json.loads(response[2])["errors"][0]["field"] == "full_name"


def test_bytes_that_are_not_http_are_a_400_problem(server: ServerProcess) -> None:
    [response] = _responses(_exchange(server, b"HELLO THERE\r\n\r\n"))

    assert _problem(response, 400)["detail"] == "The request is not valid HTTP/1.1."


def test_junk_after_a_valid_request_is_refused_after_the_request_is_answered(server: ServerProcess) -> None:
    body = b'{"username": "junkfollows", "email": "junkfollows@example.com"}'
    post = (
        b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Authorization: {bearer()['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

    created, refused = _responses(_exchange(server, post + b"\x00\x01 not http \r\n\r\n"))

    assert created[0] == 201
    assert json.loads(created[2])["username"] == "junkfollows"
    _problem(refused, 400)
    assert refused[1]["connection"] == "close"


def test_a_body_shorter_than_its_content_length_is_a_408_problem(server: ServerProcess) -> None:
    post = (
        b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Authorization: {bearer()['Authorization']}\r\nContent-Length: 100\r\n\r\n".encode()
        + b'{"username": '
    )

    [response] = _responses(_exchange(server, post))

    assert "within 1 s;" in _problem(response, 408)["detail"]
    assert response[1]["connection"] == "close"


def _post_head(length: int, token: str | None = None) -> bytes:
    authorization = token if token is not None else bearer()["Authorization"]
    return (
        b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Authorization: {authorization}\r\nContent-Length: {length}\r\n\r\n".encode()
    )


def _dribble(server: ServerProcess, head: bytes, parts: list[bytes], pause: float) -> bytes:
    """Send ``head``, then each part ``pause`` seconds after the one before; read until the server closes."""
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(head)
        for part in parts:
            time.sleep(pause)
            try:
                connection.sendall(part)
            except OSError:  # closed by the server meanwhile
                break
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def _user_body(name: str) -> bytes:
    return json.dumps({"username": name, "email": f"{name}@example.com"}).encode()


def test_a_dribbled_body_is_a_408_when_it_is_not_complete_by_the_deadline(server: ServerProcess) -> None:
    # Each part comes well within the deadline of the one before: the deadline is for the whole body.
    body = _user_body("dribbler")
    parts = [body[n : n + 8] for n in range(0, len(body), 8)]
    started = time.monotonic()

    [response] = _responses(_dribble(server, _post_head(len(body)), parts, pause=0.3))

    assert "within 1 s;" in _problem(response, 408)["detail"]
    assert time.monotonic() - started < 3
    # The app saw the client go: its access log does not claim an answer the client never got.
    assert "POST /users 499" in server.log() or '"status": 499' in server.log()
    assert httpx.get(f"{server.base_url}/users?username=dribbler", headers=bearer()).json()["items"] == []


def test_a_body_that_comes_in_parts_within_the_deadline_is_read(server: ServerProcess) -> None:
    body = _user_body("twoparts")
    with socket.create_connection(_address(server), timeout=10) as connection:
        connection.sendall(_post_head(len(body)) + body[:10])
        time.sleep(0.4)
        connection.sendall(body[10:])
        answer = connection.recv(65536)

    assert answer.startswith(b"HTTP/1.1 201 "), answer


def test_a_slow_body_after_an_early_answer_only_closes_the_connection(server: ServerProcess) -> None:
    # A wrong token is answered before the body is read; the rest of the body never comes.
    body = _user_body("early")

    responses = _responses(_exchange(server, _post_head(len(body), token="Bearer nonsense") + body[:10]))

    assert [status for status, _, _ in responses] == [401]
