"""Listenable, faithful explanations of audio classifiers: L-MAC, L2I and AND on SpeechBrain."""

__version__ = "0.1.0"
