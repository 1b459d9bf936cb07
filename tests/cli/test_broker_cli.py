"""``flowcast broker``: bad or busy ports are one-line user errors."""

from __future__ import annotations

import socket

import pytest

from flowcast.cli import main


@pytest.mark.parametrize("flag", ["--port=0", "--port=http", "--port=70000"])
def test_broker_cli_rejects_bad_ports(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker", flag]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --port must be") and "\n" not in err


def test_broker_cli_refuses_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert main(["broker", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: port {port} on 127.0.0.1 is already in use; pick another "
                       "--port or leave it out to use a free one")
