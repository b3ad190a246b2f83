"""The expression losses, one module each; a module's file name is its loss's name under a method's ``aux``."""
