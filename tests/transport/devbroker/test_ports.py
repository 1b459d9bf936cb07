"""Loopback ports for the local broker."""

from __future__ import annotations

import socket

from flowcast.transport.devbroker.ports import free_port, port_in_use


def test_free_port_is_bindable_and_port_in_use_sees_a_listener() -> None:
    port = free_port()
    assert not port_in_use(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert port_in_use(port)
