"""The error an optional extractor or pretrained network raises when its package or weights are missing.

It lives in the shared base so that model/ (dlib's network in torch) and features/ (the extractors) raise the
same error; ``emoverify.features.store`` re-exports it under its old address.
"""


class FeaturesUnavailableError(RuntimeError):
    """An extractor's package or weights are missing; the message says what to install or where to put them."""
