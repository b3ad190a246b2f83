"""emoverify: face verification with expression-label geometric constraints.

Import the losses into your own training code with ``from emoverify import losses``.
"""

__version__ = "0.1.0"
