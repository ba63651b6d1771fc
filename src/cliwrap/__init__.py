"""cliwrap: OpenAI- and Anthropic-compatible APIs in front of the AI coding CLIs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
