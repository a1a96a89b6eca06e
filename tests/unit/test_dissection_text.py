"""Text backends: sentence encoder, CLIP / CLAP encoders, summarisers, chat LLM, POS tagger, Modules B and C."""

import os

import pytest
import torch

from interpretability.dissection.calibration import (
    calibrate_neuron,
    calibrate_summary,
    split_sentences,
)
from interpretability.dissection.encoders import (
    ClapEncoder,
    ClipTextEncoder,
    SentenceEncoder,
    default_sentence_encoder_path,
)
from interpretability.dissection.open_concepts import extract_open_concepts
from interpretability.dissection.pos import SpacyTagger
from interpretability.dissection.summarizers import (
    ChatLLM,
    ExtractiveSummarizer,
    map_answer_to_concept,
)


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder(device="cpu")


@pytest.fixture(scope="module")
def tagger():
    return SpacyTagger()


class LetterEncoder:
    """Deterministic stand-in: bag of letters, L2-normalised."""

    def encode(self, texts):
        rows = torch.zeros(len(texts), 26)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    rows[i, ord(ch) - 97] += 1
        return torch.nn.functional.normalize(rows, dim=-1)


# ------------------------------------------------------------------------------------------ encoders
def test_offline_sentence_encoder_ranks_paraphrases_above_unrelated_sentences(
    encoder,
):
    assert os.path.isfile(
        os.path.join(default_sentence_encoder_path(), "config.json")
    )
    e = encoder.encode(
        [
            "A dog is barking loudly.",
            "A loud dog barks.",
            "Rain falls on a metal roof.",
        ]
    )
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.3
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode("not a list")


def _tiny_roberta_tokenizer():
    from transformers import RobertaTokenizer

    symbols = list("abcdefghijklmnopqrstuvwxyz")
    vocab = {
        t: i
        for i, t in enumerate(
            ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
            + symbols
            + ["\u0120" + c for c in symbols]
        )
    }
    return RobertaTokenizer(vocab=vocab, merges=[])


def test_tiny_clip_text_model_loads_by_path(tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=32,
        projection_dim=8,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    CLIPTextModelWithProjection(config).save_pretrained(tmp_path)
    _tiny_roberta_tokenizer().save_pretrained(tmp_path)
    clip = ClipTextEncoder(str(tmp_path), device="cpu")
    e = clip.encode(["a dog", "rain", "a dog"])
    assert e.shape == (3, 8) and torch.allclose(
        e.norm(dim=1), torch.ones(3), atol=1e-5
    )
    assert torch.allclose(e[0], e[2], atol=1e-6) and not torch.allclose(
        e[0], e[1]
    )


def _tiny_clap(folder):
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
    )

    torch.manual_seed(0)
    config = ClapConfig(
        text_config=dict(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
            projection_dim=8,
        ),
        audio_config=dict(
            depths=[1, 1],
            num_attention_heads=[1, 2],
            patch_embeds_hidden_size=8,
            hidden_size=16,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            projection_dim=8,
            enable_fusion=False,
        ),
        projection_dim=8,
    )
    ClapModel(config).save_pretrained(folder)
    extractor = ClapFeatureExtractor(feature_size=64, max_length_s=2)
    ClapProcessor(
        feature_extractor=extractor, tokenizer=_tiny_roberta_tokenizer()
    ).save_pretrained(folder)


def test_tiny_clap_loads_by_path_and_resamples_to_48k(tmp_path, monkeypatch):
    _tiny_clap(str(tmp_path))
    clap = ClapEncoder(str(tmp_path), device="cpu")
    assert clap.model_rate == 48000
    seen = []
    extractor = clap.processor.feature_extractor
    original = type(extractor).__call__
    monkeypatch.setattr(
        type(extractor),
        "__call__",
        lambda self, raw, **kw: seen.append(
            ([len(r) for r in raw], kw["sampling_rate"])
        )
        or original(self, raw, **kw),
    )
    audio = clap.encode_audio(
        [torch.randn(16000), torch.randn(8000), torch.randn(16000 * 3)]
    )
    assert seen == [
        ([48000, 24000, 96000], 48000)
    ]  # 16 kHz -> 48 kHz; the 3 s clip cut to max_length_s = 2
    assert audio.shape == (3, 8) and torch.allclose(
        audio.norm(dim=1), torch.ones(3), atol=1e-5
    )
    text = clap.encode_text(["a dog barking", "rain"])
    assert text.shape == (2, 8) and torch.allclose(
        text.norm(dim=1), torch.ones(2), atol=1e-5
    )
    again = clap.encode_audio([torch.randn(16000 * 3)[: 16000 * 2]])
    assert again.shape == (1, 8)


def test_laion_clap_adapter_explains_the_missing_extra():
    import importlib.util

    if importlib.util.find_spec("laion_clap") is not None:
        pytest.skip("laion_clap is installed")
    from interpretability.dissection.encoders import LaionClapEncoder

    with pytest.raises(ImportError, match=r"pip install \.\[laion\]"):
        LaionClapEncoder()


# ------------------------------------------------------------------------------------------ summarisers
DESCRIPTIONS = [
    "A loud, tonal, narrowband sound. It is high-pitched, and its pitch is rising. It is a single continuous event.",
    "A very loud, tonal, narrowband sound. It is high-pitched, and its pitch is steady. It is a single brief event.",
    "A loud, noisy, broadband sound. Its energy is mostly high-frequency. It repeats several times.",
    "A quiet, tonal, mid-band sound. It is high-pitched, and its pitch is rising. It is a single brief event.",
    "A dog is barking. The sound is not high-pitched and not loud.",
]


def test_extractive_summary_keeps_properties_most_descriptions_share():
    summarizer = ExtractiveSummarizer(text_encoder=LetterEncoder())
    shared = dict(summarizer.shared_properties(DESCRIPTIONS))
    # loud: 1, 2 (very loud), 3; the negated "not loud" of clip 5 does not count
    # "brief" (2 of 5) falls short of half
    assert shared == {"loud": 3, "tonal": 3, "high-pitched": 3, "single": 3}
    summary = summarizer.summarize(DESCRIPTIONS)
    assert split_sentences(summary) == [
        "Most clips are loud.",
        "Most clips are tonal.",
        "Most clips are high-pitched.",
        "Most clips hold a single event.",
    ]
    assert (
        summarizer.summarize(
            ["A dog barks.", "Rain on a roof.", "A siren wails."]
        )
        == ""
    )
    free = summarizer.summarize(
        ["A dog barks in the rain.", "The dog barks loudly.", "Birds sing."]
    )
    assert free == "Most clips mention dog. Most clips mention barks."


def test_answers_map_to_concepts_by_name_then_by_embedding(encoder):
    concepts = ["dog", "rain", "church_bells", "siren"]
    assert map_answer_to_concept("Church bells", concepts) == "church_bells"
    assert (
        map_answer_to_concept(
            "We know these clips are about the class 'rain'.", concepts
        )
        == "rain"
    )
    assert (
        map_answer_to_concept("a puppy barking loudly", concepts, encoder)
        == "dog"
    )
    assert (
        map_answer_to_concept("an ambulance wailing", concepts, encoder)
        == "siren"
    )
    with pytest.raises(ValueError, match="encoder"):
        map_answer_to_concept("an ambulance wailing", concepts)
    summarizer = ExtractiveSummarizer(text_encoder=encoder)
    assert (
        summarizer.choose_concept(
            "Most clips are loud. Most clips mention dog.", concepts
        )
        == "dog"
    )
    assert (
        summarizer.choose_concept(
            ["Heavy rainfall.", "Raindrops on a window."], concepts
        )
        == "rain"
    )


def _tiny_chat_model(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    words = [
        "<unk>",
        "<s>",
        "</s>",
        "<pad>",
    ] + "dog rain siren loud clips barking most are the".split()
    backend = Tokenizer(
        models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>")
    )
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
        "{% if add_generation_prompt %}<s> assistant{% endif %}"
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(folder)


def test_tiny_random_chat_model_summarizes_and_answers_through_the_mapping(
    tmp_path, encoder
):
    _tiny_chat_model(str(tmp_path))
    llm = ChatLLM(
        str(tmp_path),
        text_encoder=encoder,
        device="cpu",
        max_new_tokens=6,
        answer_tokens=4,
    )
    summary = llm.summarize(["A loud dog barking.", "The dog is barking."])
    assert isinstance(summary, str)
    messages = llm.icl_messages("Most clips mention dog.", ["dog", "rain"])
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "dog, rain" in messages[0]["content"]
    concepts = ["dog", "rain", "siren"]
    answer = llm.ask_concept("Most clips mention dog.", concepts)
    chosen = llm.choose_concept("Most clips mention dog.", concepts)
    assert chosen in concepts and chosen == map_answer_to_concept(
        answer, concepts, encoder
    )


def test_a_tokenizer_without_chat_template_is_refused(tmp_path):
    _tiny_chat_model(str(tmp_path))
    config_path = tmp_path / "tokenizer_config.json"
    import json

    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    for name in ("chat_template.jinja", "chat_template.json"):
        if (tmp_path / name).exists():
            (tmp_path / name).unlink()
    with pytest.raises(ValueError, match="chat template"):
        ChatLLM(str(tmp_path), device="cpu")


# ------------------------------------------------------------------------------------------ Modules B and C
def test_calibration_removes_what_the_lowly_summary_also_says(encoder):
    highly = (
        "1. The clips feature a dog barking loudly.\n2. There is no background noise.\n"
        "3. The barks repeat at a fast pace."
    )
    lowly = "Rain falls steadily on a roof. The clips have no background noise."
    result = calibrate_summary(highly, lowly, encoder, threshold=0.5)
    assert result.kept == [
        "The clips feature a dog barking loudly.",
        "The barks repeat at a fast pace.",
    ]
    assert [r["sentence"] for r in result.removed] == [
        "There is no background noise."
    ]
    assert (
        result.removed[0]["lowly_sentence"]
        == "The clips have no background noise."
    )
    assert calibrate_summary(highly, "", encoder).kept == split_sentences(
        highly
    )


def test_calibrate_neuron_with_the_extractive_summarizer(encoder):
    summarizer = ExtractiveSummarizer(text_encoder=encoder)
    high = [
        "A loud, tonal, narrowband sound.",
        "A loud, tonal, mid-band sound.",
        "A quiet, tonal, narrowband sound.",
    ]
    low = [
        "A quiet, noisy, narrowband sound.",
        "A quiet, noisy, broadband sound.",
        "A loud, noisy, narrowband sound.",
    ]
    result = calibrate_neuron(summarizer, encoder, high, low, threshold=0.97)
    # tonal 3/3; narrowband and loud 2/3 (ties in vocabulary order)
    assert (
        result["highly_summary"]
        == "Most clips are tonal. Most clips are loud. Most clips are narrowband."
    )
    assert (
        result["lowly_summary"]
        == "Most clips are noisy. Most clips are quiet. Most clips are narrowband."
    )
    assert (
        result["calibrated_summary"]
        == "Most clips are tonal. Most clips are loud."
    )
    assert [r["sentence"] for r in result["removed"]] == [
        "Most clips are narrowband."
    ]


def test_pos_tagger_marks_negated_words(tagger):
    tagged = {
        t.token: t
        for t in tagger.tag(
            "The sound is not loud and has no rising pitch, without echoes. "
            "A high-pitched, buzzing tone."
        )
    }
    assert (
        tagged["loud"].is_negated
        and tagged["rising"].is_negated
        and tagged["echoes"].is_negated
    )
    assert (
        not tagged["high-pitched"].is_negated
        and tagged["high-pitched"].pos == "ADJ"
    )
    assert not tagged["buzzing"].is_negated and not tagged["tone"].is_negated
    assert tagged["echoes"].lemma == "echo"


def test_open_concepts_drop_negated_and_non_acoustic_words(tagger):
    summary = (
        "Most clips are loud and high-pitched. The audio recordings have a rising, metallic tone. "
        "There is no background noise, and the clips are not rhythmic. A dog is barking."
    )
    concepts = extract_open_concepts(summary, tagger)
    assert set(concepts) == {
        "loud",
        "high-pitched",
        "rising",
        "metallic",
        "barking",
    }
    with_nouns = extract_open_concepts(
        summary, tagger, include_nouns_verbs=True
    )
    assert {"tone", "dog"} <= set(with_nouns)
    assert not {
        "audio",
        "recording",
        "clip",
        "noise",
        "background",
        "rhythmic",
        "have",
        "most",
    } & set(with_nouns)
    assert extract_open_concepts("Loud clips. Very loud.", tagger)["loud"] == 2
