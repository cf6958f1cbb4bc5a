"""Which device `auto` trains on: CUDA, then Apple's MPS, then the CPU."""

import dataclasses

import pytest
import torch

from bican import cli
from bican.config import ConfigError, preset
from bican.train import resolve_device


@pytest.mark.parametrize("cuda, mps, picked", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, picked):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto").type == picked
    assert resolve_device("cpu").type == "cpu"


def test_a_device_torch_does_not_report_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="needs Apple's Metal"):
        resolve_device("mps")


def test_mps_is_a_valid_device_in_configs_and_on_the_command_line(capsys):
    assert dataclasses.replace(preset("tiny"), device="mps").validate().device == "mps"
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or mps, not 'tpu'"):
        dataclasses.replace(preset("tiny"), device="tpu").validate()
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "{auto,cpu,cuda,mps}" in capsys.readouterr().out
