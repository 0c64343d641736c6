"""The streamer's exception tree: errors at the I/O edge, each with a message a user can act on."""


class StreamerError(Exception):
    """Root of every error raised by :mod:`streamer`."""


class SourceError(StreamerError):
    """An input (file, URL, device) cannot be read; the message says which and why."""


class ConfigError(StreamerError):
    """The configuration file, environment or flags are invalid."""


class ProtocolError(StreamerError):
    """A client sent something the wire protocol does not allow."""


class SubscriberDropped(StreamerError):
    """A hub subscriber fell a full queue behind and was dropped; resubscribe to go on."""
