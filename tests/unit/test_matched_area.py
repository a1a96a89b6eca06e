"""The matched-area comparison of benchmarks/lmac_hard_variant.py: binary masks of one method's area, ranked by another's."""

import os
import sys
import types

import torch

sys.path.insert(
    0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
)
from lmac_hard_variant import TopAreaMask  # noqa: E402


class _Fixed:
    def __init__(self, mask):
        self.mask, self.mask_domain = mask, "linear"

    def explain(self, view):
        return self.mask


def test_keeps_as_many_cells_as_the_area_mask_sums_to_ranked_by_the_other():
    view = types.SimpleNamespace(magnitude=torch.ones(2, 2, 3))
    area = _Fixed(torch.full((2, 2, 3), 0.5))  # sums to 3 per row
    ranking = torch.tensor(
        [[[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]
    )
    mask = TopAreaMask(area, _Fixed(ranking)).explain(view)
    assert mask.shape == (2, 2, 3) and set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.flatten(1).sum(dim=1).tolist() == [3.0, 3.0]
    assert mask[0, 0].tolist() == [1.0, 1.0, 1.0] and mask[1, 1].tolist() == [
        1.0,
        1.0,
        1.0,
    ]
    assert (
        TopAreaMask(area, area).mask_domain == "linear"
    )  # the rest is the area method's
