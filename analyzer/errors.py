"""The analyzer's exception tree: one root, a few specific kinds a caller can act on."""


class AnalyzerError(Exception):
    """Root of every error raised by :mod:`analyzer`."""


class ModelLoadError(AnalyzerError):
    """A shipped model file is missing, corrupt, or its runtime is not installed."""


class AudioFormatError(AnalyzerError):
    """Audio handed to a session does not match what it declared (rate, channels, format)."""


class EventDecodeError(AnalyzerError):
    """A JSON mood event is malformed or of an unknown version."""
