"""The identity losses, one module each; a module's file name is its loss's name in the config."""
