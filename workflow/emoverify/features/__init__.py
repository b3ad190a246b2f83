"""Features stage: every usable face embedded once by a pretrained recognizer, cached per experiment."""
