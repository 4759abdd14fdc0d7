"""Self-supervised training of the feature extractor and calibration of the GMM."""
