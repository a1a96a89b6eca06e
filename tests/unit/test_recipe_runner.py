"""run_recipe ends the torchrun process group itself (left to interpreter shutdown, gloo can abort a finished run)."""

import pytest
import torch.distributed as dist

from interpretability.errors import InputError
from interpretability.recipe import run_recipe


def _main_in_a_process_group(tmp_path, then=None):
    def main(argv):
        dist.init_process_group(
            "gloo",
            init_method=f"file://{tmp_path / 'store'}",
            rank=0,
            world_size=1,
        )
        assert dist.is_initialized()
        if then is not None:
            raise then

    return main


def test_the_process_group_is_destroyed_after_the_run(tmp_path):
    run_recipe(_main_in_a_process_group(tmp_path), [])
    assert not dist.is_initialized()


def test_the_process_group_is_destroyed_after_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_recipe(
            _main_in_a_process_group(tmp_path, InputError("x.wav: silent")), []
        )
    assert stop.value.code == 2
    assert "error: x.wav: silent" in capsys.readouterr().err
    assert not dist.is_initialized()


def test_a_run_without_a_process_group_is_untouched():
    calls = []
    run_recipe(calls.append, ["a.yaml"])
    assert calls == [["a.yaml"]] and not dist.is_initialized()
