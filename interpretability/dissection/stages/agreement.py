"""The captioner's agreement with the labels on the held-out clips (clips that are not probing clips)."""

import logging

from tqdm import tqdm

from interpretability.dissection.agreement import captioner_agreement
from interpretability.dissection.stages.base import (
    PartialRecords,
    StageBase,
    _plain,
    _read_json,
)
from interpretability.errors import InputError
from interpretability.results import atomic_write_json

logger = logging.getLogger(__name__)


class AgreementStage(StageBase):
    """``captioner_agreement.json``: the held-out clips' descriptions and how often they match their label."""

    def captioner_agreement(self):
        """Describe every held-out clip, match each description to the concepts as DB does (text similarity,
        centred when ``db_centering``) and count the clips matched to their own class (resumable per clip)."""
        if {"agreement", "descriptions"} & set(
            self.options.skip
        ) or self.heldout is None:
            return None
        path = self.path("captioner_agreement.json")
        if not self._done("captioner_agreement.json"):
            clips = self.heldout
            partial = PartialRecords(
                self.path("captioner_agreement.partial.jsonl"), ("id",)
            )
            todo = [
                i for i in range(len(clips)) if (clips.ids[i],) not in partial
            ]
            if todo:
                captioner = self.backends.captioner
                step = max(1, self.options.describe_batch_size)
                with tqdm(
                    total=len(todo),
                    desc="held-out descriptions",
                    disable=not self.options.progress,
                ) as bar:
                    for start in range(0, len(todo), step):
                        chunk = todo[start : start + step]
                        for i, text in zip(
                            chunk,
                            captioner.describe_batch(
                                [clips.wav(i) for i in chunk]
                            ),
                        ):
                            partial.append(
                                {"id": clips.ids[i], "description": text}
                            )
                        bar.update(len(chunk))
            partial.close()
            descriptions = [
                partial.records[(i,)]["description"] for i in clips.ids
            ]
            result = captioner_agreement(
                descriptions,
                clips.labels,
                clips.classes,
                self.concepts,
                self.backends.text_encoder,
                self.options.concept_template,
                clips.multilabel,
                centering=self.options.db_centering,
            )
            atomic_write_json(
                path,
                _plain(
                    {
                        "ids": clips.ids,
                        "descriptions": descriptions,
                        "centering": bool(self.options.db_centering),
                        **result,
                    }
                ),
            )
            partial.close(remove=True)
        data = _read_json(path)
        if data["ids"] != self.heldout.ids:
            raise InputError(
                f"{path}: made on other held-out clips; delete it (and pruning.json) or use another "
                "output folder"
            )
        return data
