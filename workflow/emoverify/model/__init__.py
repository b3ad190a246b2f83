"""The embedding network and what training and evaluation both do with it: build, place, embed."""
