"""Faces stage: MTCNN detection and five-point alignment of every image, with a status for each."""
