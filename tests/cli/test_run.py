"""``flowcast run``: a bad or silent bootstrap is one line at once, the status line says what
was published and why readings were refused, and serving without a token warns."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from flowcast.cli import main
from flowcast.cli.run import dead_letters_by_reason, status_line, token_warning
from flowcast.config import Settings
from flowcast.formats.city_write import save_city
from flowcast.ingest.simulator import generate_city


def closed_port() -> int:
    """A local port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_briefly(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and stderr of ``flowcast run ARGS``."""
    code = main(["run", *args])
    return code, capsys.readouterr().err


def test_a_malformed_bootstrap_is_one_line_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    # the city file does not exist: the address is checked before anything is read
    code, err = run_briefly(["--kafka", "nonsense", "--city", "no-such-city.geojson"], capsys)
    assert code == 2
    assert err.splitlines() == ["error: Kafka bootstrap 'nonsense' is not "
                                "HOST:PORT[,HOST:PORT...]; fix --kafka or "
                                "FLOWCAST_KAFKA_BOOTSTRAP"]


def test_nothing_listening_is_one_line_before_any_client(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No Kafka client is built (their retries would take tens of seconds and log each)."""
    import flowcast.transport.kafka_client as kafka_client

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Kafka client was built before the address was checked")

    monkeypatch.setattr(kafka_client, "make_consumer", no_client)
    monkeypatch.setattr(kafka_client, "make_producer", no_client)
    city = tmp_path / "city.geojson"
    save_city(generate_city(6, 1, seed=1), city)
    port = closed_port()
    code, err = run_briefly(["--kafka", f"127.0.0.1:{port}", "--city", str(city)], capsys)
    assert code == 2
    assert err.splitlines() == [f"error: cannot reach Kafka at 127.0.0.1:{port}: connection "
                                "refused (nothing listens on that port); start one with "
                                "'flowcast broker' or pass --kafka"]


def test_status_line_names_the_top_dead_letter_reasons() -> None:
    line = status_line(readings_per_s=282.4, outputs_per_s=41.2, partitions=12, lag=0,
                       dead_letters={"unknown_sensor": 47, "future_timestamp": 2400,
                                     "bad_json": 3, "out_of_range": 5, "late": 0},
                       p99_s=0.0123)
    assert line == ("  282 readings/s, published 41/s, 12 partitions, lag 0, dead letters "
                    "2,455 (future_timestamp 2,400, unknown_sensor 47, out_of_range 5, "
                    "other reasons 3), close->ack p99 12 ms")


def test_status_line_without_dead_letters_and_with_the_broker_away() -> None:
    line = status_line(readings_per_s=0, outputs_per_s=0, partitions=0, lag=1234,
                       dead_letters={}, broker="; broker unreachable for 12 s (X), retrying")
    assert line == ("  0 readings/s, published 0/s, 0 partitions, lag 1,234, dead letters 0; "
                    "broker unreachable for 12 s (X), retrying")


def test_dead_letters_are_summed_over_kinds() -> None:
    counters = {(("kind", "road"), ("reason", "future_timestamp")): 2000.0,
                (("kind", "spot"), ("reason", "future_timestamp")): 400.0,
                (("kind", "road"), ("reason", "unknown_sensor")): 47.0}
    assert dead_letters_by_reason(counters) == {"future_timestamp": 2400.0,
                                                "unknown_sensor": 47.0}


def test_serving_without_a_token_warns_how_to_set_one() -> None:
    warning = token_warning(Settings(), port=8080)
    assert warning is not None and "\n" not in warning
    assert "Acknowledge" in warning and "[http] token" in warning
    assert "FLOWCAST_HTTP_TOKEN" in warning


@pytest.mark.parametrize(("token", "port"), [("", None), ("s3cret", 8080), ("s3cret", None)])
def test_no_token_warning_when_not_serving_or_with_a_token(token: str, port: int | None) -> None:
    settings = Settings.model_validate({"http": {"token": token}})
    assert token_warning(settings, port) is None
